"""How far below the baseline's energy per request can a proven non-inferior variant go, on this CPU?

Baseline: MiniLM-L6 fine-tuned on the **full** SST-2 training split (67,349 rows, cached by
content hash: ``benchmarks/_bench_baseline.py``), PyTorch fp32 eager, 2 threads. Workload:
the 872 SST-2 dev texts as they come (dynamic length, each request padded to its own
length), at batch 1 and at batch 32. Energy: wattcut's meters (on a machine without RAPL,
the CPU-time model plus the RAM model, labelled estimated), one window per variant per
round, ROUNDS interleaved rounds in a rotating order; each variant's ratio to the baseline
is the per-round paired log ratio with its 95% CI (``wattcut.stats.paired.log_ratio``).
Quality: accuracy on the dev set with the item-level one-sided 95% non-inferiority test at
a 1.0-point margin (``wattcut.stats.paired.item_non_inferiority``).

The pipeline is built one step at a time, so each step's contribution is measured in the
same run: runtime (ONNX Runtime), fusion (``ort_optimize``), quantization
(``ort_int8_dynamic``), threads (1 instead of 2), and pruning + distillation (a 4-layer
student distilled from the baseline on more training rows, then the same steps).

    .venv/bin/python benchmarks/energy_10x.py > benchmarks/results/energy_10x.txt
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROUNDS = 5
MARGIN = 0.01
BATCHES = (1, 32)
DISTILL_ROWS = 16000
RESULTS = Path(__file__).resolve().parent / "results"

# name: (steps, threads); steps are (technique, settings) applied to the fine-tuned baseline
PIPELINE = {
    "baseline (pytorch fp32, 2 threads)": ([], 2),
    "pytorch fp32, 1 thread": ([], 1),
    "+ runtime: onnxruntime fp32": ([("ort_int8_dynamic", None)], 2),  # replaced below by a plain export
    "+ fusion: ort_optimize": ([("ort_optimize", {})], 2),
    "+ int8: ort_optimize → ort_int8_dynamic": ([("ort_optimize", {}), ("ort_int8_dynamic", {})], 2),
    "+ 1 thread: ort_optimize → ort_int8_dynamic": ([("ort_optimize", {}), ("ort_int8_dynamic", {})], 1),
    "alt: ort_int8_static (QDQ), 1 thread": ([("ort_int8_static", {"samples": 300})], 1),
    "alt: openvino int8 static, LATENCY hint, 1 thread": ([("ov_int8_static", {})], 1),
    "alt: openvino int8 static, THROUGHPUT hint, 2 threads": ([("ov_int8_static", {})], 2),
    "+ 4-layer distilled student → fused int8, 1 thread": (
        [
            ("prune_layers", {"keep": (0, 2, 3, 5)}),
            ("distill", {"samples": DISTILL_ROWS, "learning_rate": 1e-4}),
            ("ort_optimize", {}),
            ("ort_int8_dynamic", {}),
        ],
        1,
    ),
}


def main() -> None:
    import numpy as np
    import torch
    from _bench_baseline import MAX_LENGTH, load_baseline

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.measure import EnergySession
    from wattcut.measure.base import PhaseRecord
    from wattcut.measure.provenance import cpu_info
    from wattcut.measure.select import select_meters
    from wattcut.runtimes.ort import OnnxClassifier, export_onnx
    from wattcut.settings import EvaluateConfig, MeasureConfig
    from wattcut.stats.paired import item_non_inferiority, log_ratio
    from wattcut.tasks import sequence_classification as loops

    torch.set_num_threads(2)
    cpu = cpu_info()
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of the tracked ones"
    print(f"# wattcut energy benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"# CPU: {cpu['model']}, {cpu['cores_available']} cores, ISA: {flags}")
    base, tok, train, dev, facts = load_baseline()
    print(
        f"# baseline: MiniLM-L6 fine-tuned on {facts['train_rows']} SST-2 training rows (full split), "
        f"{facts['epochs']} epoch, lr {facts['learning_rate']}, max_length {MAX_LENGTH}"
    )
    print(
        f"# workload: {len(dev)} SST-2 dev texts, dynamic length, batch {' and '.join(map(str, BATCHES))}; "
        f"{ROUNDS} interleaved rounds, rotating order"
    )

    work = Path(tempfile.mkdtemp())
    built, build_s = {}, {}
    for name, (steps, threads) in PIPELINE.items():
        t0 = time.perf_counter()
        if not steps:
            m = base.clone()
        elif name.startswith("+ runtime"):
            m = OnnxClassifier(export_onnx(base, work / "plain.onnx"), base.input_names, 2, "fp32")
        else:
            m = base.clone()
            d = work / f"v{len(built)}"
            d.mkdir()
            ctx = CompressContext(tok, MAX_LENGTH, threads, d, train.texts, 0, train, base)
            for tech, params in steps:
                t = TECHNIQUES.get(tech)
                m = t.apply(m, t.config_cls(**params), ctx)
        if "THROUGHPUT" in name:
            from wattcut.runtimes.ov import OpenVinoClassifier

            m = OpenVinoClassifier(m.ov_model, m.input_names, threads, m.weights, m.hint, "THROUGHPUT")
        m.set_threads(threads)
        built[name] = m
        build_s[name] = time.perf_counter() - t0
        print(f"built {name} in {build_s[name]:.0f} s", file=sys.stderr)

    # Quality: the dev set, item by item.
    correct, accuracy = {}, {}
    for name, m in built.items():
        out = loops.evaluate(m, tok, dev, EvaluateConfig(), MAX_LENGTH, PhaseRecord("evaluate", 0.0))
        pred, gold = np.asarray(out["items"]["pred"]), np.asarray(out["items"]["gold"])
        correct[name] = (pred == gold).astype(float)
        accuracy[name] = out["accuracy"]
    names = list(built)
    ref = names[0]

    # Energy: interleaved rounds, one metered window per variant and batch size.
    requests = {
        b: [loops.encode(tok, dev.texts[i : i + b], MAX_LENGTH) for i in range(0, len(dev), b)] for b in BATCHES
    }
    meters, _ = select_meters(MeasureConfig(idle_s=0.0), gpu=False)
    session = EnergySession(meters)
    method = None
    for m in built.values():  # warm up
        for b in BATCHES:
            for r in requests[b][:3]:
                m.logits(r)
    per_round = {b: {n: {} for n in names} for b in BATCHES}
    latency = {b: {n: {} for n in names} for b in BATCHES}
    for r in range(ROUNDS):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            for b in BATCHES:
                m = built[n]
                m.logits(requests[b][0])
                time.sleep(0.3)  # let runtime worker threads settle (onnxruntime #13808)
                t0 = time.perf_counter()
                with session.phase("infer", step=n) as rec:
                    for req in requests[b]:
                        m.logits(req)
                        rec.requests += 1
                wall = time.perf_counter() - t0
                (p,) = session.take()
                method = method or "; ".join(f"{c.component}: {c.method}" for c in p.energy if c.energy_j is not None)
                per_round[b][n][(0, r)] = p.energy_j / len(dev)  # joules per text (= per request at batch 1)
                latency[b][n][(0, r)] = 1000 * wall / len(requests[b])
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)
    session.close()
    print(f"# energy: {method} (estimated: no RAPL here); per text, per-round paired ratio vs the baseline\n")

    rows = []
    head = (
        f"{'variant':56} {'accuracy':>8} {'Δ pts':>6} {'NI@1pt':>7} {'b1 energy x less [95% CI]':>28} "
        f"{'b32 x less [95% CI]':>24} {'b1 latency x':>12}"
    )
    print(head)
    for n in names:
        ni = item_non_inferiority(
            {0: {"score": correct[ref]}}, {0: {"score": correct[n]}}, "accuracy", MARGIN, "absolute", True
        )
        row = {
            "variant": n,
            "accuracy": accuracy[n],
            "delta_points": 100 * (accuracy[n] - accuracy[ref]),
            "non_inferior": bool(ni["non_inferior"]) if n != ref else None,
            "ni_lower_bound_points": 100 * ni["lower_bound"],
            "ni_p": ni["p_value"],
            "build_s": build_s[n],
            "threads": PIPELINE[n][1],
            "runtime": built[n].runtime,
            "precision": built[n].precision,
        }
        cells = []
        for b in BATCHES:
            lr = log_ratio(per_round[b][ref], per_round[b][n])
            ll = log_ratio(latency[b][ref], latency[b][n])
            row[f"b{b}_energy_ratio"], row[f"b{b}_ci"] = lr["ratio"], (lr["ci95_low"], lr["ci95_high"])
            row[f"b{b}_latency_ratio"] = ll["ratio"]
            row[f"b{b}_j_per_request_mean"] = float(np.mean(list(per_round[b][n].values())))
            if lr["ci95_low"] is None:
                cells.append(f"{1 / lr['ratio']:.2f}x")
            else:
                cells.append(f"{1 / lr['ratio']:.2f}x [{1 / lr['ci95_high']:.2f}-{1 / lr['ci95_low']:.2f}]")
        rows.append(row)
        mark = "—" if n == ref else ("yes" if ni["non_inferior"] else "no")
        print(
            f"{n:56} {accuracy[n]:8.4f} {row['delta_points']:+6.2f} {mark:>7} {cells[0]:>28} {cells[1]:>24} "
            f"{1 / row['b1_latency_ratio']:11.2f}x"
        )
    print()
    for b in BATCHES:
        print(f"baseline J per text at batch {b}: {rows[0][f'b{b}_j_per_request_mean'] * 1000:.2f} mJ")
    eligible = [r for r in rows[1:] if r["non_inferior"]]
    for b in BATCHES:
        if eligible:
            best = min(eligible, key=lambda r: r[f"b{b}_energy_ratio"])
            lo, hi = best[f"b{b}_ci"]
            print(
                f"best non-inferior at batch {b}: {best['variant']}: {1 / best[f'b{b}_energy_ratio']:.2f}x less "
                f"energy per request (95% CI {1 / hi:.2f}-{1 / lo:.2f}), "
                f"latency {1 / best[f'b{b}_latency_ratio']:.2f}x lower, "
                f"accuracy {best['delta_points']:+.2f} points (one-sided 95% bound "
                f"{best['ni_lower_bound_points']:+.2f})"
            )
        else:
            print(f"batch {b}: no variant shown non-inferior")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "energy_10x.json").write_text(
        json.dumps(
            {"cpu": cpu, "baseline": facts, "rounds": ROUNDS, "margin": MARGIN, "variants": rows}, indent=1, default=str
        )
    )


if __name__ == "__main__":
    main()
