"""emissions.csv in CodeCarbon's column layout, one row per trial phase.

The first columns are CodeCarbon's (energies in kWh, powers in W, emissions in kg), so
tools that read CodeCarbon output read this file too. Columns CodeCarbon has no data for
here stay empty. wattcut appends its own columns at the end (prefixed ``wattcut_``): the
method of each component, whether the row is estimated, the intensity's provenance, an
estimate's low and high energy and emissions, and the cross-check's energy, which
CodeCarbon's file does not record.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut.store.records import Phase, Results
from wattcut.units import joules, kwh, kwh_or_none

CODECARBON_COLUMNS = [
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
    "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os", "python_version",
    "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
    "ram_total_size", "tracking_mode", "on_cloud", "pue", "wue", "water_consumed",
]  # fmt: skip
WATTCUT_COLUMNS = [
    "wattcut_variant", "wattcut_trial_index", "wattcut_phase", "wattcut_step", "wattcut_cpu_method",
    "wattcut_ram_method", "wattcut_gpu_method", "wattcut_estimated", "wattcut_intensity_g_per_kwh",
    "wattcut_intensity_source", "wattcut_intensity_year", "wattcut_intensity_basis", "wattcut_net_energy_kwh",
    "wattcut_energy_low_kwh", "wattcut_energy_high_kwh", "wattcut_emissions_low", "wattcut_emissions_high",
    "wattcut_crosscheck_energy_kwh",
]  # fmt: skip


def _kwh(phase: Phase, comp: str) -> float | None:
    e = phase.energy.get(comp)
    return None if e is None else kwh_or_none(e["energy_j"])


@dataclass(frozen=True)
class Window:
    """One metered window as emissions.csv lists it: whose it is (variant, trial), when it ended, its phase."""

    variant: str
    trial_index: int
    finished_at: str | None
    phase: Phase


def rows(results: Results) -> list[dict[str, Any]]:
    """The emissions.csv rows for a results document: one per trial phase."""
    windows = [Window(t.variant, t.trial_index, t.finished_at, p) for t in results.trials for p in t.phases]
    return window_rows(results.study, results.started_at, results.config, results.provenance, windows)


def window_rows(
    study: str, run_id: str | None, cfg: dict[str, Any], prov: dict[str, Any], windows: list[Window]
) -> list[dict[str, Any]]:
    """The emissions.csv rows of ``windows`` (a study's phases, or ``wattcut measure``'s one window)."""
    out = []
    for w in windows:
        p = w.phase
        c = p.carbon or {}
        seconds = p.duration_s
        kg = None if c.get("co2e_g") is None else c["co2e_g"] / 1000
        row: dict[str, Any] = dict.fromkeys(CODECARBON_COLUMNS, "")
        row.update(
            timestamp=w.finished_at or "",
            project_name=study,
            run_id=run_id,
            experiment_id=f"{w.variant}/{w.trial_index}/{p.phase}",
            duration=seconds,
            emissions=kg,
            emissions_rate=None if kg is None or not seconds else kg / seconds,
            energy_consumed=p.energy_kwh,
            country_name=c.get("intensity_location", ""),
            country_iso_code=cfg.get("carbon", {}).get("country") or "",
            region=cfg.get("carbon", {}).get("region") or "",
            os=prov.get("platform", ""),
            python_version=prov.get("python", ""),
            cpu_count=prov["cpu"].get("cores_available"),
            cpu_model=prov["cpu"].get("model"),
            gpu_count=len(prov.get("gpus", [])),
            gpu_model=", ".join(prov.get("gpus", [])),
            ram_total_size=prov.get("memory_gb"),
            tracking_mode="process",
            on_cloud="N",
            pue=c.get("pue"),
        )
        for comp in ("cpu", "gpu", "ram"):
            comp_kwh = _kwh(p, comp)
            row[f"{comp}_energy"] = comp_kwh
            row[f"{comp}_power"] = None if comp_kwh is None or not seconds else joules(comp_kwh) / seconds
            row[f"wattcut_{comp}_method"] = (p.energy.get(comp) or {}).get("method", "")
        row.update(
            wattcut_variant=w.variant,
            wattcut_trial_index=w.trial_index,
            wattcut_phase=p.phase,
            wattcut_step=p.step or "",
            wattcut_estimated=p.estimated,
            wattcut_intensity_g_per_kwh=c.get("intensity_g_per_kwh"),
            wattcut_intensity_source=c.get("intensity_source", ""),
            wattcut_intensity_year=c.get("intensity_year"),
            wattcut_intensity_basis=c.get("intensity_basis", ""),
            wattcut_net_energy_kwh=kwh_or_none(p.net_energy_j),
            # an estimate's interval (its models' ranges), and the cross-check tool's total for the same window
            wattcut_energy_low_kwh=kwh_or_none(p.low_j),
            wattcut_energy_high_kwh=kwh_or_none(p.high_j),
            wattcut_emissions_low=None if c.get("co2e_low_g") is None else c["co2e_low_g"] / 1000,
            wattcut_emissions_high=None if c.get("co2e_high_g") is None else c["co2e_high_g"] / 1000,
            wattcut_crosscheck_energy_kwh=None if not p.crosscheck else kwh(p.crosscheck["energy_j"]),
        )
        out.append(row)
    return out


def write(results: Results, path: Path) -> Path:
    """Write a study's emissions.csv."""
    return write_rows(rows(results), path)


def write_rows(table: list[dict[str, Any]], path: Path) -> Path:
    """Write emissions.csv rows (CodeCarbon's columns, then wattcut's)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CODECARBON_COLUMNS + WATTCUT_COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return path


def append_rows(table: list[dict[str, Any]], path: Path) -> Path:
    """Append rows to an emissions.csv (written with its header when absent or empty).

    Raises:
        UserInputError: The file's header is not this layout (another tool's file, or an older one).
    """
    header = CODECARBON_COLUMNS + WATTCUT_COLUMNS
    if not path.is_file() or path.stat().st_size == 0:
        return write_rows(table, path)
    with path.open(newline="", encoding="utf-8") as f:
        found = next(csv.reader(f), [])
    if found != header:
        from wattcut.errors import UserInputError

        raise UserInputError(
            f'"{path}" does not have the emissions.csv columns wattcut writes (CodeCarbon\'s, then wattcut_*), so '
            "rows cannot be appended to it.",
            "Give another file name, or move that file away.",
        )
    with path.open("a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, fieldnames=header).writerows(table)
    return path
