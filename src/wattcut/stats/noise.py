"""The machine's noise floor: how much the energy of the same work varies from run to run.

Every trial brackets its interleaved inference rounds with a baseline *sentinel*: the
same requests served before and after the round, each in a metered window. The log ratio
of a pair, d = ln(after / before), has variance 2 sigma^2 where sigma is the run-to-run
standard deviation of ln(energy per request); sigma is estimated as sqrt(mean(d^2) / 2),
which counts a systematic drift as noise too (conservative), with a chi-square 95%
interval on n pairs. From it, the smallest difference the study's paired rounds can
resolve: a per-round log ratio of two variants has SD sigma x sqrt(2), so with n rounds
its 95% half-width is t(0.975, n - 1) x sigma x sqrt(2 / n); a ratio closer to 1 than
that is indistinguishable from noise on this machine.
"""

from __future__ import annotations

import math
from typing import Any


def noise_floor(trials: list[dict[str, Any]], n_rounds: int) -> dict[str, Any] | None:
    """Run-to-run spread (%, with 95% CI) of the baseline sentinel's energy, and the resolvable difference."""
    from scipy import stats

    d = []
    for t in trials:
        if t["variant"] != "baseline":
            continue
        runs = (t.get("contention") or {}).get("sentinel_energy_per_request_j") or []
        for before, after in zip(runs[0::2], runs[1::2], strict=False):
            if before and after:
                d.append(math.log(after / before))
    if not d:
        return None
    n = len(d)
    sigma = math.sqrt(sum(x * x for x in d) / (2 * n))
    lo = sigma * math.sqrt(n / stats.chi2.ppf(0.975, n))
    hi = sigma * math.sqrt(n / stats.chi2.ppf(0.025, n))
    out: dict[str, Any] = {
        "pairs": n,
        "sigma_log": sigma,
        "spread_pct": 100 * math.expm1(sigma),
        "spread_ci95_pct": [100 * math.expm1(lo), 100 * math.expm1(hi)],
        "rounds": n_rounds,
        "method": (
            "baseline sentinel served before and after each trial's inference rounds (the same requests); "
            "sigma = sqrt(mean(ln(after/before)^2) / 2), chi-square 95% CI; resolvable = t(0.975, n-1) x sigma x "
            "sqrt(2/n) for n paired rounds"
        ),
    }
    if n_rounds >= 2:
        half = stats.t.ppf(0.975, n_rounds - 1) * sigma * math.sqrt(2.0 / n_rounds)
        out["resolvable_pct"] = 100 * math.expm1(half)
    return out
