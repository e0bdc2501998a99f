"""CPU temperatures per phase, from hwmon or thermal zones where the machine exposes them.

Linux exposes temperatures as ``/sys/class/hwmon/hwmon*/temp*_input`` (with the chip's
``name``: ``k10temp``, ``coretemp``...) and ``/sys/class/thermal/thermal_zone*/temp`` (with
a ``type``), in millidegrees Celsius. A VM usually exposes neither; then every phase says
"not exposed by this machine" instead of a number. A background thread samples the
hottest sensor every ``interval_s``; a window's min/mean/max come from the samples inside
it plus a reading at each edge. ``WATTCUT_SYSFS_ROOT`` points elsewhere (tests).
GPU temperature and power limit come from NVML with the GPU's energy (``nvml.py``).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

NOT_EXPOSED = "not exposed by this machine"
CPU_CHIPS = ("k10temp", "coretemp", "zenpower", "cpu_thermal", "x86_pkg_temp", "acpitz")


def _root() -> Path:
    return Path(os.environ.get("WATTCUT_SYSFS_ROOT", "/sys"))


def discover() -> list[tuple[str, Path]]:
    """(label, file) of every CPU temperature sensor found; CPU chips first, then any thermal zone."""
    root = _root()
    found: list[tuple[str, Path]] = []
    for chip in sorted((root / "class" / "hwmon").glob("hwmon*")):
        try:
            name = (chip / "name").read_text().strip()
        except OSError:
            continue
        if name in CPU_CHIPS:
            found += [(f"{name}/{f.name}", f) for f in sorted(chip.glob("temp*_input"))]
    for zone in sorted((root / "class" / "thermal").glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip()
        except OSError:
            continue
        if kind in CPU_CHIPS or "cpu" in kind.lower() or "pkg" in kind.lower():
            found.append((f"{zone.name}:{kind}", zone / "temp"))
    return found


class ThermalSampler:
    """Samples the hottest CPU sensor in a thread; summarises any window (min/mean/max in °C)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.sensors = discover()
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.sensors:
            self._thread = threading.Thread(target=self._poll, args=(interval_s,), name="wattcut-thermal", daemon=True)
            self._thread.start()

    def read_c(self) -> float | None:
        """The hottest sensor now, °C (None if none could be read)."""
        values = []
        for _, f in self.sensors:
            try:
                values.append(int(f.read_text().strip()) / 1000.0)
            except (OSError, ValueError):
                continue
        return max(values) if values else None

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            v = self.read_c()
            if v is not None:
                self._samples.append((time.monotonic(), v))

    def begin(self) -> Any:
        """A window's start: the time and an edge reading."""
        return time.monotonic(), self.read_c()

    def end(self, start: Any) -> dict[str, Any]:
        """The window's CPU temperature summary, or what was not exposed."""
        if not self.sensors:
            return {"cpu_temp_c": None, "status": NOT_EXPOSED}
        t0, first = start
        inside = [v for t, v in self._samples if t >= t0]
        values = [v for v in (first, *inside, self.read_c()) if v is not None]
        if not values:
            return {"cpu_temp_c": None, "status": "sensors found but unreadable"}
        return {
            "cpu_temp_c": {"min": min(values), "mean": statistics.fmean(values), "max": max(values)},
            "samples": len(values),
            "sensors": [label for label, _ in self.sensors],
        }

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
