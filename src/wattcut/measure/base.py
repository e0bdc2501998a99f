"""Meter contract and the records it produces. Units are in the field names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one hardware component over one window.

    Attributes:
        component: ``cpu``, ``ram`` or ``gpu``.
        energy_j: Joules, or None when the component could not be measured.
        method: Short identifier of how the number was obtained (``cpu-time-model``...).
        estimated: True when the number comes from a model, not a hardware counter.
        source: One sentence on the method, with any assumed constants.
    """

    component: str
    energy_j: float | None
    method: str
    estimated: bool
    source: str


class Meter(Protocol):
    """Measures one component. ``begin`` snapshots; ``end`` turns a snapshot into energy.

    Meters keep no per-window state, so any number of windows can be open (nested) at once.
    """

    component: str

    def begin(self) -> Any:
        """Snapshot whatever the meter needs at the start of a window."""
        ...

    def end(self, start: Any) -> ComponentEnergy:
        """Energy since ``start``."""
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
        energy: Per-component energy.
    """

    phase: str
    duration_s: float
    samples: int = 0
    tokens: int = 0
    requests: int = 0
    step: str | None = None
    cpu_time_s: float = 0.0
    energy: list[ComponentEnergy] = field(default_factory=list)

    @property
    def energy_j(self) -> float | None:
        """Sum over measured components (None if none was measured)."""
        values = [c.energy_j for c in self.energy if c.energy_j is not None]
        return sum(values) if values else None

    @property
    def estimated(self) -> bool:
        """True if any component in the sum is a model estimate."""
        return any(c.estimated for c in self.energy if c.energy_j is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form with derived per-sample, per-token and per-1,000-request energy."""
        d = asdict(self)
        total = self.energy_j
        d["energy"] = {c.component: {k: v for k, v in asdict(c).items() if k != "component"} for c in self.energy}
        d["energy_j"] = total
        d["estimated"] = self.estimated
        d["energy_per_sample_j"] = total / self.samples if total is not None and self.samples else None
        d["energy_per_token_j"] = total / self.tokens if total is not None and self.tokens else None
        d["energy_per_1k_requests_j"] = 1000 * total / self.requests if total is not None and self.requests else None
        return d
