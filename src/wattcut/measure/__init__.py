"""Energy measurement: meters behind one small interface, named windows, carbon.

- ``base.Meter``: ``begin() -> state``, ``end(state) -> [ComponentEnergy]``, ``close()``.
- Meters, one module each: ``rapl.RaplMeter`` (measured), ``nvml.NvmlMeter`` (measured),
  ``cputime.CpuTimeMeter`` and ``ram.RamModelMeter`` (estimated, assumed watts named in
  every reading), ``null.NullMeter`` (absent component).
- ``select.select_meters``: the availability-ordered choice, with the reasons.
- ``session.EnergySession``: ``with session.phase("infer"): ...`` records a
  :class:`~wattcut.measure.base.PhaseRecord`; windows nest; an idle baseline gives net energy.
- ``carbon``: energy → CO2e from a versioned data pack, a constant or a time series, with PUE.
"""

from wattcut.measure.base import ComponentEnergy, Meter, PhaseRecord
from wattcut.measure.session import EnergySession, IdleBaseline

__all__ = ["ComponentEnergy", "EnergySession", "IdleBaseline", "Meter", "PhaseRecord"]
