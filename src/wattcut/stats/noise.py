"""The machine's noise floor, stated for the design the energy tests use: paired rounds.

The energy ratios (and their CIs) come from interleaved rounds: in each round every
variant serves the same requests in its own window, and a variant's per-round log ratio
to the baseline, ln(E_variant / E_baseline), is the unit of analysis. The noise that
matters is therefore the spread of those per-round log ratios: its pooled SD over the
variants, sigma_pair = sqrt(mean_v(s_v^2)), with a chi-square 95% interval on the pooled
degrees of freedom. With n rounds, a ratio closer to 1 than t(0.975, n - 1) x sigma_pair /
sqrt(n) cannot be told from noise: the same half-width each variant's CI has when its
interval pools the rounds, so the sentence and those CIs agree by construction. A variant
whose trials differ more than their rounds explain has its interval from the trial means
(``stats.paired.log_ratio``), wider than this floor; those variants are named.

The baseline sentinel (a few requests served before and after each trial's rounds) is
reported beside it as a drift check: it spans minutes and a handful of requests, so it
moves with whatever the machine did meanwhile, which the interleaved rounds cancel. It is
not the error of the ratios, and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wattcut.store.records import Trial

METHOD = (
    "spread of the per-round paired log ratios ln(E_variant / E_baseline) that the energy CIs use: pooled SD over "
    "the variants, sigma = sqrt(mean of each variant's variance), chi-square 95% CI on the pooled degrees of freedom; "
    "resolvable = t(0.975, n-1) x sigma / sqrt(n) for n paired rounds (each variant's CI half-width)"
)


def noise_floor(trials: Sequence[Trial], paired: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The per-round paired spread (%), the resolvable difference, and the sentinel's drift, from one study."""
    from scipy import stats

    out: dict[str, Any] = {}
    ratios = [
        r["energy_per_request_j"]
        for r in (paired or {}).values()
        if (r.get("energy_per_request_j") or {}).get("sd_log_ratio") is not None
    ]
    if ratios:
        dof = sum(r["n_pairs"] - 1 for r in ratios)
        pooled = math.sqrt(sum((r["n_pairs"] - 1) * r["sd_log_ratio"] ** 2 for r in ratios) / dof)
        lo = pooled * math.sqrt(dof / stats.chi2.ppf(0.975, dof))
        hi = pooled * math.sqrt(dof / stats.chi2.ppf(0.025, dof))
        n = round(sum(r["n_pairs"] for r in ratios) / len(ratios))
        half = float(stats.t.ppf(0.975, n - 1)) * pooled / math.sqrt(n)
        out |= {
            "design": "paired rounds",
            "variants": len(ratios),
            "rounds": n,
            "sigma_log": pooled,
            "spread_pct": 100 * math.expm1(pooled),
            "spread_ci95_pct": [100 * math.expm1(lo), 100 * math.expm1(hi)],
            "resolvable_pct": 100 * math.expm1(half),
            "method": METHOD,
        }
        energy = {n: r.get("energy_per_request_j") or {} for n, r in (paired or {}).items()}
        by_trials = sorted(n for n, e in energy.items() if e.get("basis") == "trials")
        if by_trials:
            out["trial_basis_variants"] = by_trials
    sentinel = _sentinel_drift(trials)
    if sentinel is not None:
        out["sentinel"] = sentinel
    return out or None


def _sentinel_drift(trials: Sequence[Trial]) -> dict[str, Any] | None:
    """How far the baseline sentinel's energy per request moved from before to after each trial's rounds."""
    d = []
    for t in trials:
        if t.variant != "baseline" or t.contention is None:
            continue
        runs = t.contention.sentinel_energy_per_request_j
        for before, after in zip(runs[0::2], runs[1::2], strict=False):
            if before and after:
                d.append(math.log(after / before))
    if not d:
        return None
    sigma = math.sqrt(sum(x * x for x in d) / (2 * len(d)))
    return {
        "pairs": len(d),
        "spread_pct": 100 * math.expm1(sigma),
        "method": "baseline sentinel before and after each trial's rounds: sqrt(mean(ln(after/before)^2) / 2)",
    }
