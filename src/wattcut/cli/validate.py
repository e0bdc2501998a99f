"""``wattcut validate``: check an experiment file and its inputs without running it."""

from __future__ import annotations

from typing import Annotated

import typer


def validate(experiment: Annotated[str, typer.Argument(help="experiment TOML file")]) -> None:
    """Validate the file, the model source, every task's data and the techniques' settings (no training)."""
    from wattcut.experiment import load_experiment
    from wattcut.runner.execute import check_inputs
    from wattcut.ui import console, escape

    cfg = load_experiment(experiment)
    source, tasks, starts = check_inputs(cfg)
    console.print(
        "[green]ok[/]: "
        + escape(
            f"{cfg.name}: model {source}; "
            + "; ".join(f"task {t.key}: {t.describe_data()}" for t in tasks)
            + f"; variants: {', '.join(cfg.variant_names())}"
            + "".join(f"; {name} starts from {start.source}" for name, start in starts.items())
            + f"; {cfg.trials} trial(s)."
        ),
        soft_wrap=True,
    )
