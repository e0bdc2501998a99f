"""The metric spec: how to read a task's primary quality metric, defined once for every layer.

Records store it (``metric_spec``); statistics, the report, the CSV and the CLI read the
primary metric's key, label, direction and bounds from it, never a literal metric name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattcut.store.records import Phase, Trial


@dataclass(frozen=True)
class MetricSpec:
    """How to read a task's primary quality metric.

    Attributes:
        key: The metric's key in the task's metrics dict (``accuracy``, ``perplexity``).
        label: Human-readable name for tables and axes.
        higher_is_better: Direction: accuracy up, perplexity down.
        bounded: The metric lives in [0, 1] (a bootstrap interval is meaningful, and an
            absolute margin in points is the natural non-inferiority margin).
        unit: Unit for display (``""`` for fractions and ratios).
        secondary: Other metrics of the task the variant table shows, as (key, label).
    """

    key: str
    label: str
    higher_is_better: bool
    bounded: bool
    unit: str = ""
    format: str = ".4f"  # display format of one value
    version: int = 1
    # Other metrics of the task shown beside the primary one: (key in its metrics, label), same format.
    secondary: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain form, stored with every record."""
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any] | None) -> MetricSpec:
        """Read a stored spec; records written before specs existed meant accuracy."""
        if not d:
            return ACCURACY
        fields = {k: d[k] for k in ("key", "label", "higher_is_better", "bounded", "unit", "format") if k in d}
        return MetricSpec(**fields, secondary=tuple((str(k), str(v)) for k, v in d.get("secondary") or ()))

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``, for labels."""
        return "higher is better" if self.higher_is_better else "lower is better"


ACCURACY = MetricSpec("accuracy", "accuracy", higher_is_better=True, bounded=True)


def infer_phase(trial: Trial) -> Phase | None:
    """The infer phase whose energy per request drives decisions: ``[study] energy_task``'s, else the primary task's."""
    return trial.infer_phase()


def primary_spec(trials: Sequence[Trial]) -> MetricSpec:
    """The primary metric spec of a study's records (the first record that has one; else accuracy)."""
    return MetricSpec.from_dict(next((t.metric_spec for t in trials if t.metric_spec), None))


def quality(trial: Trial, spec: MetricSpec) -> float | None:
    """The primary metric's value in one record (None when it was not computed)."""
    v = trial.metric(spec.key)
    return None if v is None else float(v)


def oriented(value: float | None, spec: MetricSpec) -> float | None:
    """``value`` turned so that higher is better (perplexity is negated), for tests and Pareto fronts."""
    return None if value is None else (value if spec.higher_is_better else -value)


def margin_in_units(spec: MetricSpec, margin: float, margin_type: str, baseline_mean: float | None) -> float | None:
    """The non-inferiority margin in the metric's own units.

    ``absolute``: ``margin`` itself (0.01 = one accuracy point); ``relative``: a share of the
    baseline's mean (0.02 = perplexity may rise by 2%); ``auto``: absolute for bounded
    metrics, relative for unbounded ones.
    """
    kind = margin_type if margin_type != "auto" else ("absolute" if spec.bounded else "relative")
    if kind == "absolute":
        return margin
    return None if baseline_mean is None else margin * abs(baseline_mean)


def describe_margin(spec: MetricSpec, margin: float, margin_type: str) -> str:
    """The margin in words, e.g. ``1 accuracy point`` or ``a 2% rise in perplexity``."""
    kind = margin_type if margin_type != "auto" else ("absolute" if spec.bounded else "relative")
    worse = "drop" if spec.higher_is_better else "rise"
    if kind == "relative":
        return f"a {100 * margin:g}% {worse} in {spec.label}"
    if spec.bounded:
        return f"{100 * margin:g} {spec.label} point{'s' if margin != 0.01 else ''}"
    return f"a {worse} of {margin:g}{spec.unit and ' ' + spec.unit} in {spec.label}"
