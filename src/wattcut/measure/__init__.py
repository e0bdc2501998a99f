"""Energy measurement: meters behind one small interface, and named phase windows.

- ``base.Meter``: ``begin() -> state`` and ``end(state) -> ComponentEnergy``.
- ``cputime.CpuTimeMeter``, ``ram.RamRssMeter``: models for machines without counters,
  always labelled ``estimated`` with the assumed watts in ``source``.
- ``null.NullMeter``: a component that is absent (nothing to measure).
- ``session.EnergySession``: ``with session.phase("infer", samples=n): ...`` records a
  :class:`~wattcut.measure.base.PhaseRecord` per window; windows may nest.
"""

from wattcut.measure.base import ComponentEnergy, Meter, PhaseRecord
from wattcut.measure.session import EnergySession, default_meters

__all__ = ["ComponentEnergy", "EnergySession", "Meter", "PhaseRecord", "default_meters"]
