"""``wattcut ls``: what can go into an experiment file."""

from __future__ import annotations


def ls() -> None:
    """Print the registered techniques and named datasets."""
    from wattcut.compress import TECHNIQUES
    from wattcut.data import DATASETS, data_dirs
    from wattcut.ui import out as console

    console.print("[bold]techniques[/] (variants[].techniques[].name):")
    for name in TECHNIQUES:
        t = TECHNIQUES.get(name)
        console.print(f"  {name:24} {t.takes} → {t.returns}: {t.summary}", soft_wrap=True, highlight=False)
    dirs = ", ".join(str(d) for d in data_dirs())
    console.print(f"[bold]datasets[/] (\\[data] name), read from: {dirs}", soft_wrap=True)
    for name in DATASETS:
        console.print(f"  {name:24} {DATASETS.get(name).folder}/")
