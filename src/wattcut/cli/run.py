"""``wattcut run``: run a study end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wattcut.cli.flags import COUNT
from wattcut.store.records import Results


def default_experiment() -> Path:
    """The built-in default study (MiniLM-L6 on SST-2), shipped inside the package."""
    from importlib.resources import files

    return Path(str(files("wattcut") / "examples" / "default.toml"))


def run(
    experiment: Annotated[
        str | None, typer.Argument(help="experiment TOML file (default: the built-in default study)")
    ] = None,
    out: Annotated[str | None, typer.Option(help="output folder (default: [study] out from the file)")] = None,
    quick: Annotated[bool, typer.Option(help="one trial, at most 2,000 training rows and 100 requests")] = False,
    trials: Annotated[int | None, typer.Option(parser=COUNT, help="override [study] trials")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="check everything, predict wall time and energy (a short probe), run nothing")
    ] = False,
) -> Path:
    """Run a study and write results.json, results.csv, report.html and the SQLite store.

    Args:
        experiment: Experiment TOML file; None runs the default study.
        out: Output folder; overrides ``[study] out``.
        quick: Apply the quick preset (one trial, fewer rows, shorter workload).
        trials: Override ``[study] trials``.
        dry_run: Check the inputs and predict the study's wall time and energy from earlier runs of it on this
            machine, else from a short probe (the study in miniature); nothing is written to the output folder.

    Returns:
        The output folder.
    """
    from wattcut import settings as cfgmod
    from wattcut.experiment import load_experiment
    from wattcut.ui import console, escape

    path = Path(experiment) if experiment else default_experiment()
    cfg = cfgmod.with_flags(load_experiment(path), trials, quick, out)
    out_dir = Path(cfg.out)
    if dry_run:
        return _dry_run(cfg, out_dir)
    from wattcut.runner.execute import run_study

    header = f"experiment: {path}{' (quick preset)' if quick else ''}\noutput: {out_dir}\n"
    from wattcut.errors import VariantsFailedError

    try:
        run_study(cfg, out_dir, header=header)
    except VariantsFailedError:
        _print_summary(out_dir)  # what did finish, then the failures (exit 3)
        raise
    _print_summary(out_dir)
    console.print(
        f"\n[bold green]done[/]: {escape(str(out_dir))}/report.html (open it in a browser), report.md, figures/, "
        "results.json, results.csv, emissions.csv, wattcut.sqlite, config.resolved.toml"
    )
    return out_dir


def _dry_run(cfg: Any, out_dir: Path) -> Path:
    """Check every input, then predict; the prediction is kept for the run of this same config to report."""
    from wattcut.runner import dry_run, predict
    from wattcut.runner.checks import check_inputs
    from wattcut.ui import console, escape, out

    _, tasks, _ = check_inputs(cfg)  # what run would refuse, the dry run refuses first
    console.print("dry run: inputs checked; predicting (from earlier runs here, else a short probe)...")
    p = dry_run.estimate(cfg, tasks)
    path = predict.save(cfg, p)
    for line in predict.describe(p):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"nothing was run into {escape(str(out_dir))}; the prediction is kept in {escape(str(path))} and the report "
        "of `wattcut run` with this same config will compare it with what the study took"
    )
    return out_dir


def _print_summary(out_dir: Path) -> None:
    """The variant table, on stdout, from the results just written."""
    from rich.table import Table
    from rich.text import Text

    from wattcut.metric import MetricSpec
    from wattcut.report.columns import rows
    from wattcut.ui import out

    results = Results.read(out_dir / "results.json")
    spec = MetricSpec.from_dict(results.statistics.get("metric_spec"))
    table = Table(title=Text(f"{results.study}: mean over trials (energy: see method in results.json)"))
    cols, body = rows("cli", results.summary, results.statistics)
    for c in cols:
        table.add_column(c.short(spec), justify="left" if c.align == "left" else "right")
    for row in body:  # plain Text: a name like "[/]" is not markup
        table.add_row(*(Text(f.short + (" (est.)" if f.note else "")) for f in row))
    out.print(table)
    from wattcut.report.notes import reference_notes

    for note in reference_notes(results.statistics):
        out.print(Text(note))
    rec = results.statistics.get("recommendation") or {}
    if rec.get("degenerate_baseline"):
        from wattcut.ui import console, escape

        console.print(f"[bold yellow]warning[/]: {escape(rec['reason'])}", soft_wrap=True)
