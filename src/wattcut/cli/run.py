"""``wattcut run``: run a study end to end."""

from __future__ import annotations

from pathlib import Path


def default_experiment() -> Path:
    """The built-in default study (MiniLM-L6 on SST-2), shipped inside the package."""
    from importlib.resources import files

    return Path(str(files("wattcut") / "examples" / "default.toml"))


def run(experiment: str | None, out: str | None = None, quick: bool = False, trials: int | None = None) -> Path:
    """Run a study and write results.json, results.csv, report.html and the SQLite store.

    Args:
        experiment: Experiment TOML file; None runs the default study.
        out: Output folder; overrides ``[study] out``.
        quick: Apply the quick preset (one trial, fewer rows, shorter workload).
        trials: Override ``[study] trials``.

    Returns:
        The output folder.
    """
    from wattcut import config as cfgmod
    from wattcut.errors import UserInputError
    from wattcut.ui import console

    path = Path(experiment) if experiment else default_experiment()
    cfg = cfgmod.load_experiment(path)
    if trials is not None:
        if trials < 1:
            raise UserInputError(f"--trials {trials} is not valid.", "Give 1 or more.")
        cfg = cfgmod.with_overrides(cfg, trials=trials)
    if quick:
        cfg = cfgmod.quick(cfg)
    if out is not None:
        cfg = cfgmod.with_overrides(cfg, out=out)
    out_dir = Path(cfg.out)
    from wattcut.runner.execute import run_study

    header = f"experiment: {path}{' (quick preset)' if quick else ''}\noutput: {out_dir}\n"
    run_study(cfg, out_dir, header=header)
    console.print(
        f"\n[bold green]done[/]: {out_dir}/results.json, results.csv, report.html, wattcut.sqlite, config.resolved.toml"
    )
    return out_dir
