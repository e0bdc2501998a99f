"""Meter contract and the records it produces. Units are in the field names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from wattcut.measure.crosscheck import merged
from wattcut.units import kwh_or_none


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one hardware component over one window.

    Attributes:
        component: ``cpu``, ``ram`` or ``gpu``.
        energy_j: Gross joules, or None when the component could not be measured.
        method: Short identifier of how the number was obtained (``rapl``, ``nvml-counter``,
            ``cpu-time-model``...).
        estimated: True when the number comes from a model, not a hardware counter.
        source: One sentence on the method, with any assumed constants.
        uncertainty_rel: Relative uncertainty (0.05 = ±5%) of ``energy_j``, a documented
            judgement per method (see docs/measurement.md), not a statistical interval.
        net_energy_j: ``energy_j`` minus the idle baseline power x duration, when an idle
            baseline was measured (None otherwise).
        low_j: The low end of an estimate's interval, from its model's range (None when measured).
        high_j: The high end (None when measured).
        details: Extra facts (GPU temperature, power limit, devices...).
    """

    component: str
    energy_j: float | None
    method: str
    estimated: bool
    source: str
    uncertainty_rel: float | None = None
    net_energy_j: float | None = None
    low_j: float | None = None
    high_j: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Meter(Protocol):
    """Measures one or more components over windows.

    ``begin`` snapshots; ``end`` turns a snapshot into one reading per component. Meters
    keep no per-window state, so any number of windows can be open (nested) at once.
    """

    name: str
    components: tuple[str, ...]

    def begin(self) -> Any:
        """Snapshot whatever the meter needs at the start of a window."""
        ...

    def end(self, start: Any) -> list[ComponentEnergy]:
        """Energy per component since ``start``."""
        ...

    def close(self) -> None:
        """Release threads and handles."""
        ...


@dataclass
class PhaseRecord:
    """One measured window: a phase of a trial (``train``, ``compress``, ``evaluate``, ``infer``).

    Attributes:
        phase: Phase name.
        duration_s: Wall-clock seconds.
        samples: Items processed (training rows x epochs, evaluated rows, inference requests x batch).
        tokens: Non-padding tokens processed.
        requests: Requests served (inference), for per-request figures.
        step: For ``compress``: the technique, with its position in the pipeline.
        cpu_time_s: CPU seconds used by this process in the window.
        started_at: Unix time the window opened (for time-resolved carbon intensity).
        parent: The enclosing phase when windows nest (``calibrate`` inside ``compress``);
            a nested window's energy is part of its parent's, so never add the two.
        energy: Per-component energy.
        crosscheck: A second tool's figures for the same window (``[measure] crosscheck``), or None.
        thermal: CPU temperature min/mean/max over the window (``thermal.py``), or why there is none.
    """

    phase: str
    duration_s: float
    samples: int = 0
    tokens: int = 0
    requests: int = 0
    step: str | None = None
    cpu_time_s: float = 0.0
    started_at: float = 0.0
    parent: str | None = None
    energy: list[ComponentEnergy] = field(default_factory=list)
    crosscheck: dict[str, Any] | None = None
    thermal: dict[str, Any] | None = None

    @property
    def energy_j(self) -> float | None:
        """Gross sum over measured components (None if none was measured)."""
        values = [c.energy_j for c in self.energy if c.energy_j is not None]
        return sum(values) if values else None

    @property
    def net_energy_j(self) -> float | None:
        """Net (idle-subtracted) sum, when every measured component has a net value."""
        measured = [c for c in self.energy if c.energy_j is not None]
        if not measured or any(c.net_energy_j is None for c in measured):
            return None
        return sum(c.net_energy_j for c in measured if c.net_energy_j is not None)

    @property
    def interval_j(self) -> tuple[float, float] | None:
        """(low, high) of the gross sum: each estimate's model range, a measured component's own value."""
        measured = [c for c in self.energy if c.energy_j is not None]
        if not measured or not any(c.estimated for c in measured):
            return None
        low = high = 0.0
        for c in measured:
            assert c.energy_j is not None
            lo = c.energy_j if c.low_j is None else c.low_j
            hi = c.energy_j if c.high_j is None else c.high_j
            low, high = low + lo, high + hi
        return low, high

    @property
    def estimated(self) -> bool:
        """True if any component in the sum is a model estimate."""
        return any(c.estimated for c in self.energy if c.energy_j is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form with kWh and per-sample, per-token and per-1,000-request energy."""
        d = asdict(self)
        total = self.energy_j
        d["energy"] = {
            c.component: {
                **{k: v for k, v in asdict(c).items() if k != "component"},
                "energy_kwh": kwh_or_none(c.energy_j),
            }
            for c in self.energy
        }
        d["energy_j"] = total
        interval = self.interval_j
        d["low_j"], d["high_j"] = (None, None) if interval is None else interval
        d["energy_kwh"] = kwh_or_none(total)
        d["net_energy_j"] = self.net_energy_j
        d["estimated"] = self.estimated
        d["energy_per_sample_j"] = total / self.samples if total is not None and self.samples else None
        d["energy_per_token_j"] = total / self.tokens if total is not None and self.tokens else None
        d["energy_per_1k_requests_j"] = 1000 * total / self.requests if total is not None and self.requests else None
        return d


def merge(records: list[PhaseRecord]) -> PhaseRecord:
    """One window's worth of totals from several windows of the same phase and step (interleaved rounds).

    Counts, durations, CPU time and per-component energy add up; the method, source and
    uncertainty of each component are the first window's (all come from the same meter).
    """
    first = records[0]
    energy = []
    for comp in first.energy:
        parts = [next(c for c in r.energy if c.component == comp.component) for r in records]
        gross = [c.energy_j for c in parts]
        net = [c.net_energy_j for c in parts]
        low, high = [c.low_j for c in parts], [c.high_j for c in parts]
        energy.append(
            ComponentEnergy(
                component=comp.component,
                energy_j=None if any(g is None for g in gross) else sum(g for g in gross if g is not None),
                method=comp.method,
                estimated=comp.estimated,
                source=comp.source,
                uncertainty_rel=comp.uncertainty_rel,
                net_energy_j=None if any(n is None for n in net) else sum(n for n in net if n is not None),
                low_j=None if any(x is None for x in low) else sum(x for x in low if x is not None),
                high_j=None if any(x is None for x in high) else sum(x for x in high if x is not None),
                details=_merged_details([c.details for c in parts]),
            )
        )
    return PhaseRecord(
        phase=first.phase,
        duration_s=sum(r.duration_s for r in records),
        samples=sum(r.samples for r in records),
        tokens=sum(r.tokens for r in records),
        requests=sum(r.requests for r in records),
        step=first.step,
        cpu_time_s=sum(r.cpu_time_s for r in records),
        started_at=first.started_at,
        parent=first.parent,
        energy=energy,
        crosscheck=merged([r.crosscheck for r in records]),
        thermal=_merged_thermal([r.thermal for r in records]),
    )


def _merged_details(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Details of several windows: a per-window model's inputs are kept per window (its energy sums them)."""
    if len(parts) == 1 or "utilisation" not in parts[0]:
        return parts[0]
    return {"cpu_time_s": sum(d.get("cpu_time_s", 0.0) for d in parts), "windows": parts}


def _merged_thermal(parts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Min of mins, sample-weighted mean, max of maxes over several windows (rounds of one phase)."""
    if not parts or any(p is None for p in parts):
        return None
    temps = [p["cpu_temp_c"] for p in parts if p is not None and p.get("cpu_temp_c")]
    if not temps:
        return dict(parts[0])  # type: ignore[arg-type]
    weights = [p.get("samples", 1) for p in parts if p is not None and p.get("cpu_temp_c")]
    return {
        "cpu_temp_c": {
            "min": min(t["min"] for t in temps),
            "mean": sum(t["mean"] * w for t, w in zip(temps, weights, strict=True)) / sum(weights),
            "max": max(t["max"] for t in temps),
        },
        "samples": sum(weights),
        "sensors": parts[0].get("sensors", []),  # type: ignore[union-attr]
    }
