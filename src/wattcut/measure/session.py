"""Named, nestable measurement windows over a set of meters, with an idle baseline."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from wattcut.measure.base import ComponentEnergy, Meter, PhaseRecord
from wattcut.measure.cputime import process_cpu_s


@dataclass(frozen=True)
class IdleBaseline:
    """Power drawn while the study does nothing, per component.

    Attributes:
        duration_s: Length of the idle window.
        power_w: Idle watts per component (None where the component was not measured).
        methods: Method per component.
    """

    duration_s: float
    power_w: dict[str, float | None]
    methods: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


class EnergySession:
    """Collects :class:`PhaseRecord` windows.

    Example:
        >>> session = EnergySession([])
        >>> with session.phase("infer") as rec:
        ...     rec.samples = 10
        >>> session.records[0].phase
        'infer'
    """

    def __init__(
        self, meters: Sequence[Meter], idle: IdleBaseline | None = None, crosscheck: Any = None, thermal: Any = None
    ) -> None:
        self.meters = list(meters)
        self.idle = idle
        self.thermal = thermal  # a ``thermal.ThermalSampler``: CPU temperatures per window, or None
        self.crosscheck = crosscheck  # a second tool over the same top-level windows (``crosscheck.py``), or None
        self.records: list[PhaseRecord] = []
        self._open: list[str] = []  # names of the windows open now, outermost first

    def measure_idle(self, seconds: float) -> IdleBaseline:
        """Measure an idle window of ``seconds`` and use it as the baseline from now on."""
        with self.phase("idle") as rec:
            time.sleep(seconds)
        self.records.remove(rec)
        power = {c.component: (None if c.energy_j is None else c.energy_j / rec.duration_s) for c in rec.energy}
        self.idle = IdleBaseline(rec.duration_s, power, {c.component: c.method for c in rec.energy})
        return self.idle

    def _net(self, reading: ComponentEnergy, duration_s: float) -> ComponentEnergy:
        if self.idle is None or reading.energy_j is None:
            return reading
        watts = self.idle.power_w.get(reading.component)
        if watts is None:
            return reading
        return replace(reading, net_energy_j=reading.energy_j - watts * duration_s)

    @contextmanager
    def window(self, name: str) -> Iterator[PhaseRecord]:
        """A metered window that is not stored as a phase (per-request energy inside a phase).

        The caller reads the yielded record after the ``with`` block; its energy is part
        of the enclosing phase's, so it must never be added to it.
        """
        with self.phase(name) as rec:
            yield rec
        self.records.remove(rec)

    @contextmanager
    def phase(self, name: str, step: str | None = None) -> Iterator[PhaseRecord]:
        """Measure the body as phase ``name``; the body fills in samples/tokens/requests.

        The record is appended only if the body finishes: a failed phase has no energy.
        """
        import psutil

        parent = self._open[-1] if self._open else None
        rec = PhaseRecord(phase=name, duration_s=0.0, step=step, started_at=time.time(), parent=parent)
        proc = psutil.Process()
        # The cross-check's task opens before our meters and closes after them: it sees the same work
        # (CodeCarbon tasks do not nest, so only top-level windows are cross-checked).
        checked = self.crosscheck is not None and parent is None and name != "idle"
        if checked:
            self.crosscheck.begin(name)
        starts = [m.begin() for m in self.meters]
        heat = self.thermal.begin() if self.thermal is not None else None
        cpu0, t0 = process_cpu_s(proc), time.perf_counter()
        self._open.append(name)
        try:
            yield rec
        finally:
            self._open.pop()
            if checked and sys.exc_info()[0] is not None:
                self.crosscheck.end()  # close the task of a failed window; it is not recorded
        rec.duration_s = time.perf_counter() - t0
        rec.cpu_time_s = process_cpu_s(proc) - cpu0
        readings = [r for m, s in zip(self.meters, starts, strict=True) for r in m.end(s)]
        rec.energy = [self._net(r, rec.duration_s) for r in readings]
        if self.thermal is not None:
            rec.thermal = self.thermal.end(heat)
        if checked:
            rec.crosscheck = self.crosscheck.end()
        self.records.append(rec)

    def take(self) -> list[PhaseRecord]:
        """Return and clear the records collected so far."""
        out, self.records = self.records, []
        return out

    def close(self) -> None:
        """Close every meter (and the cross-check)."""
        for m in self.meters:
            m.close()
        if self.crosscheck is not None:
            self.crosscheck.close()
        if self.thermal is not None:
            self.thermal.close()
