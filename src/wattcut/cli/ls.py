"""``wattcut ls``: what can go into an experiment file."""

from __future__ import annotations


def ls() -> None:
    """Print the registered tasks, techniques and named datasets."""
    from wattcut.compress import TECHNIQUES
    from wattcut.data import DATASETS, data_dirs
    from wattcut.tasks.catalog import TASKS, load_registry
    from wattcut.ui import out as console

    load_registry()
    console.print("[bold]tasks[/] (\\[\\[tasks]] name; default sequence_classification):")
    for name in TASKS:
        cls = TASKS.get(name)
        console.print(f"  {name:24} {cls.model_kind}: {cls.summary}", soft_wrap=True, highlight=False, markup=False)

    console.print("[bold]techniques[/] (variants[].techniques[].name):")
    for name in TECHNIQUES:
        t = TECHNIQUES.get(name)
        kinds = " + ".join(k.replace("sequence-classifier", "encoder") for k in t.kinds)
        takes = "|".join(t.takes) if isinstance(t.takes, tuple) else t.takes
        if t.route is not None:  # to_runtime: what the chosen runtime declares
            takes, returns = "(per runtime)", "runtime"
        else:
            returns = t.returns
        console.print(
            f"  {name:24} {takes} → {returns} [{kinds}]: {t.summary}", soft_wrap=True, highlight=False, markup=False
        )
    dirs = ", ".join(str(d) for d in data_dirs())
    console.print(f"[bold]datasets[/] (\\[data] name), read from: {dirs}", soft_wrap=True)
    for name in DATASETS:
        console.print(f"  {name:24} {DATASETS.get(name).folder}/")
