"""``wattcut campaign``: a grid of studies on Ray (local mode by default), merged into one store and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def campaign(
    path: Annotated[str, typer.Argument(metavar="CAMPAIGN", help="campaign TOML file")],
    out: Annotated[str | None, typer.Option(help="output folder (default: runs/<campaign name>)")] = None,
    address: Annotated[str | None, typer.Option(help="join this Ray cluster (default: Ray in local mode)")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="check every study and predict each one's wall time and energy; run nothing")
    ] = False,
) -> Path:
    """Run the campaign file ``path``; returns the campaign folder.

    Args:
        path: The campaign TOML (see ``runner/campaign.py``).
        out: Output folder (default: ``runs/<campaign name>``).
        address: A Ray cluster to join (``ray start --head`` prints it); None runs Ray in local mode.
        dry_run: Predict each study on this machine (earlier runs here, else a short probe per study), and the
            campaign's total as if run one after another here; nothing is run into the output folder.
    """
    from wattcut.errors import UserInputError
    from wattcut.runner.campaign import load_campaign, run_campaign
    from wattcut.ui import console, escape

    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserInputError(
            "wattcut campaign runs on Ray, which is not installed.",
            'Install it with `pip install "wattcut[campaign]"` (scripts/setup.sh does).',
        ) from None
    c = load_campaign(path)
    folder = Path(out) if out else Path("runs") / c.name
    if dry_run:
        return _dry_run(c, folder)
    console.print(f"campaign {c.name}: {len(c.studies)} studies -> {escape(str(folder))}", highlight=False)
    run_campaign(c, folder, address)
    console.print(f"[bold green]done[/]: {escape(str(folder))}/campaign.md, campaign.json, campaign.sqlite, studies/")
    return folder


def _dry_run(c: Any, folder: Path) -> Path:
    """Each study's prediction on this machine, and their sum (as if run one after another here)."""
    from wattcut.experiment import parse_experiment
    from wattcut.runner import dry_run, predict
    from wattcut.runner.checks import check_inputs
    from wattcut.ui import out

    low = high = 0.0
    for spec in c.studies:
        cfg = parse_experiment(spec.doc, spec.study_id)
        _, tasks, _ = check_inputs(cfg)
        p = dry_run.estimate(cfg, tasks)
        predict.save(cfg, p)
        low, high = low + p.wall_low_s, high + p.wall_high_s
        out.print(f"{spec.study_id}: {p.wall_low_s / 60:.1f}-{p.wall_high_s / 60:.1f} min ({p.basis})", markup=False)
    out.print(
        f"campaign {c.name}: {low / 60:.1f}-{high / 60:.1f} min if its {len(c.studies)} studies ran one after another "
        "on this machine (Ray spreads them over the nodes that offer their resources); nothing was run",
        markup=False,
        soft_wrap=True,
    )
    return folder
