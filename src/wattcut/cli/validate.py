"""``wattcut validate``: check an experiment file and its inputs without running it."""

from __future__ import annotations


def validate(experiment: str) -> None:
    """Validate the file, the model source and the dataset (no training)."""
    from wattcut.data import load_splits
    from wattcut.experiment import load_experiment
    from wattcut.models.loading import resolve_model_source
    from wattcut.ui import console

    cfg = load_experiment(experiment)
    source = resolve_model_source(cfg.model)
    train, evals = load_splits(cfg.data, seed=cfg.seed)
    console.print(
        f"[green]ok[/]: {cfg.name}: model {source}; {len(train)} training and {len(evals)} evaluation rows; "
        f"variants: {', '.join(cfg.variant_names())}; {cfg.trials} trial(s)."
    )
