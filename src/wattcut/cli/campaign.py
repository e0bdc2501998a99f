"""``wattcut campaign``: a grid of studies on Ray (local mode by default), merged into one store and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def campaign(
    path: Annotated[str, typer.Argument(metavar="CAMPAIGN", help="campaign TOML file")],
    out: Annotated[str | None, typer.Option(help="output folder (default: runs/<campaign name>)")] = None,
    address: Annotated[str | None, typer.Option(help="join this Ray cluster (default: Ray in local mode)")] = None,
) -> Path:
    """Run the campaign file ``path``; returns the campaign folder.

    Args:
        path: The campaign TOML (see ``runner/campaign.py``).
        out: Output folder (default: ``runs/<campaign name>``).
        address: A Ray cluster to join (``ray start --head`` prints it); None runs Ray in local mode.
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
    console.print(f"campaign {c.name}: {len(c.studies)} studies -> {escape(str(folder))}", highlight=False)
    run_campaign(c, folder, address)
    console.print(f"[bold green]done[/]: {escape(str(folder))}/campaign.md, campaign.json, campaign.sqlite, studies/")
    return folder
