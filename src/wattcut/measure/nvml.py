"""NVIDIA GPU energy from NVML.

Preferred: the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules,
Volta and newer), read at window edges after synchronising the device so that queued
kernels are billed to the window that launched them. Fallback, for older GPUs or when the
counter fails mid-window: power samples (``nvmlDeviceGetPowerUsage``, milliwatts) taken by
a background thread every ``interval_s`` and at the edges, integrated with the trapezoid
rule. Every reading says which path produced it; an NVML error never crashes a study.

GPU temperature and enforced power limit are recorded at the end of each window (the
seed studies report thermals). ``pynvml`` (package ``nvidia-ml-py``) is imported lazily.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from wattcut.measure.base import ComponentEnergy

COUNTER_UNCERTAINTY = 0.05
SAMPLING_UNCERTAINTY = 0.15  # the power sensor is a trailing average sampled part of the time (SC24, Yang et al.)


def torch_sync() -> None:
    """Wait for queued CUDA work, if torch is loaded and CUDA initialised."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def probe() -> tuple[Any, str]:
    """Import and initialise NVML; returns (pynvml module or None, reason if unusable)."""
    try:
        import pynvml
    except ImportError:
        return None, 'NVML bindings not installed (pip install "wattcut[nvml]")'
    try:
        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            return None, "NVML sees no GPU"
    except Exception as e:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return None, f"no NVIDIA GPU/driver ({e})"
    return pynvml, ""


class NvmlMeter:
    """Energy of the NVIDIA GPUs visible to this process, summed as component ``gpu``."""

    name = "nvml"
    components: tuple[str, ...] = ("gpu",)

    def __init__(self, nvml: Any, interval_s: float = 1.0, sync: Callable[[], None] = torch_sync) -> None:
        self.nvml = nvml
        self.sync = sync
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self.names = [self._safe(nvml.nvmlDeviceGetName, h) for h in self.handles]
        self.has_counter = [self._safe(nvml.nvmlDeviceGetTotalEnergyConsumption, h) is not None for h in self.handles]
        self._samples: list[list[tuple[float, float]]] = [[] for _ in self.handles]  # (t, watts)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(interval_s,), name="wattcut-nvml", daemon=True)
        self._thread.start()

    def _safe(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # any NVMLError: unsupported, GPU lost, driver reset
            return None

    def _sample(self) -> None:
        now = time.time()
        for i, h in enumerate(self.handles):
            mw = self._safe(self.nvml.nvmlDeviceGetPowerUsage, h)
            if mw is not None:
                with self._lock:
                    self._samples[i].append((now, mw / 1000.0))
                    if len(self._samples[i]) > 100_000:  # bound memory on very long runs
                        del self._samples[i][:50_000]

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self._sample()

    def begin(self) -> Any:
        """Synchronise, then snapshot counters (mJ) and a power sample."""
        self.sync()
        self._sample()
        counters = [self._safe(self.nvml.nvmlDeviceGetTotalEnergyConsumption, h) for h in self.handles]
        return time.time(), counters

    def _integrate(self, i: int, t0: float, t1: float) -> float | None:
        with self._lock:
            pts = [(t, w) for t, w in self._samples[i] if t0 - 1e-3 <= t <= t1 + 1e-3]
        if not pts:
            return None
        if len(pts) == 1:
            return pts[0][1] * (t1 - t0)  # one sample: instant power x duration
        joules = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(pts, pts[1:], strict=False))
        # extend the first and last samples to the window edges
        return joules + pts[0][1] * (pts[0][0] - t0) + pts[-1][1] * (t1 - pts[-1][0])

    def end(self, start: Any) -> list[ComponentEnergy]:
        """Synchronise, then energy since ``start`` summed over devices."""
        t0, counters0 = start
        self.sync()
        self._sample()
        t1 = time.time()
        total, methods, devices, errors = 0.0, set(), [], []
        for i, h in enumerate(self.handles):
            c1 = self._safe(self.nvml.nvmlDeviceGetTotalEnergyConsumption, h)
            dev: dict[str, Any] = {"index": i, "name": self.names[i]}
            if counters0[i] is not None and c1 is not None and c1 >= counters0[i]:
                joules: float | None = (c1 - counters0[i]) / 1000.0
                methods.add("nvml-counter")
            else:
                joules = self._integrate(i, t0, t1)
                why = "no energy counter on this GPU" if not self.has_counter[i] else "counter read failed mid-window"
                methods.add("nvml-power-sampling")
                errors.append(f"GPU {i}: {why}")
            dev["energy_j"] = joules
            dev["temperature_c"] = self._safe(self.nvml.nvmlDeviceGetTemperature, h, 0)  # 0 = NVML_TEMPERATURE_GPU
            limit = self._safe(self.nvml.nvmlDeviceGetEnforcedPowerLimit, h)
            dev["power_limit_w"] = None if limit is None else limit / 1000.0
            devices.append(dev)
            if joules is None:
                errors.append(f"GPU {i}: no power sample either")
            else:
                total += joules
        measured = [d for d in devices if d["energy_j"] is not None]
        method = "+".join(sorted(methods)) if measured else "none"
        counter_only = methods == {"nvml-counter"}
        source = (
            f"measured: NVML {'energy counter' if counter_only else 'power samples integrated'} on "
            f"{len(measured)}/{len(devices)} GPU(s), device synchronised at window edges"
            + (f"; fallback: {'; '.join(errors)}" if errors else "")
        )
        return [
            ComponentEnergy(
                "gpu",
                total if measured else None,
                method,
                False,
                source,
                COUNTER_UNCERTAINTY if counter_only else SAMPLING_UNCERTAINTY,
                details={"devices": devices},
            )
        ]

    def close(self) -> None:
        """Stop sampling (NVML stays initialised: other code may use it)."""
        self._stop.set()
        self._thread.join(timeout=2)
