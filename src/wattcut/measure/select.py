"""Choose meters by availability, in a documented order, and say why others were not used.

Order per component:

- cpu: RAPL package counters → CPU-time model (estimated).
- ram: RAPL DRAM counter → RAM model (``[measure] ram_model``, estimated). Never both.
- gpu: NVML (counter, else power sampling) → nothing (no GPU is not a zero GPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wattcut.measure.base import Meter
from wattcut.settings import MeasureConfig


@dataclass(frozen=True)
class Probe:
    """Whether a meter can be used here, and why (not)."""

    component: str
    meter: str
    available: bool
    reason: str


def select_meters(
    cfg: MeasureConfig, gpu: bool = True, rss_bytes: Callable[[], int] | None = None
) -> tuple[list[Meter], list[Probe]]:
    """Meters to use on this machine, and the probe results behind the choice.

    Args:
        cfg: Measurement settings.
        gpu: Probe NVML for GPUs.
        rss_bytes: For the RAM model: the resident memory to bill (default: this process).
    """
    import wattcut.measure.nvml as nvml
    import wattcut.measure.rapl as rapl
    from wattcut.measure.cputime import CpuTimeMeter, cpu_power
    from wattcut.measure.ram import RamModelMeter

    meters: list[Meter] = []
    probes: list[Probe] = []
    domains, why = rapl.discover()
    covered: set[str] = set()
    if domains:
        meter = rapl.RaplMeter(domains, cfg.interval_s)
        meters.append(meter)
        covered = set(meter.components)
    probes.append(Probe("cpu", "rapl", "cpu" in covered, "package counters readable" if "cpu" in covered else why))
    if "cpu" not in covered:
        power = cpu_power(cfg.cpu_w_per_core)
        meters.append(CpuTimeMeter(power))
        what = (
            f"estimate: CPU-s x P(utilisation), {power.origin}"
            if power.model is not None
            else f"estimate: {power.w_per_core:.3g} W per busy core, {power.origin}"
        )
        probes.append(Probe("cpu", "cpu-time-model", True, what))
    ram_why = why if not domains else "RAPL exposes no DRAM domain here"
    probes.append(Probe("ram", "rapl", "ram" in covered, "DRAM counter readable" if "ram" in covered else ram_why))
    if "ram" not in covered:
        meters.append(RamModelMeter(cfg.ram_model, cfg.ram_w_per_gb, rss_bytes, cfg.interval_s))
        ram_meter = meters[-1]
        how = ram_meter.power.describe() if cfg.ram_model == "rss" else "CodeCarbon v3 DIMM rule"  # type: ignore[attr-defined]
        probes.append(Probe("ram", f"ram-{cfg.ram_model}-model", True, f"estimate: {how} (see [measure] ram_model)"))
    if gpu:
        lib, gpu_why = nvml.probe()
        if lib is not None:
            meters.append(nvml.NvmlMeter(lib, cfg.interval_s))
        probes.append(Probe("gpu", "nvml", lib is not None, "NVML available" if lib is not None else gpu_why))
    return meters, probes
