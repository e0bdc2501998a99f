"""``wattcut card DIR``: the model card's energy section for a finished study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def card(
    study: Annotated[str, typer.Argument(help="a study's output folder (or its wattcut.sqlite)")],
    variant: Annotated[
        str | None, typer.Option(help="the variant the card describes (default: the recommended one)")
    ] = None,
    out: Annotated[str | None, typer.Option(help="file to write (default: card.md in the study's folder)")] = None,
) -> Path:
    """Write card.md: Hugging Face's co2_eq_emissions metadata (YAML front matter) and an energy table.

    Paste the front matter into your model's README.md metadata and the section under it.
    """
    from wattcut.api import load_study
    from wattcut.report.card import card_markdown
    from wattcut.store.sqlite import STORE_NAME
    from wattcut.ui import console, escape

    folder = Path(study)
    folder = folder.parent if folder.name == STORE_NAME else folder
    results = load_study(folder)
    _, text = card_markdown(results, variant)
    path = Path(out) if out else folder / "card.md"
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(path))}")
    return path
