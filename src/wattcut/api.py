"""The Python API's study functions: run a study from your own code, or read a finished one, as typed records.

``wattcut.run_study(experiment)`` and ``wattcut.load_study(folder)`` return :class:`~wattcut.store.records.Results`:
the same document as ``results.json`` (config, provenance, one typed :class:`~wattcut.store.records.Trial` per
trial with its phases, summary and statistics), rebuilt from the study's SQLite store. ``wattcut.measure`` (the
windows around your own code) is :mod:`wattcut.measure.window`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattcut.store.records import Results


def load_study(folder: str | Path) -> Results:
    """A finished (or interrupted) study, read from the store in ``folder`` (written by ``wattcut run``).

    A folder without a store but with a ``results.json`` (a committed example, a copied report) is read from
    that file; a path to a ``results.json`` is read directly.

    Raises:
        UserInputError: No wattcut store or results.json there, or a store with no study in it.
    """
    from wattcut.report.build import build_results
    from wattcut.store.sqlite import STORE_NAME, Store

    path = Path(folder)
    doc = path if path.is_file() and path.suffix == ".json" else path / "results.json"
    if not (path / STORE_NAME).is_file() and path.name != STORE_NAME and doc.is_file():
        try:
            return Results.read(doc)
        except (ValueError, KeyError, TypeError) as e:
            from wattcut.errors import UserInputError

            raise UserInputError(
                f'"{doc}" is not a wattcut results.json ({e}).', "Give a folder written by `wattcut run`."
            ) from None
    store = Store.open_study(folder)
    try:
        return build_results(store)
    finally:
        store.close()


def run_study(
    experiment: str | Path | Any, out: str | Path | None = None, quick: bool = False, trials: int | None = None
) -> Results:
    """Run a study, as ``wattcut run`` does, and return its results.

    Args:
        experiment: An experiment TOML file, or a ``StudyConfig`` already loaded.
        out: Output folder (default: the file's ``[study] out``).
        quick: The ``--quick`` preset (one trial, fewer rows, a shorter workload).
        trials: Override ``[study] trials``.

    Raises:
        UserInputError: Bad input, before anything runs.
        VariantsFailedError: Some variant trials failed; the rest is stored (read it with :func:`load_study`).
    """
    from wattcut import settings
    from wattcut.experiment import load_experiment
    from wattcut.runner.execute import run_study as run

    cfg = experiment if isinstance(experiment, settings.StudyConfig) else load_experiment(experiment)
    cfg = settings.with_flags(cfg, trials, quick, None if out is None else str(out), flag="trials =")
    run(cfg, Path(cfg.out))
    return load_study(cfg.out)
