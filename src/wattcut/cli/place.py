"""``wattcut place``: where and when to run a job to emit the least CO2e (``stats/placement.py``)."""

from __future__ import annotations

import json
from pathlib import Path


def place(
    regions: list[str],
    study: str | None = None,
    energy_kwh: float | None = None,
    hours: float | None = None,
    default: str | None = None,
    start: str | None = None,
    deadline_h: float = 24.0,
    pue: float = 1.0,
    embodied_g_per_h: float = 0.0,
    out: str | None = None,
) -> int:
    """Print the lowest-carbon window per region and the saving against running now in the default region.

    Args:
        regions: ``NAME=hourly.csv`` (columns timestamp,g_per_kwh) or a country code from the data pack.
        study: A study folder (its results.json gives the energy and length), instead of ``energy_kwh``/``hours``.
        energy_kwh: The job's energy (measured or predicted).
        hours: The job's length.
        default: The region it would run in now (default: the first).
        start: Earliest start, ISO 8601 (default: now).
        deadline_h: Hours from the start by which the job must end.
        pue: Data-centre PUE.
        embodied_g_per_h: Embodied emissions of the machine per hour of use (the same everywhere).
        out: Also write the answer as JSON here.
    """
    import time
    from datetime import UTC, datetime

    from wattcut.errors import UserInputError
    from wattcut.measure import carbon
    from wattcut.stats.placement import Job, study_job
    from wattcut.stats.placement import place as compute
    from wattcut.ui import out as console

    if not regions:
        raise UserInputError("No --region given.", "Give at least one: --region FRA=fra.csv or --region DEU.")
    if study is not None:
        path = Path(study) / "results.json" if Path(study).is_dir() else Path(study)
        if not path.is_file():
            raise UserInputError(f"{study} has no results.json.", "Give a study output folder, or --energy-kwh.")
        job = study_job(json.loads(path.read_text(encoding="utf-8")), embodied_g_per_h)
    elif energy_kwh is not None and hours is not None:
        job = Job(energy_kwh, hours, "given on the command line", embodied_g_per_h)
    else:
        raise UserInputError("wattcut place needs a job.", "Give --study DIR, or --energy-kwh and --hours.")
    where: dict[str, object] = {}
    for spec in regions:
        name, sep, csv_path = spec.partition("=")
        if sep:
            where[name] = carbon.TimeSeries(Path(csv_path))
        else:
            where[name] = carbon.grid(name)
    if start is None:
        t0 = time.time()
    else:
        try:
            s = datetime.fromisoformat(start)
        except ValueError:
            raise UserInputError(
                f'--start "{start}" is not an ISO 8601 time.', "Write e.g. 2024-03-01T00:00."
            ) from None
        t0 = (s if s.tzinfo else s.replace(tzinfo=UTC)).timestamp()
    answer = compute(job, where, default or next(iter(where)), t0, deadline_h, pue)
    console.print(
        f"job: {job.energy_kwh:.4g} kWh over {job.hours:.3g} h ({job.source}); start {answer['start']}, deadline "
        f"{answer['deadline']}, PUE {pue:g}",
        highlight=False,
        markup=False,
    )
    for name, r in answer["regions"].items():
        console.print(
            f"  {name:12} best {r['best_start']} (wait {r['wait_h']:.1f} h): {r['mean_g_per_kwh']:.1f} g/kWh, "
            f"{r['co2e_g']:.4g} gCO2e; now {r['now_co2e_g']:.4g} g; saving vs now in {answer['default_region']}: "
            f"{r['saving_vs_now_default_g']:.4g} g ({r['saving_vs_now_default_pct'] or 0:.1f}%)",
            highlight=False,
            markup=False,
        )
    console.print(f"lowest CO2e: {answer['best_region']}", highlight=False, markup=False)
    if out:
        Path(out).write_text(json.dumps(answer, indent=1), encoding="utf-8")
    return 0
