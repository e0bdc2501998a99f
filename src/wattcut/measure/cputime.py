"""CPU energy modelled from this process's CPU time, for machines without counters.

energy_j = (user + system CPU seconds of this process and its waited-for children)
           x watts per busy vCPU

CPU time, not wall time: other tenants on a shared VM and idle waits are not billed to
the study. The watts come, in this order, from:

1. ``[measure] cpu_w_per_core`` (the user's figure; its ±50% band is a judgement);
2. the power model of the CPU's microarchitecture (``microarch.py`` infers it from CPUID
   family/model and flags, VMs included; ``power_models.py`` ships Cloud Carbon Footprint's
   SPECpower-derived min/max watts per vCPU): ``P(u) = min + u (max - min)`` at the window's
   utilisation ``u = cpu_s / (vCPUs x wall_s)``, with ``[cpu_s x min, cpu_s x max]`` as the
   figure's interval;
3. the CPU's TDP in the shipped table divided by its logical CPUs, on bare metal only (a
   VM's topology says nothing about the host's package), ±50%;
4. the labelled last resort: a generic 4 W per logical core (CodeCarbon's figure for CPUs
   it cannot identify), ±50%.

It is always labelled ``estimated``, with ``low_j`` and ``high_j``.
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
from wattcut.measure.follow import cpu_s as followed_cpu_s
from wattcut.measure.microarch import infer, parse_cpuinfo
from wattcut.measure.power_models import CpuPowerModel, cpu_model

GENERIC_W_PER_CORE = 4.0
UNCERTAINTY = 0.5  # a flat figure (user, TDP, generic) is an assumption: ±50%


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
    """Watts per busy vCPU, and where the figure came from.

    Attributes:
        w_per_core: The flat figure (at full load, for a model).
        origin: Where it came from, in words.
        model: The microarchitecture's power model, when one is in force (then the watts follow
            the utilisation and the interval is the model's min-max).
        microarch: The inferred microarchitecture's label, when known.
    """

    w_per_core: float
    origin: str
    model: CpuPowerModel | None = None
    microarch: str | None = None

    def watts(self, utilisation: float) -> tuple[float, float, float]:
        """(central, low, high) watts per busy vCPU at ``utilisation``."""
        if self.model is not None:
            return self.model.w_at(utilisation), self.model.min_w_per_vcpu, self.model.max_w_per_vcpu
        w = self.w_per_core
        return w, w * (1 - UNCERTAINTY), w * (1 + UNCERTAINTY)


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    try:
        return parse_cpuinfo(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def cpu_power(user_w_per_core: float | None, cpuinfo: dict[str, str] | None = None) -> CpuPower:
    """Resolve the watts per busy vCPU (see module docstring for the order)."""
    info = _cpuinfo() if cpuinfo is None else cpuinfo
    march = infer(info)
    label = None if march.name is None else f"{march.label()}, {march.evidence}"
    if user_w_per_core is not None:
        return CpuPower(user_w_per_core, "set by [measure] cpu_w_per_core", microarch=label)
    model = cpu_model(march)
    if model is not None:
        return CpuPower(model.max_w_per_vcpu, f"{model.describe()}; microarchitecture {label}", model, label)
    name = info.get("model name", "unknown CPU")
    virtual = "hypervisor" in info.get("flags", "").split()
    tdp = _tdp_table().get(_normalise(name))
    siblings = int(info.get("siblings", "0") or 0)
    if tdp is not None and siblings > 0 and not virtual:
        return CpuPower(tdp / siblings, f"TDP {tdp:g} W of {name} / {siblings} logical CPUs per package", None, label)
    unknown = march.label() if march.name is None else f"{march.label()} has no shipped power model"
    why = "a virtual machine: the host's package is unknown" if virtual else f"{name} is not in the CPU power table"
    return CpuPower(
        GENERIC_W_PER_CORE,
        f"generic {GENERIC_W_PER_CORE:g} W per logical core, the last resort ({unknown}; {why})",
        None,
        label,
    )


class CpuTimeMeter:
    """CPU energy = process CPU time x assumed active watts per core."""

    name = "cpu-time-model"
    components: tuple[str, ...] = ("cpu",)

    def __init__(self, power: CpuPower, vcpus: int | None = None) -> None:
        self.power = power
        self.vcpus = vcpus or len(os.sched_getaffinity(0))
        self._proc = psutil.Process()

    def begin(self) -> Any:
        """Snapshot CPU seconds (this process's and followed servers') and the wall clock."""
        return process_cpu_s(self._proc), followed_cpu_s(), time.monotonic()

    def end(self, start: Any) -> list[ComponentEnergy]:
        """Energy of the CPU seconds used since ``start``, with its interval."""
        cpu0, others0, wall0 = start
        others = followed_cpu_s()  # a server followed since the window began: its CPU seconds in the window
        served_s = sum(max(0.0, c - others0[pid]) for pid, c in others.items() if pid in others0)
        cpu_s = max(0.0, process_cpu_s(self._proc) - cpu0) + served_s
        wall_s = max(1e-9, time.monotonic() - wall0)
        u = min(1.0, cpu_s / (self.vcpus * wall_s))
        w, low, high = self.power.watts(u)
        how = (
            f"{w:.3g} W per busy vCPU at {u:.0%} utilisation of {self.vcpus} vCPUs"
            if self.power.model is not None
            else f"{w:.3g} W per busy core"
        )
        return [
            ComponentEnergy(
                component="cpu",
                energy_j=cpu_s * w,
                method=self.name,
                estimated=True,
                source=(
                    f"model, not measured: {cpu_s:.3f} CPU-s of this process and its waited-for children"
                    f"{f' (incl. {served_s:.3f} CPU-s of the server it runs)' if served_s else ''} x {how} "
                    f"({self.power.origin}; set [measure] cpu_w_per_core); no hardware energy counter was read"
                ),
                # the interval's wider side, relative to the central figure (kept for readers of uncertainty_rel)
                uncertainty_rel=max(high - w, w - low) / w if w > 0 else None,
                low_j=cpu_s * low,
                high_j=cpu_s * high,
                details={
                    "cpu_time_s": cpu_s,
                    "w_per_core": w,
                    "utilisation": u,
                    "vcpus": self.vcpus,
                    **({"served_cpu_time_s": served_s} if served_s else {}),
                },
            )
        ]

    def close(self) -> None:
        """Nothing to release."""
