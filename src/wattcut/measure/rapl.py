"""Intel/AMD RAPL energy counters from Linux powercap sysfs.

Reads ``<root>/intel-rapl:N/energy_uj`` (one package per socket → ``cpu``) and the
``dram`` sub-zone when present (→ ``ram``). ``<root>`` is ``/sys/class/powercap`` unless
``WATTCUT_POWERCAP_ROOT`` points elsewhere (tests, containers with sysfs mounted aside).

Counters wrap at ``max_energy_range_uj``. A background thread reads every counter each
``interval_s`` (1 s default) so that no window can miss a wrap, however long it is;
window edges read the counters too, so short windows are exact.

RAPL counts the whole package (every process on the socket): the idle baseline and net
energy (gross - idle power x duration) give the share attributable to the study.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut.measure.base import ComponentEnergy

UNCERTAINTY = 0.05  # RAPL is itself a model-backed counter; a few percent against wall meters is typical

PERMISSION_FIX = (
    "Since Linux 5.10 energy_uj is readable by root only. Fix: run as root, or "
    "`sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*/*/energy_uj` "
    "(resets on reboot), or add a udev rule; until then CPU energy is estimated from CPU time."
)


def powercap_root() -> Path:
    """The powercap sysfs root in force."""
    return Path(os.environ.get("WATTCUT_POWERCAP_ROOT", "/sys/class/powercap"))


@dataclass
class _Domain:
    component: str  # "cpu" or "ram"
    label: str  # e.g. "package-0", "package-0/dram"
    path: Path
    max_uj: int
    last_uj: int = 0
    total_uj: int = 0  # monotonic: wraps folded in


def discover(root: Path | None = None) -> tuple[list[_Domain], str]:
    """Find readable RAPL domains; returns (domains, reason if none usable)."""
    root = powercap_root() if root is None else root
    if not root.is_dir():
        return [], f"no {root}: no RAPL counters on this machine (typical of VMs); this energy is estimated instead"
    packages = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    if not packages:
        return [], f"{root} has no intel-rapl package zones"
    domains: list[_Domain] = []
    try:
        for pkg in packages:
            name = (pkg / "name").read_text().strip()
            domains.append(_domain("cpu", name, pkg))
            for sub in sorted(pkg.glob(f"{pkg.name}:*")):
                if (sub / "name").read_text().strip() == "dram":
                    domains.append(_domain("ram", f"{name}/dram", sub))
    except PermissionError as e:
        return [], f"RAPL counters are not readable ({e.filename}). {PERMISSION_FIX}"
    except (OSError, ValueError) as e:
        return [], f"RAPL counters could not be read: {e}"
    return domains, ""


def _domain(component: str, label: str, path: Path) -> _Domain:
    d = _Domain(component, label, path, int((path / "max_energy_range_uj").read_text()))
    d.last_uj = int((path / "energy_uj").read_text())
    return d


class RaplMeter:
    """CPU package (and DRAM, when exposed) energy from RAPL counters."""

    name = "rapl"

    def __init__(self, domains: list[_Domain], interval_s: float = 1.0) -> None:
        self._domains = domains
        self.components = tuple(sorted({d.component for d in domains}))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(interval_s,), name="wattcut-rapl", daemon=True)
        self._thread.start()

    def _read(self) -> dict[str, int]:
        """Fold new counter values into the monotonic totals; returns totals per domain."""
        with self._lock:
            for d in self._domains:
                now = int((d.path / "energy_uj").read_text())
                delta = now - d.last_uj
                if delta < 0:  # the counter wrapped since the last read
                    delta += d.max_uj
                d.total_uj += delta
                d.last_uj = now
            return {d.label: d.total_uj for d in self._domains}

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self._read()
            except OSError:
                return  # counters vanished; edge reads will report the error

    def begin(self) -> Any:
        """Snapshot the monotonic totals."""
        return self._read()

    def end(self, start: Any) -> list[ComponentEnergy]:
        """Energy per component since ``start``."""
        now = self._read()
        out = []
        for comp in self.components:
            labels = [d.label for d in self._domains if d.component == comp]
            joules = sum(now[lab] - start[lab] for lab in labels) / 1e6
            out.append(
                ComponentEnergy(
                    comp,
                    joules,
                    self.name,
                    False,
                    f"measured: RAPL counters {', '.join(labels)} (whole package{'s' if len(labels) > 1 else ''}, "
                    "all processes)",
                    UNCERTAINTY,
                    details={"domains": labels},
                )
            )
        return out

    def close(self) -> None:
        """Stop the polling thread."""
        self._stop.set()
        self._thread.join(timeout=2)
