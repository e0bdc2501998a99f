"""``wattcut search``: find the cheapest pipeline within the quality margin, then prove it in a full study."""

from __future__ import annotations

from pathlib import Path


def search(
    experiment: str | None,
    out: str | None = None,
    budget_min: float = 20.0,
    quick: bool = False,
    proxy_items: int = 300,
    front: int = 4,
    probe_requests: int = 60,
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
