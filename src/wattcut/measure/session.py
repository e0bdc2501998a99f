"""Named, nestable measurement windows over a set of meters."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from wattcut.config import MeasureConfig
from wattcut.measure.base import Meter, PhaseRecord
from wattcut.measure.cputime import CpuTimeMeter, process_cpu_s


def default_meters(cfg: MeasureConfig) -> list[Meter]:
    """Meters for this machine, in order of preference per component.

    No hardware counter backends exist yet, so CPU and RAM are modelled (and labelled
    estimated). A GPU, if present, is not measured by this version and is reported as
    such rather than left out silently.
    """
    from wattcut.measure.null import NullMeter
    from wattcut.measure.ram import RamRssMeter

    meters: list[Meter] = [CpuTimeMeter(cfg.cpu_w_per_core), RamRssMeter(cfg.ram_w_per_gb)]
    if _has_cuda():
        meters.append(NullMeter("gpu", "a GPU is present but this wattcut version has no GPU meter yet"))
    return meters


def _has_cuda() -> bool:
    import sys

    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


class EnergySession:
    """Collects :class:`PhaseRecord` windows.

    Example:
        >>> session = EnergySession([])
        >>> with session.phase("infer") as rec:
        ...     rec.samples = 10
        >>> session.records[0].phase
        'infer'
    """

    def __init__(self, meters: Sequence[Meter]) -> None:
        self.meters = list(meters)
        self.records: list[PhaseRecord] = []

    @contextmanager
    def phase(self, name: str, step: str | None = None) -> Iterator[PhaseRecord]:
        """Measure the body as phase ``name``; the body fills in samples/tokens/requests.

        The record is appended only if the body finishes: a failed phase has no energy.
        """
        import psutil

        rec = PhaseRecord(phase=name, duration_s=0.0, step=step)
        proc = psutil.Process()
        starts = [m.begin() for m in self.meters]
        cpu0, t0 = process_cpu_s(proc), time.perf_counter()
        yield rec
        rec.duration_s = time.perf_counter() - t0
        rec.cpu_time_s = process_cpu_s(proc) - cpu0
        rec.energy = [m.end(s) for m, s in zip(self.meters, starts, strict=True)]
        self.records.append(rec)

    def take(self) -> list[PhaseRecord]:
        """Return and clear the records collected so far."""
        out, self.records = self.records, []
        return out
