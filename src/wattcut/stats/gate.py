"""The energy and quality gate's decision, from a study's statistics (``wattcut gate``).

Energy: the candidate's energy per request over the reference's, from paired interleaved rounds (the log-ratio t
CI of :func:`wattcut.stats.paired.log_ratio`). With a margin m, the candidate is

- *not worse* when the CI's upper end is below 1 + m (any increase is smaller than the margin),
- *a regression* when the CI's lower end is above 1 + m (proven more expensive by more than the margin),
- *inconclusive* otherwise: more rounds narrow the CI by sqrt(n); the rounds that would likely decide are
  (t x sd / distance)^2, the distance being from the mean log ratio to log(1 + m). When the CI comes from the
  trial means (the trials differed more than their rounds explain), more rounds do not narrow it: no count is
  given, and the reason says that more trials would.

Quality: the item-level paired non-inferiority test the study runs (one-sided 95%). Non-inferior when its lower
bound is above -margin; a regression when the matching upper bound, mean + (mean - lower), is below -margin;
inconclusive otherwise (more rounds do not help: the items are the same each trial; more items would).

The gate passes (exit 0) when quality is non-inferior and energy is not worse; fails (exit 1) when either is a
proven regression (or the candidate failed to build or serve); otherwise it is inconclusive (exit 3).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

Verdict = Literal["pass", "regression", "inconclusive"]
EXIT_CODES: dict[str, int] = {"pass": 0, "regression": 1, "inconclusive": 3}
GATE_VERSION = 1


@dataclass(frozen=True)
class EnergyCheck:
    """The energy half of the decision.

    Attributes:
        verdict: ``not worse``, ``regression`` or ``inconclusive``.
        ratio: Candidate / reference energy per request (geometric mean over paired rounds).
        ci95_low: Lower end of its 95% CI (None with fewer than two pairs).
        ci95_high: Upper end.
        n_pairs: Paired rounds.
        margin: The relative margin (0.05 = 5% more energy is tolerated).
        more_rounds: When inconclusive, about how many more paired rounds would likely decide (None: not
            estimable, e.g. the mean sits on the margin, or the CI is over trial means).
        by_trials: The CI is over the trials' means (they differed more than their rounds explain).
    """

    verdict: str
    ratio: float | None
    ci95_low: float | None
    ci95_high: float | None
    n_pairs: int
    margin: float
    more_rounds: int | None = None
    by_trials: bool = False  # the CI is over trial means: more trials, not more rounds, would narrow it


@dataclass(frozen=True)
class QualityCheck:
    """The quality half: the item-level non-inferiority test, oriented so that higher is better.

    Attributes:
        verdict: ``non-inferior``, ``regression`` or ``inconclusive``.
        metric: The primary metric's label.
        mean_diff: Candidate - reference per item (oriented; log scale for perplexity).
        lower_bound: One-sided 95% lower bound.
        upper_bound: One-sided 95% upper bound (mean + (mean - lower)).
        margin: The margin on the same scale.
        n_items: Items paired.
        scale: ``absolute`` or ``relative`` (perplexity: log ratio).
    """

    verdict: str
    metric: str
    mean_diff: float | None
    lower_bound: float | None
    upper_bound: float | None
    margin: float
    n_items: int
    scale: str


@dataclass(frozen=True)
class GateDecision:
    """What ``wattcut gate`` decided, and why (typed; ``to_dict`` for JSON)."""

    verdict: str
    exit_code: int
    energy: EnergyCheck
    quality: QualityCheck
    reasons: tuple[str, ...]
    schema_version: int = GATE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def energy_check(paired: dict[str, Any] | None, margin: float) -> EnergyCheck:
    """Decide the energy half from the paired log-ratio figures of one candidate."""
    from scipy import stats

    if not paired or paired.get("ci95_low") is None:
        n = 0 if not paired else int(paired.get("n_pairs") or 0)
        ratio = None if not paired or paired.get("ratio") is None else float(paired["ratio"])
        return EnergyCheck("inconclusive", ratio, None, None, n, margin, None)
    low, high, n = float(paired["ci95_low"]), float(paired["ci95_high"]), int(paired["n_pairs"])
    bound = 1.0 + margin
    if high < bound:
        return EnergyCheck("not worse", paired["ratio"], low, high, n, margin)
    if low > bound:
        return EnergyCheck("regression", paired["ratio"], low, high, n, margin)
    distance = abs(math.log(bound) - float(paired["mean_log_ratio"]))
    sd = float(paired.get("sd_log_ratio") or 0.0)
    more = None
    if distance > 1e-12 and sd > 0 and paired.get("basis") != "trials":
        needed = n
        for _ in range(20):  # t depends on n: a few fixed-point steps settle it
            t = float(stats.t.ppf(0.975, max(needed - 1, 1)))
            needed = math.ceil((t * sd / distance) ** 2)
        more = max(needed - n, 1)
    return EnergyCheck("inconclusive", paired["ratio"], low, high, n, margin, more, paired.get("basis") == "trials")


def quality_check(ni: dict[str, Any] | None, label: str) -> QualityCheck:
    """Decide the quality half from the item-level non-inferiority result of one candidate."""
    if not ni or ni.get("mean_diff") is None:
        return QualityCheck("inconclusive", label, None, None, None, 0.0, 0, "absolute")
    mean, lower = float(ni["mean_diff"]), float(ni["lower_bound"])
    margin = float(ni["margin"]) if ni.get("scale") != "relative" else math.log1p(float(ni["relative_margin"]))
    upper = 2 * mean - lower
    verdict = "non-inferior" if lower > -margin else "regression" if upper < -margin else "inconclusive"
    return QualityCheck(
        verdict, label, mean, lower, upper, margin, int(ni.get("n_items") or 0), str(ni.get("scale", "absolute"))
    )


def decide(statistics: dict[str, Any], candidate: str, energy_margin: float, failed: str | None = None) -> GateDecision:
    """The gate's decision for ``candidate`` from a study's statistics (``failed``: why it did not run)."""
    spec = statistics.get("metric_spec") or {}
    paired = ((statistics.get("paired") or {}).get(candidate) or {}).get("energy_per_request_j")
    ni = (statistics.get("non_inferiority") or {}).get(candidate)
    energy = energy_check(paired, energy_margin)
    quality = quality_check(ni, str(spec.get("label", "quality")))
    reasons: list[str] = []
    if failed is not None:
        reasons.append(f"the candidate failed: {failed}")
        return GateDecision("regression", EXIT_CODES["regression"], energy, quality, tuple(reasons))
    if energy.verdict == "regression":
        reasons.append(
            f"energy per request {energy.ratio:.3f}x the reference's (95% CI {energy.ci95_low:.3f}-"
            f"{energy.ci95_high:.3f}), above the {100 * energy_margin:g}% margin"
        )
    if quality.verdict == "regression":
        reasons.append(f"{quality.metric} proven worse than the reference by more than the margin")
    if reasons:
        verdict: Verdict = "regression"
    elif energy.verdict == "not worse" and quality.verdict == "non-inferior":
        verdict = "pass"
    else:
        verdict = "inconclusive"
        if energy.verdict == "inconclusive":
            more = (
                "; its trials differed more than their rounds explain, so more trials (not more rounds) would narrow it"
                if energy.by_trials
                else ""
                if energy.more_rounds is None
                else f"; about {energy.more_rounds} more paired rounds would likely decide"
            )
            reasons.append(f"the energy ratio's CI straddles the {100 * energy_margin:g}% margin{more}")
        if quality.verdict == "inconclusive":
            reasons.append(
                f"{quality.metric}: neither non-inferior nor proven worse at the margin (evaluate on more items)"
            )
    return GateDecision(verdict, EXIT_CODES[verdict], energy, quality, tuple(reasons))
