"""Energy-aware compression on this CPU (issue 14): the cost profile, its predictions, budgets, early exit.

Baseline: MiniLM-L6 fine-tuned on the full SST-2 training split (``_bench_baseline.py``,
cached), PyTorch fp32 eager, 2 threads. Workload: the 872 SST-2 dev texts at batch 1, each
padded to its own length. Energy: wattcut's meters (here the CPU-time and RAM models,
estimated), one window per variant per round, ROUNDS interleaved rounds in a rotating
order; ratios to the baseline are per-round paired log ratios with 95% CIs. Quality:
dev accuracy, item-level one-sided non-inferiority at 1.0 point.

1. The cost profile of the baseline (batch 1 and 32) is measured and written to
   ``results/cost_profile_minilm.json``; each pruned variant's predicted energy ratio is set
   beside the measured one (median absolute error, Pearson r).
2. Energy-aware (importance per joule) against plain Taylor importance at the same 50%
   predicted-energy budget, SEEDS calibration seeds, no recovery training: accuracy and the
   item-level paired test of aware against plain (items x seeds).
3. Early exit on the baseline (exits trained on the whole training split, mean-pooled), and
   on a budget-pruned model: thresholds measured, the threshold sweep on the dev items, the
   per-request exit-depth histogram; then exits composed with INT8 on ONNX Runtime (one graph
   per segment, 1 thread) against the best static pipeline alone (fused INT8, 1 thread).
4. Energy-regularized fine-tuning (hard-concrete gates priced by the profile) to a 60% budget:
   the predicted ratio reached, the closed blocks removed, the saved folder reloaded with plain
   transformers (``trust_remote_code``) with identical logits; beside it, pruning to the same
   budget per joule then a plain fine-tune on the same rows.

    .venv/bin/python benchmarks/energy_aware.py > benchmarks/results/energy_aware.txt
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROUNDS = 3
MARGIN = 0.01
THRESHOLDS = (0.8, 0.9, 0.95)
STATIC = "ort fused int8 1t (best static)"
SEEDS = (0, 1, 2)
GATED_ROWS = 8000  # rows of the energy-regularized fine-tune (and of the prune-then-fine-tune control)
RESULTS = Path(__file__).resolve().parent / "results"

PRUNED = {  # name: steps, each predicted by the profile (PyTorch fp32)
    "heads 50%": [("prune_heads", {"amount": 0.5})],
    "heads 25%": [("prune_heads", {"amount": 0.25})],
    "ffn 50%": [("prune_ffn_neurons", {"amount": 0.5})],
    "ffn 75%": [("prune_ffn_neurons", {"amount": 0.75})],
    "layers 50% (alternate)": [("prune_layers", {"amount": 0.5})],
    "heads 25% + ffn 25%": [("prune_heads", {"amount": 0.25}), ("prune_ffn_neurons", {"amount": 0.25})],
    "layers budget 0.7 (taylor/J)": [("prune_layers", {"energy_budget": 0.7})],
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
    from wattcut.models import cost
    from wattcut.settings import EvaluateConfig, MeasureConfig
    from wattcut.stats.paired import item_non_inferiority, log_ratio
    from wattcut.tasks import sequence_classification as loops

    torch.set_num_threads(2)
    cpu = cpu_info()
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of the tracked ones"
    print(f"# wattcut energy-aware benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"# CPU: {cpu['model']}, {cpu['cores_available']} cores, ISA: {flags}")
    base, tok, train, dev, facts = load_baseline()
    print(f"# baseline: MiniLM-L6 fine-tuned on {facts['train_rows']} SST-2 rows; PyTorch fp32, 2 threads")
    print(f"# workload: {len(dev)} SST-2 dev texts, batch 1, own length; {ROUNDS} interleaved rounds")
    work = Path(tempfile.mkdtemp())

    t0 = time.perf_counter()
    profile, cached = cost.load_or_measure(base, tok, train.texts[:4000], MAX_LENGTH, 2, rounds=5, cache=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cost_profile_minilm.json").write_text(json.dumps(profile.to_dict(), indent=1))
    print(f"\n## 1. Cost profile ({'cached' if cached else f'measured in {time.perf_counter() - t0:.0f} s'})")
    print(f"{'batch':>5} {'base ms':>8} {'layer ms':>9} {'head ms':>8} {'neuron us':>10} {'R2':>6} {'worst fit':>9}")
    for c in profile.coefficients:
        print(
            f"{c.batch_size:5d} {c.base_s * 1e3:8.3f} {c.layer_s * 1e3:9.3f} {c.head_s * 1e3:8.4f} "
            f"{c.neuron_s * 1e6:10.3f} {c.r2:6.3f} {c.max_rel_error:8.1%}"
        )

    def ctx_for(seed: int, d: Path) -> CompressContext:
        c = CompressContext(tok, MAX_LENGTH, 2, d, train.texts, seed, train, base)
        c.cost_profile = lambda: profile
        return c

    def build(steps: list, seed: int = 0, start: object = None, threads: int = 0) -> Any:
        m = (start or base).clone()  # type: ignore[attr-defined]
        d = work / f"v{time.monotonic_ns()}"
        d.mkdir()
        for tech, params in steps:
            t = TECHNIQUES.get(tech)
            m = t.apply(m, t.config_cls(**params), ctx_for(seed, d))
        if threads:
            m.set_threads(threads)
        return m

    built = {"baseline": base}
    for name, steps in PRUNED.items():
        built[name] = build(steps)
    for seed in SEEDS:
        for aware in (True, False):
            label = f"budget 0.5 {'per joule' if aware else 'taylor'} s{seed}"
            built[label] = build([("prune_to_budget", {"budget": 0.5, "energy_aware": aware})], seed)
    exit_rows = len(train)
    t0 = time.perf_counter()
    exited = build([("early_exit", {"threshold": 0.9})])  # exits trained once; thresholds are serving settings
    exit_train_s = time.perf_counter() - t0
    for thr in THRESHOLDS:
        built[f"early exit {thr}"] = exited.clone()
        built[f"early exit {thr}"].threshold = thr
    built["budget 0.7 per joule"] = build([("prune_to_budget", {"budget": 0.7})])
    built["budget 0.7 per joule + early exit 0.9"] = build(
        [("early_exit", {"threshold": 0.9})], start=built["budget 0.7 per joule"]
    )
    built[STATIC] = build([("ort_optimize", {}), ("ort_int8_dynamic", {})], threads=1)
    built["ort int8 1t (unfused)"] = build([("ort_int8_dynamic", {})], threads=1)
    for thr in THRESHOLDS:
        built[f"early exit {thr} + ort int8 1t"] = build(
            [("ort_int8_dynamic", {})], start=built[f"early exit {thr}"], threads=1
        )
    t0 = time.perf_counter()
    gated = build([("finetune", {"energy_budget": 0.6, "samples": GATED_ROWS})])
    gated_s = time.perf_counter() - t0
    built["gated finetune 0.6"] = gated
    built["budget 0.6 per joule + finetune"] = build(
        [("prune_to_budget", {"budget": 0.6}), ("finetune", {"samples": GATED_ROWS})]
    )
    print("built every variant", file=sys.stderr)

    correct, accuracy, exits = {}, {}, {}
    for name, m in built.items():
        out = loops.evaluate(m, tok, dev, EvaluateConfig(), MAX_LENGTH, PhaseRecord("evaluate", 0.0))
        correct[name] = (np.asarray(out["items"]["pred"]) == np.asarray(out["items"]["gold"])).astype(float)
        accuracy[name] = out["accuracy"]
        if "exits" in out:
            exits[name] = out["exits"]
    measured = [n for n in built if " s1" not in n and " s2" not in n]  # seeds 1-2: quality only
    requests = [loops.encode(tok, [t], MAX_LENGTH) for t in dev.texts]
    meters, _ = select_meters(MeasureConfig(idle_s=0.0), gpu=False)
    session = EnergySession(meters)
    for n in measured:
        for r in requests[:5]:
            built[n].logits(r)
    per_round: dict[str, dict] = {n: {} for n in measured}
    method = None
    for r in range(ROUNDS):
        order = measured[r % len(measured) :] + measured[: r % len(measured)]
        for n in order:
            m = built[n]
            if hasattr(m, "depth_log"):
                m.depth_log.clear()
            time.sleep(0.2)
            with session.phase("infer", step=n) as rec:
                for req in requests:
                    m.logits(req)
                    rec.requests += 1
            (p,) = session.take()
            method = method or "; ".join(f"{c.component}: {c.method}" for c in p.energy if c.energy_j is not None)
            per_round[n][(0, r)] = p.energy_j / len(requests)
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)
    session.close()
    print(f"\n# energy: {method} (estimated: no RAPL here)")

    def ni(ref: str, n: str, seeds: tuple[int, ...] = (0,), names: tuple[str, ...] = ()) -> dict:
        b = {s: {"score": correct[names[0].format(s=s) if names else ref]} for s in seeds}
        v = {s: {"score": correct[names[1].format(s=s) if names else n]} for s in seeds}
        return item_non_inferiority(b, v, "accuracy", MARGIN, "absolute", True)

    rows = []
    print("\n## Measured variants (batch 1)")
    print(f"{'variant':42} {'acc':>7} {'Δ pts':>6} {'NI':>4} {'energy ratio [95% CI]':>24} {'predicted':>9} {'err':>6}")
    for n in measured:
        lr = log_ratio(per_round["baseline"], per_round[n])
        m = built[n]
        s = cost.structure_of(m.module) if m.runtime == "pytorch" else None
        pred = profile.ratio(s, 1) if s is not None and n != "baseline" else None
        if n in exits:
            pred = None  # the structure is the deepest path; requests stop earlier (section 3)
        test = ni("baseline", n) if n != "baseline" else None
        row = {
            "variant": n,
            "accuracy": accuracy[n],
            "delta_points": 100 * (accuracy[n] - accuracy["baseline"]),
            "non_inferior": None if test is None else bool(test["non_inferior"]),
            "ni_lower_bound_points": None if test is None else 100 * test["lower_bound"],
            "energy_ratio": lr["ratio"],
            "ci": (lr["ci95_low"], lr["ci95_high"]),
            "predicted_ratio": pred,
            "structure": None if s is None else s.to_dict(),
        }
        rows.append(row)
        err = "" if pred is None else f"{pred / lr['ratio'] - 1:+.0%}"
        ci = "" if lr["ci95_low"] is None else f"[{lr['ci95_low']:.3f}-{lr['ci95_high']:.3f}]"
        mark = "—" if test is None else ("yes" if test["non_inferior"] else "no")
        print(
            f"{n:42} {accuracy[n]:7.4f} {row['delta_points']:+6.2f} {mark:>4} {lr['ratio']:7.3f} {ci:>16} "
            f"{'' if pred is None else f'{pred:.3f}':>9} {err:>6}"
        )

    predicted = [r for r in rows if r["predicted_ratio"] is not None]
    errors = [abs(r["predicted_ratio"] / r["energy_ratio"] - 1) for r in predicted]
    xs, ys = [r["predicted_ratio"] for r in predicted], [r["energy_ratio"] for r in predicted]
    pearson = float(np.corrcoef(xs, ys)[0, 1]) if len(xs) > 2 else None
    print(
        f"\n## 1. Prediction vs measurement: {len(predicted)} pruned variants, median absolute error "
        f"{np.median(errors):.1%} (worst {max(errors):.1%}), Pearson r = {pearson:.3f}"
    )

    print("\n## 2. Energy-aware vs plain Taylor importance, same 50% predicted-energy budget (no recovery training)")
    for seed in SEEDS:
        a, t = f"budget 0.5 per joule s{seed}", f"budget 0.5 taylor s{seed}"
        sa, st = cost.structure_of(built[a].module), cost.structure_of(built[t].module)
        print(
            f"seed {seed}: per joule {accuracy[a]:.4f} (heads {sum(sa.heads)}, neurons {sum(sa.ffn)}, predicted "
            f"{profile.ratio(sa):.3f}) | taylor {accuracy[t]:.4f} (heads {sum(st.heads)}, neurons {sum(st.ffn)}, "
            f"predicted {profile.ratio(st):.3f})"
        )
    both = ni("", "", SEEDS, ("budget 0.5 taylor s{s}", "budget 0.5 per joule s{s}"))
    mean_a = np.mean([accuracy[f"budget 0.5 per joule s{s}"] for s in SEEDS])
    mean_t = np.mean([accuracy[f"budget 0.5 taylor s{s}"] for s in SEEDS])
    print(
        f"mean over seeds: per joule {mean_a:.4f}, taylor {mean_t:.4f}; per joule - taylor = "
        f"{100 * both['mean_diff']:+.2f} points, one-sided 95% lower bound {100 * both['lower_bound']:+.2f} "
        f"(items x {len(SEEDS)} seeds); at least as high: {'yes' if mean_a >= mean_t else 'no'}; "
        f"non-inferior at 1 point: {'yes' if both['non_inferior'] else 'no'}"
    )

    print(
        f"\n## 3. Early exit (exits after layers 1-5 on mean-pooled states, self-distilled on {exit_rows} training "
        f"rows, frozen backbone; trained in {exit_train_s:.0f} s)"
    )
    for n, e in exits.items():
        served = built[n].depth_log
        hist = {d: served.count(d) for d in sorted(set(served))}
        total = sum(hist.values())
        print(f"{n}: dev accuracy {accuracy[n]:.4f}, mean depth {e['at_threshold']['mean_depth']:.2f} of {e['layers']}")
        print("  exit-depth histogram, last measured round's requests (layers run: requests):")
        for d, k in hist.items():
            print(f"    {d}: {k:4d} {'#' * round(60 * k / total)}")
        print("  threshold sweep on the dev items (threshold: accuracy, mean depth):")
        print("    " + "; ".join(f"{x['threshold']}: {x['accuracy']:.4f}, {x['mean_depth']:.2f}" for x in e["sweep"]))
    by_name = {r["variant"]: r for r in rows}
    print("\n  early exit vs the same model without exits (the baseline), batch 1:")
    for thr in THRESHOLDS:
        r = by_name[f"early exit {thr}"]
        print(
            f"    {thr}: energy {r['energy_ratio']:.3f}x (cut {1 - r['energy_ratio']:.1%}), "
            f"{r['delta_points']:+.2f} points, one-sided bound {r['ni_lower_bound_points']:+.2f}, "
            f"non-inferior at 1 point: {'yes' if r['non_inferior'] else 'no'}"
        )
    print(f"\n  exits + INT8 on ONNX Runtime against the best static pipeline alone ({STATIC}):")
    s_row = by_name[STATIC]
    print(
        f"    {STATIC}: {s_row['energy_ratio']:.3f}x the baseline, {s_row['delta_points']:+.2f} points, "
        f"non-inferior: {'yes' if s_row['non_inferior'] else 'no'}"
    )
    combined = {}
    for thr in THRESHOLDS:
        n = f"early exit {thr} + ort int8 1t"
        vs = log_ratio(per_round[STATIC], per_round[n])
        r = by_name[n]
        combined[n] = {"vs_static": vs, **r}
        print(
            f"    {n}: {r['energy_ratio']:.3f}x the baseline, {vs['ratio']:.3f}x the static pipeline "
            f"[95% CI {vs['ci95_low']:.3f}-{vs['ci95_high']:.3f}], {r['delta_points']:+.2f} points, "
            f"non-inferior: {'yes' if r['non_inferior'] else 'no'}"
        )

    print(f"\n## 4. Energy-regularized fine-tuning to a 0.6 budget ({GATED_ROWS} rows, {gated_s:.0f} s)")
    from transformers import AutoModelForSequenceClassification

    plan = gated.notes["finetune"]
    with tempfile.TemporaryDirectory() as tmp:
        gated.save(Path(tmp))
        plain = AutoModelForSequenceClassification.from_pretrained(tmp, trust_remote_code=True).eval()
        batch = loops.encode(tok, dev.texts[:64], MAX_LENGTH)
        with torch.inference_mode():
            again = plain(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
        identical = bool(np.array_equal(again, gated.logits(batch)))
    g, c = by_name["gated finetune 0.6"], by_name["budget 0.6 per joule + finetune"]
    print(
        f"gates: start {plan['start_ratio']:.3f}, expected at the end of training {plan['expected_ratio_at_end']:.3f}; "
        f"closed by the gates {plan['closed_by_gates']}, closed to meet the budget {plan['closed_to_meet_budget']}"
    )
    print(
        f"kept heads {sum(plan['structure']['heads'])} of 72, FFN neurons {sum(plan['structure']['ffn'])} of 9216; "
        f"predicted ratio {plan['predicted_ratio']:.3f} (budget 0.600, off by "
        f"{plan['predicted_ratio'] / 0.6 - 1:+.1%}); "
        f"measured {g['energy_ratio']:.3f}"
    )
    print(f"reloaded with plain transformers (trust_remote_code=True): identical logits on 64 dev texts: {identical}")
    print(
        f"accuracy {g['accuracy']:.4f} ({g['delta_points']:+.2f} points); prune to 0.6 per joule + fine-tune on the "
        f"same rows: {c['accuracy']:.4f} ({c['delta_points']:+.2f} points), measured {c['energy_ratio']:.3f}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "energy_aware.json").write_text(
        json.dumps(
            {
                "cpu": cpu,
                "baseline": facts,
                "rounds": ROUNDS,
                "margin": MARGIN,
                "variants": rows,
                "prediction": {"median_abs_error": float(np.median(errors)), "pearson_r": pearson},
                "budget_comparison": {k: v for k, v in both.items() if not isinstance(v, np.ndarray)},
                "exits": exits,
                "exit_train_s": exit_train_s,
                "combined_vs_static": combined,
                "gated_finetune": {**plan, "train_s": gated_s, "reload_identical": identical},
            },
            indent=1,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
