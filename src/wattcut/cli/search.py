"""``wattcut search``: find the cheapest pipeline within the quality margin, then prove it in a full study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wattcut.cli.flags import COUNT, number


def search(
    experiment: Annotated[str | None, typer.Argument(help="experiment TOML (its [[variants]] are ignored)")] = None,
    out: Annotated[str | None, typer.Option(help="output folder (default: <[study] out>-search)")] = None,
    budget_min: Annotated[
        float, typer.Option(parser=number(0, 10080, above=True), help="minutes for the proxy search")
    ] = 20.0,
    quick: Annotated[bool, typer.Option(help="the quick preset for the full study")] = False,
    proxy_items: Annotated[int, typer.Option(parser=COUNT, help="evaluation items per proxy score")] = 300,
    front: Annotated[int, typer.Option(parser=COUNT, help="pipelines re-measured in the full study")] = 4,
    probe_requests: Annotated[int, typer.Option(parser=COUNT, help="requests per CPU-time probe of a candidate")] = 60,
) -> Path:
    """Search pipelines for the experiment's model, data and margin; returns the full study's folder.

    Args:
        experiment: Experiment TOML (model, [data], [train], [evaluate] quality_margin,
            [infer], [measure]); its [[variants]] are ignored. None = the default study.
        out: Output folder (default: ``<[study] out>-search``).
        budget_min: Minutes for the proxy search (a rerun resumes and spends what is left).
        quick: The quick preset for the full study (one trial, fewer rows, shorter workload).
        proxy_items: Evaluation items the proxy scores each candidate on.
        front: At most this many proxy-front pipelines are re-measured in the full study.
        probe_requests: Requests of the energy task served per CPU-time probe of a candidate.
    """
    from wattcut import settings as cfgmod
    from wattcut.cli.run import _print_summary, default_experiment
    from wattcut.errors import UserInputError
    from wattcut.experiment import load_experiment
    from wattcut.runner.search import search as run_search
    from wattcut.ui import console, escape

    if proxy_items < 20 or front < 1:
        raise UserInputError("--proxy-items must be at least 20 and --front at least 1.", "Correct them.")
    path = Path(experiment) if experiment else default_experiment()
    cfg = load_experiment(path)
    if quick:
        cfg = cfgmod.quick(cfg)
    out_dir = Path(out) if out else Path(f"{cfg.out}-search")
    study = run_search(
        cfg, out_dir, budget_min * 60, proxy_items=proxy_items, probe_requests=probe_requests, front_size=front
    )
    _print_summary(study)
    console.print(
        f"\n[bold green]done[/]: {escape(str(out_dir))}/search.md (proxy vs full study), "
        f"{escape(str(study))}/report.html (the full study)"
    )
    return study
