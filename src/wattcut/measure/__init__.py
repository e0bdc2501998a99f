"""Energy measurement: meters behind one small interface, named windows, carbon.

- ``base.Meter``: ``begin() -> state``, ``end(state) -> [ComponentEnergy]``, ``close()``.
- Meters, one module each: ``rapl.RaplMeter`` (measured), ``nvml.NvmlMeter`` (measured),
  ``cputime.CpuTimeMeter`` and ``ram.RamModelMeter`` (estimated, assumed watts named in
  every reading), ``null.NullMeter`` (absent component).
- ``select.select_meters``: the availability-ordered choice, with the reasons.
- ``session.EnergySession``: ``with session.phase("infer"): ...`` records a
  :class:`~wattcut.measure.base.PhaseRecord`; windows nest; an idle baseline gives net energy.
- ``window``: the public API, ``wattcut.measure("name")``, windows around the user's own code.
- ``carbon``: energy → CO2e from a versioned data pack, a constant or a time series, with PUE.

This package is also callable: ``wattcut.measure("train")`` is ``wattcut.measure.window.measure("train")``.
"""

import sys
import types
from typing import Any

from wattcut.measure.base import ComponentEnergy, Meter, PhaseRecord
from wattcut.measure.session import EnergySession, IdleBaseline

__all__ = ["ComponentEnergy", "EnergySession", "IdleBaseline", "Meter", "PhaseRecord"]


class _CallableModule(types.ModuleType):
    # ``wattcut.measure`` is both this package (its submodules are imported as ``wattcut.measure.x``) and the
    # public window function: a module attribute of that name would be replaced by the package on first import.
    def __call__(self, name: str = "measure", **settings: Any) -> Any:
        from wattcut.measure.window import measure

        return measure(name, **settings)


sys.modules[__name__].__class__ = _CallableModule
