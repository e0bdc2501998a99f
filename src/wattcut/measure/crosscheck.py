"""A second, independent estimate of the same windows: CodeCarbon's offline tracker, run in the same process.

``[measure] crosscheck = "codecarbon"`` opens a CodeCarbon task around every top-level
metered window of the study (each phase, each interleaved inference round), so the two
tools see exactly the same work. CodeCarbon's figures are stored beside wattcut's in each
phase (``crosscheck``) and shown side by side in the report, with the reasons they differ:

- CPU: wattcut bills this process's CPU seconds (kernel CPU clock) x the microarchitecture's
  load curve (Cloud Carbon Footprint, SPECpower); CodeCarbon without RAPL, in process mode,
  bills the CPU's TDP (its own table; a default when the model is unknown) x the process's
  share of all cores, over wall time.
- RAM: wattcut bills this process's resident memory x W/GB; CodeCarbon 3 bills a constant
  for the whole machine (5 W per guessed DIMM, at least 10 W) over wall time, whatever the
  process uses.

CodeCarbon's sampling thread is set to a long period, so it measures at the task edges
only and does not add CPU work inside the windows.
"""

from __future__ import annotations

from typing import Any

from wattcut.units import J_PER_KWH

SAMPLE_S = 3600  # CodeCarbon's background sampling period: edges only (start_task/stop_task measure)


class CodeCarbonCrosscheck:
    """CodeCarbon's ``OfflineEmissionsTracker`` with one task per window."""

    name = "codecarbon"

    def __init__(self, country_iso_code: str = "USA") -> None:
        import logging

        import codecarbon
        from codecarbon import OfflineEmissionsTracker

        self.version = codecarbon.__version__
        self.tracker = OfflineEmissionsTracker(
            country_iso_code=country_iso_code,  # only its energy is compared; wattcut prices CO2e itself
            output_methods=[],  # nothing written: the figures go into wattcut's store
            log_level="error",
            tracking_mode="process",
            measure_power_secs=SAMPLE_S,
            allow_multiple_runs=True,
        )
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self.tracker.start()
        self.cpu = self._describe("CPU")
        self.ram = self._describe("RAM")

    def _describe(self, kind: str) -> str:
        for h in getattr(self.tracker, "_hardware", []):
            if type(h).__name__ == kind:
                tdp = getattr(h, "_tdp", None)
                mode = getattr(h, "_mode", None)
                model = getattr(h, "_model", None)
                parts = [
                    f"{kind} {model}" if model else kind,
                    f"mode {mode}" if mode else "",
                    f"TDP {tdp} W" if tdp else "",
                ]
                return ", ".join(p for p in parts if p)
        return kind

    def begin(self, name: str) -> None:
        """Open a CodeCarbon task for the window ``name``."""
        self.tracker.start_task(name)

    def end(self) -> dict[str, Any]:
        """Close the task; its energy per component in joules."""
        d = self.tracker.stop_task()
        return {
            "tool": f"codecarbon {self.version}",
            "cpu_j": float(d.cpu_energy) * J_PER_KWH,
            "ram_j": float(d.ram_energy) * J_PER_KWH,
            "gpu_j": float(d.gpu_energy) * J_PER_KWH,
            "energy_j": float(d.energy_consumed) * J_PER_KWH,
            "duration_s": float(d.duration),
            "cpu_power_w": float(d.cpu_power),
            "ram_power_w": float(d.ram_power),
            "hardware": f"{self.cpu}; {self.ram}",
        }

    def close(self) -> None:
        """Stop the tracker."""
        import contextlib

        with contextlib.suppress(Exception):  # a tracker that failed to stop has nothing left to lose
            self.tracker.stop()


def merged(parts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The sum of several windows' cross-check figures (interleaved rounds), or None if any is missing."""
    if not parts or any(p is None for p in parts):
        return None
    first = dict(parts[0])  # type: ignore[arg-type]
    for key in ("cpu_j", "ram_j", "gpu_j", "energy_j", "duration_s"):
        first[key] = sum(p[key] for p in parts if p is not None)
    return first
