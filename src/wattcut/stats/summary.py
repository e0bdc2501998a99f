"""Per-metric statistics and comparisons against the baseline.

- :func:`describe`: n, mean, SD (n-1), 95% t confidence interval of the mean, and for
  bounded metrics (accuracy) a seeded BCa bootstrap interval once there are enough trials.
- :func:`paired`: paired t-test of a variant against the baseline, paired by trial index
  (trial k of every variant derives from trial k's fine-tuned baseline).
- :func:`compare`: the paired test where every trial has its pair, else Welch's t-test.
- :func:`holm`: Holm step-down adjustment of p-values across variants.
- :func:`non_inferiority`: one-sided paired test that the variant is not worse than the
  baseline by more than ``margin`` (H0: mean difference <= -margin), at level alpha.
- :func:`pareto`: variants not dominated in (higher quality, lower energy).
- :func:`fit_line`: least-squares line of energy against runtime, with Pearson r.

Every distribution comes from SciPy; the bootstrap uses a fixed seed, stored with the
result, so each number can be recomputed from the per-trial values in results.json.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

BOOTSTRAP: dict[str, Any] = {"method": "BCa", "n_resamples": 9999, "seed": 20260101, "min_n": 8}


def describe(values: Sequence[float], bounded: bool = False) -> dict[str, Any]:
    """n, mean, sd and the t-based 95% CI of the mean (None where n is too small).

    Args:
        values: One value per trial.
        bounded: The metric lives in [0, 1] (accuracy): also give a bootstrap CI, whose
            bounds cannot leave the range, when there are at least ``BOOTSTRAP["min_n"]``
            trials (with fewer, resampling a handful of values says nothing more).
    """
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
        out.update(sd=sd, ci95_low=float(out["mean"] - half), ci95_high=float(out["mean"] + half))
    if bounded:
        out["bootstrap"] = bootstrap_ci(xs)
    return out


def bootstrap_ci(xs: Sequence[float]) -> dict[str, Any]:
    """Seeded BCa bootstrap 95% CI of the mean (SciPy), or why there is none."""
    import numpy as np
    from scipy import stats

    out: dict[str, Any] = {**BOOTSTRAP, "ci95_low": None, "ci95_high": None}
    if len(xs) < BOOTSTRAP["min_n"]:
        out["note"] = f"{len(xs)} trials: a bootstrap needs at least {BOOTSTRAP['min_n']}; use the t interval"
        return out
    if max(xs) - min(xs) <= 1e-12:
        out["note"] = "every trial gave the same value: no interval"
        return out
    res = stats.bootstrap(
        (np.asarray(xs, dtype=float),),
        np.mean,  # vectorised: SciPy draws all resamples at once, reproducible from the seed
        n_resamples=BOOTSTRAP["n_resamples"],
        confidence_level=0.95,
        method="BCa",
        rng=BOOTSTRAP["seed"],
    )
    out.update(ci95_low=float(res.confidence_interval.low), ci95_high=float(res.confidence_interval.high))
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


def welch(base: Sequence[float], variant: Sequence[float]) -> dict[str, Any]:
    """Two-sided Welch t-test of variant vs baseline (unpaired, unequal variances)."""
    from scipy import stats

    out: dict[str, Any] = {
        "test": "Welch t (two-sided, unpaired)",
        "n_base": len(base),
        "n_variant": len(variant),
        "mean_diff": None,
        "t": None,
        "p_value": None,
        "effect_size_hedges_g": None,
    }
    if not base or not variant:
        return out
    out["mean_diff"] = statistics.fmean(variant) - statistics.fmean(base)
    if len(base) < 2 or len(variant) < 2:
        out["note"] = "fewer than two trials on one side: no test possible"
        return out
    v1, v2 = statistics.variance(base), statistics.variance(variant)
    if v1 + v2 <= 1e-24 * max(1.0, out["mean_diff"] ** 2):
        out["note"] = "no variation on either side: the t statistic is undefined"
        return out
    res = stats.ttest_ind(variant, base, equal_var=False)
    n1, n2 = len(base), len(variant)
    pooled = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    correction = 1 - 3 / (4 * (n1 + n2) - 9)  # Hedges' small-sample correction
    out.update(
        t=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.df),
        effect_size_hedges_g=correction * out["mean_diff"] / pooled if pooled > 0 else None,
    )
    return out


def compare(base: Mapping[int, float], variant: Mapping[int, float]) -> dict[str, Any]:
    """Paired t-test when every trial index has both values, otherwise Welch's test.

    Pairing by trial is the stronger design (each variant is derived from that trial's
    baseline); a study with missing trials on one side falls back to Welch, and says so.
    """
    if set(base) == set(variant):
        return paired(base, variant)
    out = welch(list(base.values()), list(variant.values()))
    out["note"] = (out.get("note", "") + "; " if out.get("note") else "") + (
        "trial indices differ between baseline and variant: unpaired test"
    )
    return out


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> dict[str, Any]:
    """Least-squares ``y = slope * x + intercept`` with Pearson r and its p-value (SciPy)."""
    from scipy import stats

    out: dict[str, Any] = {"n": len(xs), "slope": None, "intercept": None, "r": None, "p_value": None}
    if len(xs) < 3 or max(xs) - min(xs) <= 0:
        out["note"] = "fewer than three points with different x: no fit"
        return out
    res = stats.linregress(xs, ys)
    out.update(slope=float(res.slope), intercept=float(res.intercept), r=float(res.rvalue), p_value=float(res.pvalue))
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
