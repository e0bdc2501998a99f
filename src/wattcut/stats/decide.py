"""From trials to a decision: statistics per variant, comparisons, and the recommendation.

The quality metric is the primary metric of the study's primary task, read from the
records' ``metric_spec`` (accuracy for classification, perplexity for language
modelling...), with its direction. The recommended variant is the one with the lowest
mean inference energy per request among those shown non-inferior to the baseline in
that metric at the study's margin; the baseline itself is always eligible, so "no
variant qualifies" recommends keeping the baseline and says why.

Two analyses are kept side by side. The primary one pairs the stored per-item results
and per-round inference windows (:mod:`wattcut.stats.paired`); the secondary one runs
on per-trial means (one-sided paired t on the trials). Records without per-item
results (older stores, tasks that keep none) fall back to the per-trial test, and the
decision says which test it used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wattcut.metric import (
    MetricSpec,
    describe_margin,
    infer_phase,
    margin_in_units,
    oriented,
    primary_spec,
    quality,
)
from wattcut.stats.noise import noise_floor
from wattcut.stats.payback import payback
from wattcut.stats.summary import compare, describe, fit_line, holm, non_inferiority, pareto
from wattcut.store.records import Trial

BASELINE = "baseline"


def reference_accuracy(trials: Sequence[Trial], spec: MetricSpec) -> dict[str, Any] | None:
    """What a model that learnt nothing scores on the evaluation items: the majority class's share, and chance.

    A classifier whose accuracy is no better than always answering the majority class is
    degenerate: every variant can then be "non-inferior" to it while being useless. None
    when the metric is not accuracy or no baseline trial kept its items' gold labels.
    """
    from collections import Counter

    if spec.key != "accuracy":
        return None
    base = [t for t in trials if t.variant == BASELINE]
    entry = next((e for t in base if (e := t.tasks.get(t.task or "")) is not None), None)
    gold = ((entry and entry.items) or {}).get("gold")
    if entry is None or not gold:
        return None
    counts = Counter(gold)
    label, top = counts.most_common(1)[0]
    names = (entry.metrics or base[0].metrics).get("labels") or sorted(counts)
    accuracies = [q for t in base if (q := quality(t, spec)) is not None]
    if not accuracies:
        return None
    baseline_acc = sum(accuracies) / len(accuracies)
    majority = top / len(gold)
    return {
        "majority_class_accuracy": majority,
        "majority_label": str(names[label]) if isinstance(label, int) and label < len(names) else str(label),
        "chance_accuracy": 1 / max(len(names), len(counts)),
        "baseline_accuracy": baseline_acc,
        "n_items": len(gold),
        "degenerate": baseline_acc <= majority + 1e-9,
    }


def _infer_energy_per_request(trial: Trial) -> float | None:
    p = infer_phase(trial)
    if p is None or p.energy_j is None or not p.requests:
        return None
    return p.energy_j / p.requests


def _latency_p50(trial: Trial) -> float | None:
    return None if trial.latency is None else trial.latency.p50_ms


def metric_functions(spec: MetricSpec) -> dict[str, Callable[[Trial], float | None]]:
    """Per-trial values analysed for every variant: the primary quality metric, energy, latency, efficiency.

    Efficiency (quality per joule per request) only exists for a higher-is-better metric:
    perplexity per joule would reward the worse model.
    """
    out: dict[str, Callable[[Trial], float | None]] = {
        spec.key: lambda t: quality(t, spec),
        "energy_per_request_j": _infer_energy_per_request,
        "latency_p50_ms": _latency_p50,
    }
    if spec.higher_is_better:

        def per_j(t: Trial) -> float | None:
            q, e = quality(t, spec), _infer_energy_per_request(t)
            return q / e if q is not None and e else None

        out[f"{spec.key}_per_j"] = per_j
    return out


def _energy_vs_runtime(trials: Sequence[Trial]) -> dict[str, Any]:
    """Least-squares fit of inference energy (J) on inference duration (s) across all trials."""
    infer = [(p.duration_s, p.energy_j) for t in trials if (p := infer_phase(t)) is not None and p.energy_j is not None]
    fit = fit_line([d for d, _ in infer], [e for _, e in infer])
    return {**fit, "x": "infer duration_s", "y": "infer energy_j", "points": "one per trial and variant"}


def study_statistics(config: dict[str, Any], trials: Sequence[Trial]) -> dict[str, Any]:
    """Descriptive statistics, tests against the baseline, Pareto front and recommendation."""
    spec = primary_spec(trials)
    q = spec.key
    evaluate = config.get("evaluate", {})
    margin, margin_type = evaluate.get("quality_margin", 0.01), evaluate.get("margin_type", "auto")
    names = [BASELINE, *(v["name"] for v in config["variants"])]
    metrics = metric_functions(spec)
    values: dict[str, dict[str, dict[int, float]]] = {}
    for name in names:
        mine = [t for t in trials if t.variant == name]
        values[name] = {m: {t.trial_index: v for t in mine if (v := f(t)) is not None} for m, f in metrics.items()}
    present = [n for n in names if values[n][q]]
    per_variant: dict[str, Any] = {
        n: {m: describe(list(values[n][m].values()), bounded=(m == q and spec.bounded)) for m in metrics}
        for n in present
    }
    comparisons: dict[str, Any] = {}
    if BASELINE in present:
        base = values[BASELINE]
        margin_units = margin_in_units(spec, margin, margin_type, per_variant[BASELINE][q]["mean"])
        for n in present:
            if n == BASELINE:
                continue
            comparisons[n] = {m: compare(base[m], values[n][m]) for m in metrics}
            # The test runs on values turned so that higher is better; the margin is in the metric's units.
            ni = non_inferiority(_orient(base[q], spec), _orient(values[n][q], spec), margin_units or 0.0)
            ni.update(metric=q, higher_is_better=spec.higher_is_better, margin_setting=margin, margin_type=margin_type)
            comparisons[n][f"{q}_non_inferiority"] = ni
        for m in metrics:
            adjusted = holm({n: c[m]["p_value"] for n, c in comparisons.items()})
            for n, p in adjusted.items():
                comparisons[n][m]["p_holm"] = p
    points = {
        n: (_or_worst(oriented(s[q]["mean"], spec)), s["energy_per_request_j"]["mean"])
        for n, s in per_variant.items()
        if s["energy_per_request_j"]["mean"] is not None
    }
    paired = paired_statistics(trials, names, spec, margin, margin_type, per_variant)
    decisive: dict[str, Any] = {}  # the test that decides: item-level when both sides have items
    for n, c in comparisons.items():
        ni = (paired.get(n) or {}).get("quality") or c[f"{q}_non_inferiority"]
        decisive[n] = {**ni, "test": "item-level" if ni.get("n_items") else "per-trial"}
        kl = next(
            (g for t in trials if t.variant == n and (g := t.metrics.get("kl_gate")) and g["status"] == "fail"), None
        )
        if kl is not None:  # the primary task's optional second gate (perplexity's max_kl_divergence)
            decisive[n] = {**decisive[n], "non_inferior": False, "kl_gate": kl["reason"]}
    reference = reference_accuracy(trials, spec)
    pb = payback(config, trials)
    for n, row in pb["variants"].items():  # a payback is only worth reading next to these caveats
        c = comparisons.get(n)
        if c is None:
            continue
        caveats = []
        ni = decisive[n]
        if ni["test"] == "per-trial" and ni.get("n_pairs", 0) < 2:
            caveats.append("one trial: non-inferiority and significance need at least two")
        elif not ni["non_inferior"]:
            caveats.append(f"not shown non-inferior in {spec.label}: not a deployment candidate")
        p_energy = ((paired.get(n) or {}).get("energy_per_request_j") or c["energy_per_request_j"]).get("p_holm")
        if p_energy is None or p_energy >= 0.05:
            caveats.append(
                "the energy difference is not statistically significant"
                + ("" if p_energy is None else f" (Holm p = {p_energy:.2g})")
            )
        row["caveats"] = caveats
    return {
        "metric_spec": spec.to_dict(),
        "quality_margin": margin,
        "margin_type": margin_type,
        "margin_text": describe_margin(spec, margin, margin_type),
        "per_variant": per_variant,
        "vs_baseline": comparisons,
        "paired": paired,
        "non_inferiority": decisive,
        "pareto_front": pareto(points),
        "energy_vs_runtime": _energy_vs_runtime(trials),
        "recommendation": _degenerate(reference)
        or recommend(per_variant, comparisons, margin, spec, margin_type, paired, decisive),
        "reference_accuracy": reference,
        "payback": pb,
        "noise_floor": noise_floor(trials, paired),
        "explain": _explain(config, trials),
    }


def _explain(config: dict[str, Any], trials: Sequence[Trial]) -> dict[str, Any] | None:
    """``[explain]``: each variant's attribution agreement with the baseline on the primary task (None: off)."""
    from wattcut.stats.explain import explain_agreement

    top_k = int((config.get("explain") or {}).get("top_k", 5))
    task = trials[0].task if trials else None
    return explain_agreement(trials, task, top_k) if task is not None else None


def _degenerate(reference: dict[str, Any] | None) -> dict[str, Any] | None:
    """No recommendation when the baseline is no better than always answering the majority class."""
    if not reference or not reference["degenerate"]:
        return None
    r = reference
    return {
        "variant": None,
        "eligible": [],
        "tied_with": [],
        "degenerate_baseline": True,
        "reason": (
            f"No recommendation: the baseline's accuracy ({r['baseline_accuracy']:.3f}) is no better than always "
            f'answering the majority class "{r["majority_label"]}" ({r["majority_class_accuracy"]:.3f} of '
            f"{r['n_items']} evaluation items; chance {r['chance_accuracy']:.3f}). It has learnt nothing to keep, so "
            "a variant non-inferior to it proves nothing. Train it on more data or longer (or check the labels), "
            "then run again."
        ),
    }


def paired_statistics(
    trials: Sequence[Trial],
    names: list[str],
    spec: MetricSpec,
    margin: float,
    margin_type: str,
    per_variant: dict[str, Any],
) -> dict[str, Any]:
    """Per variant: the item-level quality test and the per-round energy and latency ratios (Holm-adjusted)."""
    from wattcut.stats.paired import item_non_inferiority, item_scores, log_ratio, round_values

    if not trials:
        return {}
    task = trials[0].task or ""
    energy_task = trials[0].energy_task or task
    kind = margin_type if margin_type != "auto" else ("absolute" if spec.bounded else "relative")
    units = margin_in_units(spec, margin, margin_type, (per_variant.get(BASELINE) or {}).get(spec.key, {}).get("mean"))
    items: dict[str, dict[int, Any]] = {n: {} for n in names}
    rounds: dict[str, dict[str, dict[tuple[int, int], float]]] = {}
    for t in trials:
        if t.variant not in items:
            continue
        scores = item_scores(t, task, spec.key)
        if scores is not None:
            items[t.variant][t.trial_index] = scores
        for field in ("energy_per_request_j", "latency_mean_ms"):
            mine = rounds.setdefault(field, {}).setdefault(t.variant, {})
            for r, v in round_values(t, energy_task, field).items():
                mine[(t.trial_index, r)] = v
    out: dict[str, Any] = {}
    for n in names:
        if n == BASELINE:
            continue
        quality_test = None
        if items[BASELINE] and items[n]:
            m = (units or 0.0) if spec.bounded else margin  # a mean of per-item scores: in the metric's units
            quality_test = item_non_inferiority(items[BASELINE], items[n], spec.key, m, kind, spec.higher_is_better)
        out[n] = {"quality": quality_test}
        for field, by_variant in rounds.items():
            out[n][field] = log_ratio(by_variant.get(BASELINE, {}), by_variant.get(n, {}))
    for field in ("energy_per_request_j", "latency_mean_ms"):
        tests = {n: r[field] for n, r in out.items() if r.get(field) and r[field]["p_value"] is not None}
        for n, p in holm({n: t["p_value"] for n, t in tests.items()}).items():
            tests[n]["p_holm"] = p
    return out


def _test_name(decisive: dict[str, Any] | None) -> str:
    tests = {d["test"] for d in (decisive or {}).values()}
    return "item-level paired t" if tests == {"item-level"} else "one-sided paired t-test"


def _or_worst(x: float | None) -> float:
    return float("-inf") if x is None else x


def _orient(values: dict[int, float], spec: MetricSpec) -> dict[int, float]:
    return {k: v if spec.higher_is_better else -v for k, v in values.items()}


def recommend(
    per_variant: dict[str, Any],
    comparisons: dict[str, Any],
    margin: float,
    spec: MetricSpec | None = None,
    margin_type: str = "auto",
    paired: dict[str, Any] | None = None,
    decisive: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The variant to deploy, with a one-sentence reason (and the per-round energy ratio when stored)."""
    from wattcut.metric import ACCURACY

    spec = spec or ACCURACY
    q = spec.key
    if BASELINE not in per_variant:
        return {"variant": None, "reason": "No baseline trial is stored yet, so nothing can be compared."}
    energy = {n: s["energy_per_request_j"]["mean"] for n, s in per_variant.items()}

    def decides(n: str) -> dict[str, Any]:
        return (decisive or {}).get(n) or {**comparisons[n][f"{q}_non_inferiority"], "test": "per-trial"}

    eligible = [BASELINE] + [n for n in comparisons if decides(n)["non_inferior"]]
    eligible = [n for n in eligible if energy.get(n) is not None]
    if not eligible:
        return {"variant": None, "reason": "No inference energy was measured, so no variant can be recommended."}
    goodness = {n: oriented((s.get(q) or {}).get("mean"), spec) for n, s in per_variant.items()}
    low = min(energy[n] for n in eligible)
    exact = [n for n in eligible if abs(energy[n] - low) <= 1e-12 * max(1.0, abs(low))]
    best = max(exact, key=lambda n: _or_worst(goodness[n]))  # an exact tie goes to the better quality
    ci_high = per_variant[best]["energy_per_request_j"].get("ci95_high")
    tied = [n for n in eligible if n != best and ci_high is not None and energy[n] <= ci_high]
    points = describe_margin(spec, margin, margin_type)
    if best == BASELINE:
        reason = (
            f"Keep the baseline: no compressed variant was shown non-inferior in {spec.label} at a margin of "
            f"{points} ({_test_name(decisive)}, alpha 0.05)"
            + (" with a lower energy per request." if len(eligible) > 1 else ".")
        )
    else:
        saving = 1 - energy[best] / energy[BASELINE] if energy.get(BASELINE) else None
        ni = decides(best)
        if ni.get("scale") == "relative":  # item-level perplexity: a ratio
            diff_text = f"{spec.label} ratio {ni['ratio']:.4f}, one-sided 95% upper bound {ni['ratio_upper']:.4f}"
        else:
            sign = 1 if spec.higher_is_better else -1  # report the difference in the metric's own direction
            scale, unit, digits = (100, " points", 2) if spec.bounded else (1, "", 3)
            diff, bound = scale * sign * ni["mean_diff"], scale * sign * ni["lower_bound"]
            diff_text = (
                f"{spec.label} difference {diff:+.{digits}f}{unit}, one-sided 95% "
                f"{'lower' if spec.higher_is_better else 'upper'} bound {bound:+.{digits}f}"
            )
        test = "item-level paired t" if ni["test"] == "item-level" else "paired t on trial means"
        reason = (
            f"{best} uses the least inference energy per request among variants non-inferior to the baseline at "
            f"a margin of {points} ({diff_text}, {test}, p = {ni['p_value']:.3g})"
        )
        ratio = ((paired or {}).get(best) or {}).get("energy_per_request_j")
        if ratio and ratio.get("ci95_low") is not None:
            from wattcut.stats.paired import pairs_label

            reason += (
                f": {ratio['ratio']:.3f}x the baseline's energy per request (95% CI {ratio['ci95_low']:.3f}-"
                f"{ratio['ci95_high']:.3f}, {pairs_label(ratio)}, Holm p = {ratio['p_holm']:.2g}), "
                f"{100 * (1 - ratio['ratio']):.0f}% less."
            )
        else:
            reason += f", {100 * saving:.0f}% less energy per request than the baseline." if saving is not None else "."
    if len(exact) > 1:
        better = "more accurate" if q == "accuracy" else f"better in {spec.label}"
        reason += f" It ties exactly on energy with {', '.join(n for n in exact if n != best)} and is the {better}."
    elif tied:
        reason += (
            f" {', '.join(tied)} {'is' if len(tied) == 1 else 'are'} within its 95% CI of energy per request "
            f"(statistically tied on energy): compare their {spec.label} and size before deciding."
        )
    return {
        "variant": best,
        "eligible": eligible,
        "tied_with": sorted(set(tied) | set(exact) - {best}),
        "reason": reason,
    }
