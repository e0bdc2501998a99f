"""``wattcut place``: where and when to run a job to emit the least CO2e (``stats/placement.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wattcut.cli.flags import POSITIVE, PUE, choice, number


def place(
    regions: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            metavar="NAME=CSV|CODE",
            help="a candidate: NAME=hourly.csv (timestamp,g_per_kwh) or a country code (repeatable)",
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="a study folder: its measured energy and wall time are the job")
    ] = None,
    energy_kwh: Annotated[
        float | None, typer.Option(parser=POSITIVE, help="the job's energy (measured or predicted)")
    ] = None,
    hours: Annotated[float | None, typer.Option(parser=number(0, 8760, above=True), help="the job's length")] = None,
    default: Annotated[str | None, typer.Option(help="the region it would run in now (default: the first)")] = None,
    start: Annotated[str | None, typer.Option(help="earliest start, ISO 8601 (default: now)")] = None,
    deadline_h: Annotated[
        float, typer.Option(parser=number(0, 87600, above=True), help="hours from the start by which it must end")
    ] = 24.0,
    pue: Annotated[float, typer.Option(parser=PUE, help="data-centre PUE")] = 1.0,
    embodied_g_per_h: Annotated[
        float, typer.Option(parser=number(0, 1e9), help="embodied gCO2e per machine hour")
    ] = 0.0,
    out: Annotated[str | None, typer.Option(help="also write the answer as JSON to this file")] = None,
    max_gap_h: Annotated[
        float, typer.Option(parser=number(0, 8760, above=True), help="longest series step that is not a gap")
    ] = 3.0,
    gap_fill: Annotated[
        str,
        typer.Option(parser=choice("refuse", "previous"), help="refuse gaps or hold the previous value"),
    ] = "refuse",
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
        max_gap_h: A series step longer than this where the job could run is a gap (as ``[carbon] max_gap_h``).
        gap_fill: ``refuse`` gaps, or hold the ``previous`` value across them (stated in the answer).
    """
    import time
    from datetime import UTC, datetime

    from wattcut.errors import UserInputError
    from wattcut.measure import carbon
    from wattcut.stats.placement import LAYOUT_FIX, Job, study_job
    from wattcut.stats.placement import place as compute
    from wattcut.store.records import Results, upgrade_results
    from wattcut.ui import out as console

    if not regions:
        raise UserInputError("No --region given.", "Give at least one: --region FRA=fra.csv or --region DEU.")
    if out is not None and (Path(out).is_dir() or not Path(out).parent.is_dir()):
        raise UserInputError(
            f'--out "{out}" is a folder or is in a folder that does not exist: it names the JSON file to write.',
            "Give a file path in an existing folder, e.g. --out place.json.",
        )
    if study is not None:
        path = Path(study) / "results.json" if Path(study).is_dir() else Path(study)
        if not path.is_file():
            raise UserInputError(f"{study} has no results.json.", "Give a study output folder, or --energy-kwh.")
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserInputError(
                f'"{path}" is not a results.json ({type(e).__name__}: {e}).',
                "Give the folder of a finished study (rebuild its results with `wattcut report DIR`).",
            ) from None
        if not isinstance(results, dict):
            raise UserInputError(f'"{path}" is not a results.json (not a JSON object).', "Give a study folder.")
        try:
            parsed = Results.from_dict(upgrade_results(results))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserInputError(
                f'"{path}" does not have the layout wattcut writes ({type(e).__name__}: {e}).', LAYOUT_FIX
            ) from None
        job = study_job(parsed, embodied_g_per_h)
    elif energy_kwh is not None and hours is not None:
        job = Job(energy_kwh, hours, "given on the command line", embodied_g_per_h)
    else:
        raise UserInputError("wattcut place needs a job.", "Give --study DIR, or --energy-kwh and --hours.")
    where: dict[str, object] = {}
    for spec in regions:
        name, sep, csv_path = spec.partition("=")
        if not name.strip() or name in where or (sep and not csv_path):
            raise UserInputError(
                f'--region "{spec}" is empty or repeats a name.', "Give each region once: NAME=hourly.csv or a code."
            )
        if sep:
            where[name] = carbon.TimeSeries(Path(csv_path), setting=f"--region {spec}")
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
    answer = compute(job, where, default or next(iter(where)), t0, deadline_h, pue, max_gap_h, gap_fill)
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
        for note in r["notes"]:
            console.print(f"  {'':12} note: {note}", highlight=False, markup=False)
    console.print(f"lowest CO2e: {answer['best_region']}", highlight=False, markup=False)
    if out:
        Path(out).write_text(json.dumps(answer, indent=1, allow_nan=False), encoding="utf-8")
    return 0
