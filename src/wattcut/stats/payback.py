"""Carbon payback and deployment carbon, from stored phase energies alone.

Payback of a variant against the baseline it was derived from:

- one-off energy: the variant's own top-level phases (in the trials that built it: a
  variant built once per study and reused carries its build in one trial only) other than ``evaluate`` and
  ``infer``, i.e. compression with its calibration, recovery fine-tuning and distillation
  (nested windows are part of their parent and never added twice). The baseline's own
  fine-tuning is shared by every variant, so it is not charged to any of them; a variant
  that starts from its own pretrained model is charged its own fine-tuning (``train``);
- per-request saving: baseline minus variant mean inference energy per request;
- break-even requests = one-off energy / per-request saving; days = that / requests per day;
- yearly saving at ``[deploy] requests_per_day``: kWh, and kgCO2e per grid with PUE.

Energies are gross (what the meters reported), means over the stored trials.

Where the energy is an estimate, each figure also carries its ``*_range`` (low, high):
the same arithmetic at the low and at the high end of the power models' ranges (the
phases' ``low_j`` and ``high_j``), one consistent scenario per end. The statistics run on
the central values.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from wattcut.store.records import Phase, Trial
from wattcut.units import J_PER_KWH

DAYS_PER_YEAR = 365.0
ONE_OFF_EXCLUDED = ("evaluate", "infer", "explain")  # explain: an analysis of the variant, not part of making it


def built(trial: Trial) -> bool:
    """Whether this trial built its variant (False: it reused the one an earlier trial built once per study)."""
    return trial.build is None or not trial.build.reused


def own_start(trial: Trial) -> bool:
    """Whether the variant started from its own pretrained model (its training is then its own cost)."""
    return trial.derived_from is not None and "model" in trial.derived_from


def _one_off_phases(trial: Trial) -> list[Phase]:
    excluded = ONE_OFF_EXCLUDED if own_start(trial) else ONE_OFF_EXCLUDED + ("train",)
    return [p for p in trial.phases if p.parent is None and p.phase not in excluded]


def one_off_energy_j(trial: Trial) -> float | None:
    """Energy a variant spent becoming itself (None when a phase has no reading)."""
    energies = [p.energy_j for p in _one_off_phases(trial)]
    if any(e is None for e in energies):
        return None
    return float(sum(e for e in energies if e is not None))


def per_request_j(trial: Trial) -> float | None:
    """Inference energy per request of one trial."""
    p = trial.infer_phase()
    if p is None or p.energy_j is None or not p.requests:
        return None
    return float(p.energy_j / p.requests)


def per_request_range_j(trial: Trial) -> tuple[float, float] | None:
    """(low, high) inference energy per request of one trial, when its energy is an estimate with a range."""
    p = trial.infer_phase()
    if p is None or p.energy_j is None or not p.requests or p.low_j is None or p.high_j is None:
        return None
    return float(p.low_j / p.requests), float(p.high_j / p.requests)


def one_off_range_j(trial: Trial) -> tuple[float, float] | None:
    """(low, high) of :func:`one_off_energy_j`: each phase at one end of its interval (its value when it has none)."""
    phases = _one_off_phases(trial)
    if any(p.energy_j is None for p in phases):
        return None
    return (
        float(sum((p.energy_j if p.low_j is None else p.low_j) or 0.0 for p in phases)),
        float(sum((p.energy_j if p.high_j is None else p.high_j) or 0.0 for p in phases)),
    )


def _mean_range(values: list[tuple[float, float] | None]) -> tuple[float, float] | None:
    xs = [v for v in values if v is not None]
    if not xs:
        return None
    return statistics.fmean(v[0] for v in xs), statistics.fmean(v[1] for v in xs)


def _used_phases(trial: Trial) -> list[Phase]:
    """The phases a variant's payback and deployment figures are computed from."""
    return [p for p in trial.phases if p.parent is None and p.phase not in ("evaluate", "train", "explain")]


def _mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.fmean(xs) if xs else None


def grids(deploy: dict[str, Any]) -> list[dict[str, Any]]:
    """The deployment grids with value, source and year, from the data pack."""
    from wattcut.grids import grid

    out = []
    for spec in deploy.get("grids", []):
        g = grid(spec)
        out.append({"grid": spec, "g_per_kwh": g.g_per_kwh, "location": g.location, "source": g.source, "year": g.year})
    return out


def payback(config: dict[str, Any], trials: Sequence[Trial]) -> dict[str, Any]:
    """Payback, yearly savings and deployment CO2e for every variant."""
    deploy = config.get("deploy")
    if deploy is None:  # a store written before [deploy] existed: price it at the defaults, and say so
        from dataclasses import asdict

        from wattcut.settings_measure import DeployConfig

        deploy = {**asdict(DeployConfig()), "requests_per_day_source": "default (not stored with this study)"}
    rpd = float(deploy.get("requests_per_day", 0.0))
    pue = float(config.get("carbon", {}).get("pue", 1.0))
    grid_rows = grids(deploy)
    names = ["baseline", *(v["name"] for v in config["variants"])]
    per_req = {n: _mean([per_request_j(t) for t in trials if t.variant == n]) for n in names}
    ranges = {n: _mean_range([per_request_range_j(t) for t in trials if t.variant == n]) for n in names}
    base = per_req.get("baseline")
    base_range = ranges.get("baseline")
    variants: dict[str, Any] = {}
    for n in names:
        mine = [t for t in trials if t.variant == n]
        e = per_req[n]
        if not mine or e is None:
            continue
        used = [p for t in mine for p in _used_phases(t)]
        row: dict[str, Any] = {
            "energy_per_request_j": e,
            # A figure built on any estimated reading is itself an estimate, and says by which methods.
            "estimated": any(p.estimated for p in used),
            "methods": sorted({c["method"] for p in used for c in p.energy.values() if c}),
            "deployment": [
                {
                    "grid": g["grid"],
                    "co2e_per_1k_requests_g": 1000 * e / J_PER_KWH * g["g_per_kwh"] * pue,
                    "co2e_per_year_kg": e * rpd * DAYS_PER_YEAR / J_PER_KWH * g["g_per_kwh"] * pue / 1000,
                }
                for g in grid_rows
            ],
            "energy_per_year_kwh": e * rpd * DAYS_PER_YEAR / J_PER_KWH,
        }
        r = ranges[n]
        if r is not None:
            row["energy_per_request_range_j"] = list(r)
            row["energy_per_year_kwh_range"] = [x * rpd * DAYS_PER_YEAR / J_PER_KWH for x in r]
            for d, g in zip(row["deployment"], grid_rows, strict=True):
                d["co2e_per_1k_requests_range_g"] = [1000 * x / J_PER_KWH * g["g_per_kwh"] * pue for x in r]
                d["co2e_per_year_kg_range"] = [
                    x * rpd * DAYS_PER_YEAR / J_PER_KWH * g["g_per_kwh"] * pue / 1000 for x in r
                ]
        if n != "baseline" and base is not None:
            one_off = _mean([one_off_energy_j(t) for t in mine if built(t)])
            saving = base - e
            row["one_off_energy_j"] = one_off
            row["saving_per_request_j"] = saving
            one_off_r = _mean_range([one_off_range_j(t) for t in mine if built(t)])
            if r is not None and base_range is not None:
                savings = [base_range[0] - r[0], base_range[1] - r[1]]  # the low end for both, the high end for both
                row["saving_per_request_range_j"] = savings
                row["saving_per_year_kwh_range"] = [x * rpd * DAYS_PER_YEAR / J_PER_KWH for x in savings]
                if one_off_r is not None and all(x > 0 for x in savings):
                    row["break_even_requests_range"] = [one_off_r[0] / savings[0], one_off_r[1] / savings[1]]
            if saving > 0 and one_off is not None:
                row["break_even_requests"] = one_off / saving
                row["break_even_days"] = row["break_even_requests"] / rpd if rpd > 0 else None
                row["saving_per_year_kwh"] = saving * rpd * DAYS_PER_YEAR / J_PER_KWH
                row["saving_per_year_kg_co2e"] = {
                    g["grid"]: row["saving_per_year_kwh"] * g["g_per_kwh"] * pue / 1000 for g in grid_rows
                }
            else:
                row["break_even_requests"] = None
                row["note"] = (
                    "uses no less inference energy than the baseline: its compression cost is never paid back"
                    if saving <= 0
                    else "a one-off phase has no energy reading"
                )
        variants[n] = row
    return {
        "requests_per_day": rpd,
        "requests_per_day_source": deploy.get("requests_per_day_source", "[deploy] requests_per_day (an assumption)"),
        "pue": pue,
        "grids": grid_rows,
        "energy_basis": "gross energy as measured or estimated, means over trials",
        "estimated": any(r["estimated"] for r in variants.values()),
        "variants": variants,
    }
