"""RAM energy models, for machines without a DRAM energy counter.

``ram_model`` in ``[measure]``:

- ``rss`` (default): mean resident set size of this process (GB, at the window's edges)
  x ``ram_w_per_gb`` (0.375 W/GB = 3 W per 8 GB, CodeCarbon's rule before v3) x wall
  seconds. Only this process's memory is billed.
- ``dimm``: CodeCarbon v3's rule: a DIMM count guessed from the machine's total RAM,
  5 W per DIMM with diminishing marginal power (x0.9 for DIMMs 5-8, x0.8 for 9-16, x0.7
  beyond), at least 10 W, for the whole window: a machine-level constant.
- ``seed003``: the ``dimm`` figure x 7, the correction seed study 003 applied for nodes
  with 16 populated DIMM slots.

When RAPL exposes a DRAM domain, the RAPL meter measures RAM instead and these models
are not used (never both: no double counting).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from wattcut.measure.base import ComponentEnergy
from wattcut.measure.follow import rss_bytes as followed_rss_bytes
from wattcut.measure.power_models import RamPowerModel, ram_model

UNCERTAINTY = 1.0  # RAM power is the least certain component: ±100%


def dimm_power_w(total_gb: float) -> tuple[float, int]:
    """CodeCarbon v3's DIMM rule: (watts, DIMM count) for ``total_gb`` of RAM."""
    steps = ((2, 1), (16, 2), (32, 4), (64, 4), (128, 8))
    dimms = next((n for limit, n in steps if total_gb <= limit), min(32, round(total_gb / 16)))
    watts = 0.0
    for i in range(1, dimms + 1):
        watts += 5.0 * (1.0 if i <= 4 else 0.9 if i <= 8 else 0.8 if i <= 16 else 0.7)
    return max(10.0, watts), dimms


class RamModelMeter:
    """RAM energy from a documented model (see module docstring)."""

    components: tuple[str, ...] = ("ram",)

    def __init__(
        self,
        model: str,
        w_per_gb: float,
        rss_bytes: Callable[[], int] | None = None,
        interval_s: float = 1.0,
        power: RamPowerModel | None = None,
    ) -> None:
        """Create the meter.

        Args:
            model: ``rss``, ``dimm`` or ``seed003``.
            w_per_gb: Watts per GB for ``rss``.
            rss_bytes: Resident memory to bill, sampled every ``interval_s`` by a thread
                (e.g. a child process tree's, for ``wattcut measure``). None = this process,
                read at the window's edges only (no thread).
            interval_s: Sampling period when ``rss_bytes`` is given.
            power: The RAM power model whose low and high W/GB give ``rss``'s interval (default: this
                machine's, from ``power_models.py``).
        """
        self.model = model
        self.w_per_gb = w_per_gb
        if power is None:
            from wattcut.measure.microarch import this_machine

            power = ram_model(this_machine(), w_per_gb)
        self.power = power
        self.name = f"ram-{model}-model"
        self._proc = psutil.Process()
        # this process and any server it runs to serve a variant (``follow.py``)
        self._rss = rss_bytes or (lambda: self._proc.memory_info().rss + followed_rss_bytes())
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if rss_bytes is not None:
            self._thread = threading.Thread(target=self._poll, args=(interval_s,), name="wattcut-rss", daemon=True)
            self._thread.start()

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self._samples.append((time.perf_counter(), self._rss()))

    def _mean_rss(self, t0: float, rss0: int) -> float:
        inside = [r for t, r in self._samples if t >= t0]
        # With an external source (a child process), the begin value predates the child.
        values = [*inside, self._rss()] if self._thread is not None else [rss0, *inside, self._rss()]
        return sum(values) / len(values)

    def begin(self) -> Any:
        """Snapshot time and RSS."""
        return time.perf_counter(), self._rss()

    def end(self, start: Any) -> list[ComponentEnergy]:
        """Energy of the memory over the window."""
        t0, rss0 = start
        seconds = time.perf_counter() - t0
        if self.model == "rss":
            gb = self._mean_rss(t0, rss0) / 1e9
            joules = gb * self.w_per_gb * seconds
            p = self.power
            low, high = gb * p.low_w_per_gb * seconds, gb * p.high_w_per_gb * seconds
            how = (
                f"{gb:.3f} GB mean resident memory x {self.w_per_gb:g} W/GB x {seconds:.3f} s "
                f"(range {p.low_w_per_gb:.3g}-{p.high_w_per_gb:.3g} W/GB: {p.memory_type} DIMMs in Boavizta's model to "
                "Cloud Carbon Footprint's coefficient; set [measure] ram_w_per_gb or ram_model)"
            )
            details: dict[str, Any] = {"rss_gb": gb, "w_per_gb": self.w_per_gb}
        else:
            total_gb = psutil.virtual_memory().total / 1e9
            watts, dimms = dimm_power_w(total_gb)
            factor = 7.0 if self.model == "seed003" else 1.0
            joules = watts * factor * seconds
            how = (
                f"{dimms} DIMMs guessed from {total_gb:.1f} GB total RAM, {watts:g} W (CodeCarbon v3 rule)"
                f"{' x 7 (seed 003 correction)' if factor != 1 else ''} x {seconds:.3f} s: the whole machine's RAM"
            )
            details = {"dimms": dimms, "power_w": watts * factor}
            low, high = joules * (1 - UNCERTAINTY), joules * (1 + UNCERTAINTY)
        return [
            ComponentEnergy(
                "ram",
                joules,
                self.name,
                True,
                f"model, not measured: {how}",
                uncertainty_rel=UNCERTAINTY if self.model != "rss" else self._rss_uncertainty(),
                low_j=low,
                high_j=high,
                details=details,
            )
        ]

    def _rss_uncertainty(self) -> float | None:
        """The interval's wider side relative to the central W/GB."""
        p = self.power
        if self.w_per_gb <= 0:
            return None
        return max(p.high_w_per_gb - self.w_per_gb, self.w_per_gb - p.low_w_per_gb) / self.w_per_gb

    def close(self) -> None:
        """Stop the sampling thread, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
