"""``wattcut mlflow DIR --tracking-uri URI``: log a finished study to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def mlflow(
    study: Annotated[str, typer.Argument(help="a study's output folder")],
    tracking_uri: Annotated[
        str, typer.Option(help="sqlite:///path/mlflow.db, http(s)://host:port, ... (MLflow's tracking URI)")
    ],
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment (default: the study's name)")] = None,
) -> str:
    """Log a study to MLflow: config as params, one nested run per variant with its figures, the report as artifacts."""
    from wattcut.api import load_study
    from wattcut.integrations.mlflow import check_uri, log_study
    from wattcut.ui import console, escape

    check_uri(tracking_uri)  # before reading anything
    folder = Path(study)
    run_id = log_study(load_study(folder), folder if folder.is_dir() else None, tracking_uri, experiment)
    console.print(f"logged to {escape(tracking_uri)}: run {run_id}")
    return run_id
