"""Carbon-aware placement: where and when to run a job of known energy and length to emit the least CO2e.

For each candidate region (an hourly intensity series, or a constant yearly value) the job
may start at the earliest start or at any step of the series after it, as long as it ends
by the deadline; the lowest-carbon window is the one whose time-weighted mean intensity is
lowest (the earliest on a tie). CO2e = kWh x mean intensity x PUE, plus embodied emissions
(g per hour of machine time) where given, which do not depend on where or when. The saving
is against running at the earliest start in the default region. A pure function of its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wattcut.errors import UserInputError
from wattcut.store.records import Results
from wattcut.units import J_PER_KWH


@dataclass(frozen=True)
class Job:
    """What is placed: its energy, its length, and the machine's embodied emissions per hour."""

    energy_kwh: float
    hours: float
    source: str  # where the figures came from (a study folder, or given)
    embodied_g_per_h: float = 0.0


def best_window(series: Any, start: float, hours: float, deadline: float) -> tuple[float, float]:
    """(start, mean g/kWh) of the lowest-carbon window of ``hours`` in ``[start, deadline]`` of a ``TimeSeries``."""
    length = hours * 3600
    end_limit = min(deadline, series.end)  # a window must end where the series still says something
    candidates = [start] + [t for t in series.times if start < t and t + length <= end_limit]
    candidates = [t for t in candidates if t + length <= end_limit and t >= series.times[0]]
    if not candidates:
        raise UserInputError(
            f'The intensity series "{series.path}" does not cover a {hours:g} h window between the start and the '
            "deadline.",
            "Give a series that covers [start, deadline], a later deadline, or an earlier start.",
        )
    best = min(candidates, key=lambda t: (round(series.mean(t, t + length), 9), t))
    return best, series.mean(best, best + length)


def place(
    job: Job,
    regions: dict[str, Any],
    default: str,
    start: float,
    deadline_h: float,
    pue: float,
    max_gap_h: float = 3.0,
    gap_fill: str = "refuse",
) -> dict[str, Any]:
    """Per region: the best window and its CO2e, and the saving against running now in ``default``.

    A series is held to the same rules as ``[carbon] timeseries_csv`` (``TimeSeries.check``):
    no step longer than ``max_gap_h`` from the start to the last window it could price, unless
    ``gap_fill = "previous"``, which the answer then states.
    """
    from datetime import UTC, datetime

    figures = {"energy_kwh": job.energy_kwh, "hours": job.hours, "embodied_g_per_h": job.embodied_g_per_h}
    figures |= {"deadline_h": deadline_h, "pue": pue, "max_gap_h": max_gap_h}
    bad = {k: v for k, v in figures.items() if not math.isfinite(v) or v < 0}
    if bad or job.hours == 0 or pue < 1.0 or max_gap_h == 0:
        raise UserInputError(
            f"Placement needs finite figures: a positive length and gap, energy and embodied emissions of 0 or more, "
            f"a PUE of 1 or more; got {figures}.",
            "Correct them.",
        )
    if deadline_h < job.hours:
        raise UserInputError(
            f"The deadline ({deadline_h:g} h from the start) is shorter than the job ({job.hours:g} h).",
            "Give a later deadline.",
        )
    if default not in regions:
        raise UserInputError(f'The default region "{default}" is not among the regions given.', "Add it or fix it.")
    deadline = start + deadline_h * 3600
    embodied = job.embodied_g_per_h * job.hours
    rows = {}
    for name, where in regions.items():
        if hasattr(where, "mean"):  # an hourly series
            last = max(start + job.hours * 3600, min(deadline, where.end))  # now, and every window it could price
            notes = where.check(start, max_gap_h * 3600, gap_fill, end=last)
            t, g = best_window(where, start, job.hours, deadline)
            now_g = where.mean(start, start + job.hours * 3600)
            source = f"{where.path} (time-weighted mean over the window)"
        else:  # an Intensity: one value all year, so every window is alike
            t, g, now_g = start, where.g_per_kwh, where.g_per_kwh
            source = f"{where.source} ({where.year}); constant: no better time, only a better place"
            notes = []
        rows[name] = {
            "best_start": datetime.fromtimestamp(t, UTC).isoformat(timespec="minutes"),
            "best_end": datetime.fromtimestamp(t + job.hours * 3600, UTC).isoformat(timespec="minutes"),
            "wait_h": (t - start) / 3600,
            "mean_g_per_kwh": g,
            "co2e_g": job.energy_kwh * g * pue + embodied,
            "now_co2e_g": job.energy_kwh * now_g * pue + embodied,
            "source": source,
            "notes": notes,
        }
    now = rows[default]["now_co2e_g"]
    if not all(math.isfinite(r["co2e_g"]) and math.isfinite(r["now_co2e_g"]) for r in rows.values()):
        raise AssertionError(f"placement produced a non-finite CO2e: {rows}")  # inputs are checked: a bug
    best = min(rows, key=lambda n: rows[n]["co2e_g"])
    for r in rows.values():
        r["saving_vs_now_default_g"] = now - r["co2e_g"]
        r["saving_vs_now_default_pct"] = 100 * (now - r["co2e_g"]) / now if now else None
    return {
        "job": {**job.__dict__},
        "start": datetime.fromtimestamp(start, UTC).isoformat(timespec="minutes"),
        "deadline": datetime.fromtimestamp(deadline, UTC).isoformat(timespec="minutes"),
        "pue": pue,
        "default_region": default,
        "now_default_co2e_g": now,
        "best_region": best,
        "regions": rows,
    }


LAYOUT_FIX = "Give a folder written by `wattcut run` (`wattcut report DIR` rebuilds it), or --energy-kwh and --hours."


def study_job(results: Results, embodied_g_per_h: float = 0.0) -> Job:
    """A finished study as a job: the gross energy and the wall time of its top-level phases, summed."""
    phases = [p for t in results.trials for p in t.phases if not p.parent]
    try:
        values = [(float(p.energy_j), float(p.duration_s)) for p in phases if p.energy_j is not None]
    except (TypeError, ValueError):
        raise UserInputError(
            "The study's results.json does not have the layout wattcut writes (trials with phases, each with "
            "energy_j and duration_s).",
            LAYOUT_FIX,
        ) from None
    if not phases or len(values) != len(phases) or not all(math.isfinite(e) and e >= 0 for e, _ in values):
        raise UserInputError(
            "The study has no energy reading for every phase, so it cannot be placed.",
            "Give --energy-kwh and --hours instead.",
        )
    kwh = sum(e for e, _ in values) / J_PER_KWH
    hours = sum(d for _, d in values) / 3600
    return Job(kwh, hours, f"study {results.study}: {len(phases)} phase windows", embodied_g_per_h)
