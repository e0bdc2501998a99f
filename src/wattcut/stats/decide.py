"""From trials to a decision: statistics per variant, comparisons, and the recommendation.

The recommended variant is the one with the lowest mean inference energy per request
among those shown non-inferior to the baseline in accuracy at the study's margin
(one-sided paired t-test, alpha 0.05); the baseline itself is always eligible, so "no
variant qualifies" recommends keeping the baseline and says why.
"""

from __future__ import annotations

from typing import Any

from wattcut.stats.payback import payback
from wattcut.stats.summary import compare, describe, fit_line, holm, non_inferiority, pareto

BASELINE = "baseline"


def _infer_energy_per_request(trial: dict[str, Any]) -> float | None:
    p = next((p for p in trial["phases"] if p["phase"] == "infer"), None)
    if p is None or p["energy_j"] is None or not p["requests"]:
        return None
    return p["energy_j"] / p["requests"]


def _accuracy_per_j(trial: dict[str, Any]) -> float | None:
    e = _infer_energy_per_request(trial)
    return trial["metrics"]["accuracy"] / e if e else None


METRICS = {
    "accuracy": lambda t: t["metrics"]["accuracy"],
    "energy_per_request_j": _infer_energy_per_request,
    "latency_p50_ms": lambda t: t["latency"]["p50_ms"],
    "accuracy_per_j": _accuracy_per_j,  # efficiency ratio: quality per joule per request
}
BOUNDED = {"accuracy"}  # in [0, 1]: a bootstrap interval as well as the t interval


def _energy_vs_runtime(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Least-squares fit of inference energy (J) on inference duration (s) across all trials."""
    infer = [p for t in trials for p in t["phases"] if p["phase"] == "infer" and p["energy_j"] is not None]
    fit = fit_line([p["duration_s"] for p in infer], [p["energy_j"] for p in infer])
    return {**fit, "x": "infer duration_s", "y": "infer energy_j", "points": "one per trial and variant"}


def study_statistics(config: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Descriptive statistics, tests against the baseline, Pareto front and recommendation."""
    margin = config.get("evaluate", {}).get("quality_margin", 0.01)
    names = [BASELINE, *(v["name"] for v in config["variants"])]
    values: dict[str, dict[str, dict[int, float]]] = {}
    for name in names:
        mine = [t for t in trials if t["variant"] == name]
        values[name] = {m: {t["trial_index"]: v for t in mine if (v := f(t)) is not None} for m, f in METRICS.items()}
    present = [n for n in names if values[n]["accuracy"]]
    per_variant: dict[str, Any] = {
        n: {m: describe(list(values[n][m].values()), bounded=m in BOUNDED) for m in METRICS} for n in present
    }
    comparisons: dict[str, Any] = {}
    if BASELINE in present:
        base = values[BASELINE]
        for n in present:
            if n == BASELINE:
                continue
            comparisons[n] = {m: compare(base[m], values[n][m]) for m in METRICS}
            comparisons[n]["accuracy_non_inferiority"] = non_inferiority(
                base["accuracy"], values[n]["accuracy"], margin
            )
        for m in METRICS:
            adjusted = holm({n: c[m]["p_value"] for n, c in comparisons.items()})
            for n, p in adjusted.items():
                comparisons[n][m]["p_holm"] = p
    points = {
        n: (s["accuracy"]["mean"], s["energy_per_request_j"]["mean"])
        for n, s in per_variant.items()
        if s["energy_per_request_j"]["mean"] is not None
    }
    pb = payback(config, trials)
    for n, row in pb["variants"].items():  # a payback is only worth reading next to these caveats
        c = comparisons.get(n)
        if c is None:
            continue
        caveats = []
        ni = c["accuracy_non_inferiority"]
        if ni.get("n_pairs", 0) < 2:
            caveats.append("one trial: non-inferiority and significance need at least two")
        elif not ni["non_inferior"]:
            caveats.append("not shown non-inferior in accuracy: not a deployment candidate")
        p_energy = c["energy_per_request_j"].get("p_holm")
        if p_energy is None or p_energy >= 0.05:
            caveats.append(
                "the energy difference is not statistically significant"
                + ("" if p_energy is None else f" (Holm p = {p_energy:.2g})")
            )
        row["caveats"] = caveats
    return {
        "quality_margin": margin,
        "per_variant": per_variant,
        "vs_baseline": comparisons,
        "pareto_front": pareto(points),
        "energy_vs_runtime": _energy_vs_runtime(trials),
        "recommendation": recommend(per_variant, comparisons, margin),
        "payback": pb,
    }


def recommend(per_variant: dict[str, Any], comparisons: dict[str, Any], margin: float) -> dict[str, Any]:
    """The variant to deploy, with a one-sentence reason."""
    if BASELINE not in per_variant:
        return {"variant": None, "reason": "No baseline trial is stored yet, so nothing can be compared."}
    energy = {n: s["energy_per_request_j"]["mean"] for n, s in per_variant.items()}
    eligible = [BASELINE] + [n for n, c in comparisons.items() if c["accuracy_non_inferiority"]["non_inferior"]]
    eligible = [n for n in eligible if energy.get(n) is not None]
    if not eligible:
        return {"variant": None, "reason": "No inference energy was measured, so no variant can be recommended."}
    accuracy = {n: (s.get("accuracy") or {}).get("mean") for n, s in per_variant.items()}
    low = min(energy[n] for n in eligible)
    exact = [n for n in eligible if abs(energy[n] - low) <= 1e-12 * max(1.0, abs(low))]
    best = max(exact, key=lambda n: accuracy[n] or 0.0)  # an exact tie goes to the more accurate variant
    ci_high = per_variant[best]["energy_per_request_j"].get("ci95_high")
    tied = [n for n in eligible if n != best and ci_high is not None and energy[n] <= ci_high]
    points = f"{100 * margin:g} accuracy point{'s' if margin != 0.01 else ''}"
    if best == BASELINE:
        reason = (
            f"Keep the baseline: no compressed variant was shown non-inferior in accuracy at a margin of {points} "
            "(one-sided paired t-test, alpha 0.05)"
            + (" with a lower energy per request." if len(eligible) > 1 else ".")
        )
    else:
        saving = 1 - energy[best] / energy[BASELINE] if energy.get(BASELINE) else None
        ni = comparisons[best]["accuracy_non_inferiority"]
        reason = (
            f"{best} uses the least inference energy per request among variants non-inferior to the baseline at "
            f"a margin of {points} (accuracy difference {100 * ni['mean_diff']:+.2f} points, one-sided 95% lower "
            f"bound {100 * ni['lower_bound']:+.2f}, p = {ni['p_value']:.3g})"
            + (f", {100 * saving:.0f}% less energy per request than the baseline." if saving is not None else ".")
        )
    if len(exact) > 1:
        reason += (
            f" It ties exactly on energy with {', '.join(n for n in exact if n != best)} and is the more accurate."
        )
    elif tied:
        reason += (
            f" {', '.join(tied)} {'is' if len(tied) == 1 else 'are'} within its 95% CI of energy per request "
            "(statistically tied on energy): compare their accuracy and size before deciding."
        )
    return {
        "variant": best,
        "eligible": eligible,
        "tied_with": sorted(set(tied) | set(exact) - {best}),
        "reason": reason,
    }
