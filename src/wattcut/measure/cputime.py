"""CPU energy modelled from this process's CPU time, for machines without counters.

energy_j = (user + system CPU seconds of this process and its children) x W per busy core.

CPU time, not wall time: other tenants on a shared VM and idle waits are not billed to
the study. The watts are an assumption (``[measure] cpu_w_per_core``), so the reading is
always ``estimated``. Idle (static) power of the package is not included: the figure is
the active share attributable to this work.
"""

from __future__ import annotations

from typing import Any

import psutil

from wattcut.measure.base import ComponentEnergy


def process_cpu_s(proc: psutil.Process) -> float:
    """User + system CPU seconds of ``proc`` and its waited-for children."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


class CpuTimeMeter:
    """CPU energy = process CPU time x assumed active watts per core."""

    component = "cpu"

    def __init__(self, w_per_core: float) -> None:
        self.w_per_core = w_per_core
        self._proc = psutil.Process()

    def begin(self) -> Any:
        """Snapshot CPU seconds."""
        return process_cpu_s(self._proc)

    def end(self, start: Any) -> ComponentEnergy:
        """Energy of the CPU seconds used since ``start``."""
        cpu_s = max(0.0, process_cpu_s(self._proc) - start)
        return ComponentEnergy(
            component="cpu",
            energy_j=cpu_s * self.w_per_core,
            method="cpu-time-model",
            estimated=True,
            source=(
                f"model, not measured: {cpu_s:.3f} CPU-s of this process x {self.w_per_core:g} W per busy core "
                "(assumed; set [measure] cpu_w_per_core); no hardware energy counter was read"
            ),
        )
