"""Per-metric statistics and comparisons against the baseline.

- :func:`describe`: n, mean, SD (n-1), 95% t confidence interval of the mean.
- :func:`paired`: paired t-test of a variant against the baseline, paired by trial index
  (trial k of every variant derives from trial k's fine-tuned baseline).
- :func:`holm`: Holm step-down adjustment of p-values across variants.
- :func:`non_inferiority`: one-sided paired test that the variant is not worse than the
  baseline by more than ``margin`` (H0: mean difference <= -margin), at level alpha.
- :func:`pareto`: variants not dominated in (higher quality, lower energy).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def describe(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sd and the t-based 95% CI of the mean (None where n is too small)."""
    from scipy import stats

    xs = [float(v) for v in values if v is not None]
    n = len(xs)
    out: dict[str, Any] = {"n": n, "mean": None, "sd": None, "ci95_low": None, "ci95_high": None, "ci_method": "t"}
    if n == 0:
        return out
    out["mean"] = statistics.fmean(xs)
    if n > 1:
        sd = statistics.stdev(xs)
        half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        out.update(sd=sd, ci95_low=out["mean"] - half, ci95_high=out["mean"] + half)
    return out


def _pairs(base: Mapping[int, float], variant: Mapping[int, float]) -> list[float]:
    return [variant[k] - base[k] for k in sorted(set(base) & set(variant))]


def paired(base: Mapping[int, float], variant: Mapping[int, float]) -> dict[str, Any]:
    """Two-sided paired t-test of variant - baseline over shared trial indices."""
    from scipy import stats

    diffs = _pairs(base, variant)
    out: dict[str, Any] = {
        "test": "paired t (two-sided)",
        "n_pairs": len(diffs),
        "mean_diff": None,
        "t": None,
        "p_value": None,
        "effect_size_dz": None,
    }
    if not diffs:
        return out
    out["mean_diff"] = statistics.fmean(diffs)
    if len(diffs) < 2:
        out["note"] = "one pair: no test possible"
        return out
    sd = statistics.stdev(diffs)
    if sd <= 1e-12 * max(1.0, abs(out["mean_diff"])):  # equal up to rounding: t is undefined
        out["note"] = "identical differences in every pair: the t statistic is undefined"
        return out
    res = stats.ttest_1samp(diffs, 0.0)
    out.update(t=float(res.statistic), p_value=float(res.pvalue), effect_size_dz=out["mean_diff"] / sd)
    return out


def holm(pvalues: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm-adjusted p-values (family = the variants with a p-value)."""
    named = sorted(((p, k) for k, p in pvalues.items() if p is not None))
    m = len(named)
    adjusted: dict[str, float | None] = {k: None for k in pvalues}
    running = 0.0
    for i, (p, k) in enumerate(named):
        running = max(running, min(1.0, (m - i) * p))  # step-down, kept monotone
        adjusted[k] = running
    return adjusted


def non_inferiority(
    base: Mapping[int, float], variant: Mapping[int, float], margin: float, alpha: float = 0.05
) -> dict[str, Any]:
    """One-sided paired t-test of H0: mean(variant - baseline) <= -margin."""
    from scipy import stats

    diffs = _pairs(base, variant)
    out: dict[str, Any] = {
        "margin": margin,
        "alpha": alpha,
        "n_pairs": len(diffs),
        "mean_diff": None,
        "lower_bound": None,
        "p_value": None,
        "non_inferior": False,
    }
    if len(diffs) < 2:
        out["note"] = "fewer than two paired trials: non-inferiority cannot be shown"
        return out
    n, mean, sd = len(diffs), statistics.fmean(diffs), statistics.stdev(diffs)
    out["mean_diff"] = mean
    if sd <= 1e-12 * max(1.0, abs(mean)):  # equal up to rounding
        out.update(lower_bound=mean, p_value=0.0 if mean > -margin else 1.0, non_inferior=mean > -margin)
        return out
    se = sd / math.sqrt(n)
    out["lower_bound"] = mean - stats.t.ppf(1 - alpha, n - 1) * se  # one-sided (1 - alpha) lower bound
    out["p_value"] = float(stats.t.sf((mean + margin) / se, n - 1))
    out["non_inferior"] = out["p_value"] < alpha
    return out


def pareto(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """Names whose (quality, energy) no other point beats on both (higher quality, lower energy)."""
    front = []
    for name, (q, e) in points.items():
        dominated = any(
            (q2 >= q and e2 <= e) and (q2 > q or e2 < e) for other, (q2, e2) in points.items() if other != name
        )
        if not dominated:
            front.append(name)
    return front
