"""Public power models for CPUs and RAM without energy counters, shipped as versioned data with sources.

``data/power_models.json`` holds, per CPU microarchitecture, the minimum and maximum watts
per vCPU of the Cloud Carbon Footprint methodology (derived from SPECpower_ssj2008
results), and a RAM model (watts per GB) with a low and a high figure from other public
models. Every coefficient names its source, year and licence (a test checks it).

How the CPU-time meter uses the CPU model (``cputime.py``): in a window where this
process used ``cpu_s`` CPU seconds on ``n`` vCPUs over ``wall_s`` seconds, its utilisation
is ``u = cpu_s / (n x wall_s)``; CCF's average power of a vCPU at ``u`` is
``P(u) = min + u x (max - min)``, and the process is billed its busy share,
``energy = cpu_s x P(u)`` (that is ``u`` times the CCF energy of its vCPUs over the
window). The interval is ``[cpu_s x min, cpu_s x max]``: what a busy CPU second costs at
the two ends of the load curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from wattcut.measure.microarch import Microarch

# wattcut's microarchitecture names -> CCF's architecture rows (AMD by core: CCF groups EPYC generations)
_CCF_BY_CORE = {
    "Zen": "EPYC 1st Gen",
    "Zen 2": "EPYC 2nd Gen",
    "Zen 3": "EPYC 3rd Gen",
    "Zen 4": "EPYC 4th Gen",
    "Zen 4c": "EPYC 4th Gen",
    "Zen 5": "EPYC 5th Gen",
    "Zen 5c": "EPYC 5th Gen",
}
_CCF_ARM = {"Neoverse N1": "Graviton2", "Neoverse V1": "Graviton3", "Neoverse V2": "Graviton4"}


@lru_cache(maxsize=1)
def data() -> dict[str, Any]:
    """The shipped power-model data."""
    return json.loads((files("wattcut.measure") / "data" / "power_models.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CpuPowerModel:
    """Watts per vCPU at idle (min) and at full load (max) for one CPU family, with its provenance."""

    architecture: str
    min_w_per_vcpu: float
    max_w_per_vcpu: float
    source: str
    year: int
    licence: str
    name: str = "Cloud Carbon Footprint (SPECpower)"

    def w_at(self, utilisation: float) -> float:
        """Average watts of a vCPU at ``utilisation`` in [0, 1] (linear between min and max)."""
        u = min(1.0, max(0.0, utilisation))
        return self.min_w_per_vcpu + u * (self.max_w_per_vcpu - self.min_w_per_vcpu)

    def describe(self) -> str:
        """One line for ``wattcut env`` and the report's method section."""
        return (
            f"{self.name}, {self.architecture}: {self.min_w_per_vcpu:.3f}-{self.max_w_per_vcpu:.3f} W per vCPU "
            f"(idle-full load), {self.year}"
        )


def ccf_architecture(march: Microarch) -> str | None:
    """The CCF row for an inferred microarchitecture, or None."""
    if march.name is None:
        return None
    if march.vendor == "amd":
        return _CCF_BY_CORE.get(march.core or "")
    if march.vendor == "arm":
        return _CCF_ARM.get(march.name)
    return march.name


def cpu_model(march: Microarch) -> CpuPowerModel | None:
    """The shipped CPU power model for ``march``, or None when there is none."""
    arch = ccf_architecture(march)
    for m in data()["cpu"]["models"]:
        if m["architecture"] == arch:
            return CpuPowerModel(
                m["architecture"], m["min_w_per_vcpu"], m["max_w_per_vcpu"], m["source"], m["year"], m["licence"]
            )
    return None


@dataclass(frozen=True)
class RamPowerModel:
    """Watts per GB: central, low and high, and where each came from."""

    w_per_gb: float
    low_w_per_gb: float
    high_w_per_gb: float
    memory_type: str
    sources: dict[str, str]

    def describe(self) -> str:
        """One line for ``wattcut env`` and the report."""
        return (
            f"{self.w_per_gb:.3f} W/GB ({self.low_w_per_gb:.3f}-{self.high_w_per_gb:.3f}, {self.memory_type} "
            "low figure from Boavizta, high from Cloud Carbon Footprint)"
        )


def memory_type(march: Microarch | None) -> str:
    """DDR4 or DDR5 for the CPU family (Boavizta's table, plus the SP5 EPYCs), DDR4 when unknown."""
    table = data()["ram"]["memory_type"]
    ddr5 = set(table["DDR5"]) | set(table["DDR5_added_by_wattcut"]["families"])
    return "DDR5" if march is not None and march.name in ddr5 else "DDR4"


def ram_model(march: Microarch | None, central_w_per_gb: float | None = None) -> RamPowerModel:
    """The RAM model for this machine; ``central_w_per_gb`` replaces the central figure (``[measure] ram_w_per_gb``)."""
    r = data()["ram"]
    kind = memory_type(march)
    central = r["central"]["w_per_gb"] if central_w_per_gb is None else central_w_per_gb
    low, high = r["low"][kind], r["high"]["w_per_gb"]
    return RamPowerModel(
        central,
        min(low, central),
        max(high, central),
        kind,
        {"central": r["central"]["source"], "low": r["low"]["source"], "high": r["high"]["source"]},
    )


def every_coefficient() -> list[tuple[str, float, dict[str, Any]]]:
    """(name, value, the record that cites it) for every number in the data file, for the provenance test."""
    d = data()
    out: list[tuple[str, float, dict[str, Any]]] = []
    for m in d["cpu"]["models"]:
        out += [
            (f"cpu {m['architecture']} min", m["min_w_per_vcpu"], m),
            (f"cpu {m['architecture']} max", m["max_w_per_vcpu"], m),
        ]
    r = d["ram"]
    out.append(("ram central", r["central"]["w_per_gb"], r["central"]))
    out += [(f"ram low {k}", r["low"][k], r["low"]) for k in ("DDR4", "DDR5")]
    out.append(("ram high", r["high"]["w_per_gb"], r["high"]))
    g = d["generic"]
    out += [(f"generic {k}", g[k], g) for k in ("w_per_vcpu", "low_w_per_vcpu", "high_w_per_vcpu")]
    return out
