"""The energy-aware part of a report: cost-model predictions, kept FLOPs vs throughput, early exit.

Predicted against measured energy per request (with r and the median error), kept FLOPs
against throughput with the fitted line and r (seed 004's regression), and early exit's
threshold sweep and exit depths. Pure functions of ``results`` (records and statistics),
defined once: ``lines`` gives the Markdown, which the HTML report renders as tables.
"""

from __future__ import annotations

import statistics as pystats
from typing import Any

from wattcut.store.records import Results, Trial


def _exits(t: Trial) -> dict[str, Any] | None:
    """The early-exit facts of the record's primary task (records before tasks existed have none)."""
    entry = t.tasks.get(t.task or "")
    return None if entry is None else entry.exits


def _by_variant(results: Results) -> dict[str, list[Trial]]:
    out: dict[str, list[Trial]] = {}
    for t in results.trials:
        out.setdefault(t.variant, []).append(t)
    return out


def _paired(results: Results, name: str) -> dict[str, Any]:
    return dict((results.statistics.get("paired") or {}).get(name) or {})


def _estimated(results: Results) -> bool:
    phases = [t.infer_phase() for t in results.trials]
    return any(p is not None and p.estimated for p in phases)


def prediction_points(results: Results) -> list[dict[str, Any]]:
    """Per variant with a cost-model prediction: predicted and measured (per-round paired) energy ratios."""
    rows = []
    for name, trials in _by_variant(results).items():
        preds = [t.cost_model["predicted_energy_ratio"] for t in trials if t.cost_model]
        measured = _paired(results, name).get("energy_per_request_j")
        if name == "baseline" or not preds or not measured or any(_exits(t) is not None for t in trials):
            continue
        rows.append({"variant": name, "predicted": pystats.fmean(preds), "measured": measured["ratio"]})
    return rows


def flops_points(results: Results) -> list[dict[str, Any]]:
    """Kept FLOPs (fraction of the baseline's) and throughput (baseline latency / variant latency) per variant."""
    per = _by_variant(results)
    base = [t.model.flops_per_sequence for t in per.get("baseline", [])]
    if not base or not base[0]:
        return []
    rows = []
    for name, trials in per.items():
        flops = trials[0].model.flops_per_sequence
        lat = _paired(results, name).get("latency_mean_ms")
        if name == "baseline" or not flops or not lat or trials[0].model.runtime != "pytorch":
            continue
        rows.append({"variant": name, "kept_flops": flops / base[0], "throughput": 1.0 / lat["ratio"]})
    return rows


def fit(points: list[dict[str, Any]], x: str, y: str) -> dict[str, float] | None:
    """Least-squares line and Pearson r (scipy.stats.linregress); None with fewer than 3 points."""
    if len(points) < 3:
        return None
    from scipy import stats

    r = stats.linregress([p[x] for p in points], [p[y] for p in points])
    return {"slope": float(r.slope), "intercept": float(r.intercept), "r": float(r.rvalue), "n": len(points)}


def exit_summaries(results: Results) -> list[dict[str, Any]]:
    """Per early-exit variant: threshold, accuracy and mean depth per swept threshold (mean over trials), depths."""
    out = []
    for name, trials in _by_variant(results).items():
        ex: list[dict[str, Any]] = [e for e in (_exits(t) for t in trials) if e and e.get("sweep")]
        if not ex:
            continue
        sweep = []
        for i, row in enumerate(ex[0]["sweep"]):
            sweep.append(
                {
                    "threshold": row["threshold"],
                    "accuracy": pystats.fmean(e["sweep"][i]["accuracy"] for e in ex),
                    "mean_depth": pystats.fmean(e["sweep"][i]["mean_depth"] for e in ex),
                }
            )
        served: dict[str, int] = {}
        for e in ex:
            for d, k in (e.get("infer_depth_counts") or {}).items():
                served[d] = served.get(d, 0) + k
        out.append(
            {
                "variant": name,
                "threshold": ex[0]["threshold"],
                "criterion": ex[0]["criterion"],
                "layers": ex[0]["layers"],
                "sweep": sweep,
                "served_depths": served,
            }
        )
    return out


def lines(results: Results) -> list[str]:
    """The section's Markdown (empty when the study has none of it)."""
    out: list[str] = []
    preds = prediction_points(results)
    if preds:
        errs = [abs(p["predicted"] / p["measured"] - 1) for p in preds]
        f = fit(preds, "predicted", "measured")
        out += [
            "",
            "## Cost model: predicted vs measured energy per request",
            "",
            "| variant | predicted ratio | measured ratio (paired rounds) | error |",
            "|---|---:|---:|---:|",
        ]
        for p in preds:
            out.append(
                f"| {p['variant']} | {p['predicted']:.3f} | {p['measured']:.3f} | "
                f"{p['predicted'] / p['measured'] - 1:+.1%} |"
            )
        out += [
            "",
            f"Median absolute error {pystats.median(errs):.1%} over {len(preds)} variant(s)"
            + ("" if f is None else f"; Pearson r = {f['r']:.3f}")
            + ". Predicted from the measured cost profile (CPU time per layer, head and FFN neuron); measured as "
            "the per-round paired ratio to the baseline"
            + (
                ", from estimated energy (no energy counter: CPU-time and RAM models, see the method section)."
                if _estimated(results)
                else ", from the energy counters."
            ),
        ]
    fl = flops_points(results)
    f = fit(fl, "kept_flops", "throughput")
    if f is not None:
        out += [
            "",
            "## Kept FLOPs vs throughput (PyTorch variants)",
            "",
            f"throughput ratio = {f['slope']:.3f} x kept FLOPs + {f['intercept']:.3f}; r = {f['r']:.3f} over "
            f"{f['n']} variants (seed 004 reports r = 0.94 for sparsity vs throughput).",
        ]
    for e in exit_summaries(results):
        served = e["served_depths"]
        total = sum(served.values()) or 1
        out += [
            "",
            f"## Early exit: {e['variant']} (threshold {e['threshold']}, {e['criterion']}, {e['layers']} layers)",
            "",
            "| threshold | accuracy | mean layers run |",
            "|---:|---:|---:|",
        ]
        out += [f"| {s['threshold']} | {s['accuracy']:.4f} | {s['mean_depth']:.2f} |" for s in e["sweep"]]
        if served:
            out += [
                "",
                "Layers run per inference request (all trials' infer rounds): "
                + ", ".join(f"{d}: {k} ({k / total:.0%})" for d, k in sorted(served.items(), key=lambda x: int(x[0])))
                + ".",
            ]
    return out
