"""RAM energy modelled from this process's resident memory.

energy_j = mean resident set size (GB, at the window's edges) x W per GB x wall seconds.

The default 0.375 W/GB is the 3 W per 8 GB DIMM rule of thumb used by CodeCarbon's
RAM model; only this process's memory is billed, not the whole machine's.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from wattcut.measure.base import ComponentEnergy


class RamRssMeter:
    """RAM energy = mean RSS x assumed W/GB x duration."""

    component = "ram"

    def __init__(self, w_per_gb: float) -> None:
        self.w_per_gb = w_per_gb
        self._proc = psutil.Process()

    def begin(self) -> Any:
        """Snapshot time and RSS."""
        return time.perf_counter(), self._proc.memory_info().rss

    def end(self, start: Any) -> ComponentEnergy:
        """Energy of the memory held since ``start``."""
        t0, rss0 = start
        seconds = time.perf_counter() - t0
        gb = (rss0 + self._proc.memory_info().rss) / 2 / 1e9
        return ComponentEnergy(
            component="ram",
            energy_j=gb * self.w_per_gb * seconds,
            method="ram-rss-model",
            estimated=True,
            source=(
                f"model, not measured: {gb:.3f} GB mean resident memory of this process x {self.w_per_gb:g} W/GB "
                f"x {seconds:.3f} s (assumed; set [measure] ram_w_per_gb)"
            ),
        )
