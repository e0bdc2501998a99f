"""CPU energy modelled from this process's CPU time, for machines without counters.

energy_j = (user + system CPU seconds of this process and its waited-for children)
           x active watts per busy logical core

CPU time, not wall time: other tenants on a shared VM and idle waits are not billed to
the study. The watts per core come, in this order, from ``[measure] cpu_w_per_core``;
from the CPU's TDP in the shipped CPU power table divided by the logical CPUs of one
package, on bare metal only (a VM's topology says nothing about the host's package); or
from a generic 4 W per logical core (CodeCarbon's figure for unknown CPUs). Idle/static
package power is not included: the figure is the active share attributable to the work,
so it is already "net" of idle. It is always labelled ``estimated``.
"""

from __future__ import annotations

import csv
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import psutil

from wattcut.measure.base import ComponentEnergy

GENERIC_W_PER_CORE = 4.0
UNCERTAINTY = 0.5  # the watts are an assumption; ±50% covers 2-6 W per busy core on current server CPUs


def process_cpu_s(proc: psutil.Process) -> float:
    """User + system CPU seconds of ``proc`` and its waited-for children.

    For this process the kernel's per-process CPU clock is read (nanosecond resolution):
    ``/proc`` counts in 10 ms ticks, too coarse for a short window such as one round of
    a fast variant's requests. Children are only known in ticks.
    """
    t = proc.cpu_times()
    children = t.children_user + t.children_system
    if proc.pid == os.getpid() and hasattr(time, "CLOCK_PROCESS_CPUTIME_ID"):
        return time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) + children
    return t.user + t.system + children


def _normalise(name: str) -> str:
    name = re.sub(r"\((R|TM|tm|r)\)|@.*$|\bCPU\b|\bProcessor\b|\d+-Core", " ", name)
    return " ".join(name.split()).casefold()


@lru_cache(maxsize=1)
def _tdp_table() -> dict[str, float]:
    text = (files("wattcut.measure") / "data" / "cpu_power.csv").read_text(encoding="utf-8")
    table = {}
    for row in csv.DictReader(text.splitlines()):
        try:
            table[_normalise(row["Name"])] = float(row["TDP"])
        except (TypeError, ValueError):
            continue  # a few upstream rows are malformed (e.g. "27.29.5"); no guessing
    return table


@dataclass(frozen=True)
class CpuPower:
    """Assumed active watts per busy logical core, and where the figure came from."""

    w_per_core: float
    origin: str


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_power(user_w_per_core: float | None, cpuinfo: dict[str, str] | None = None) -> CpuPower:
    """Resolve the watts per core (see module docstring for the order)."""
    if user_w_per_core is not None:
        return CpuPower(user_w_per_core, "set by [measure] cpu_w_per_core")
    info = _cpuinfo() if cpuinfo is None else cpuinfo
    model = info.get("model name", "unknown CPU")
    virtual = "hypervisor" in info.get("flags", "").split()
    tdp = _tdp_table().get(_normalise(model))
    siblings = int(info.get("siblings", "0") or 0)
    if tdp is not None and siblings > 0 and not virtual:
        return CpuPower(tdp / siblings, f"TDP {tdp:g} W of {model} / {siblings} logical CPUs per package")
    why = "a virtual machine: the host's package is unknown" if virtual else f"{model} is not in the CPU power table"
    return CpuPower(GENERIC_W_PER_CORE, f"generic {GENERIC_W_PER_CORE:g} W per logical core ({why})")


class CpuTimeMeter:
    """CPU energy = process CPU time x assumed active watts per core."""

    name = "cpu-time-model"
    components: tuple[str, ...] = ("cpu",)

    def __init__(self, power: CpuPower) -> None:
        self.power = power
        self._proc = psutil.Process()

    def begin(self) -> Any:
        """Snapshot CPU seconds."""
        return process_cpu_s(self._proc)

    def end(self, start: Any) -> list[ComponentEnergy]:
        """Energy of the CPU seconds used since ``start``."""
        cpu_s = max(0.0, process_cpu_s(self._proc) - start)
        w = self.power.w_per_core
        return [
            ComponentEnergy(
                component="cpu",
                energy_j=cpu_s * w,
                method=self.name,
                estimated=True,
                source=(
                    f"model, not measured: {cpu_s:.3f} CPU-s of this process and its waited-for children "
                    f"x {w:.3g} W per busy core "
                    f"({self.power.origin}; set [measure] cpu_w_per_core); no hardware energy counter was read"
                ),
                uncertainty_rel=UNCERTAINTY,
                details={"cpu_time_s": cpu_s, "w_per_core": w},
            )
        ]

    def close(self) -> None:
        """Nothing to release."""
