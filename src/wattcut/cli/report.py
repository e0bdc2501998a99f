"""``wattcut report``: rebuild the result files from a store."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from wattcut.cli.flags import POSITIVE


def report(
    store: Annotated[str, typer.Argument(help="an output folder, its wattcut.sqlite, or a results.json")],
    requests_per_day: Annotated[
        float | None, typer.Option(parser=POSITIVE, metavar="N", help="re-price payback for this traffic")
    ] = None,
    grids: Annotated[
        list[str] | None, typer.Option("--grid", metavar="GRID", help="deployment grid (repeatable): DEU, WORLD...")
    ] = None,
) -> None:
    """Rewrite every result file (results.json/.csv, report.html/.md, figures, emissions.csv) next to the store.

    ``requests_per_day`` and ``grids`` re-price payback and deployment carbon without
    re-running anything; the files say where the values came from. Given a ``results.json``
    (a study shared without its store, or a folder holding only that), the store is rebuilt
    from its trial records in a temporary folder and the files are rewritten next to it, with
    this version's statistics.
    """
    import tempfile
    from pathlib import Path

    from wattcut.report.build import write_reports
    from wattcut.settings import DeployConfig
    from wattcut.store import STORE_NAME, Store
    from wattcut.ui import console

    where = Path(store)
    if where.is_dir() and not (where / STORE_NAME).exists() and (where / "results.json").is_file():
        where = where / "results.json"
    scratch = None
    if where.is_file() and where.name.endswith(".json"):
        scratch = tempfile.TemporaryDirectory(prefix="wattcut-report-")
        try:
            s = Store.from_results(where, Path(scratch.name) / STORE_NAME)
        except BaseException:
            scratch.cleanup()
            raise
        out = where.parent
    else:
        s = Store.open_study(store)
        out = s.path.parent
    try:
        deploy = None
        if requests_per_day is not None or grids:
            stored = (s.study() or {})["config"].get("deploy") or asdict(DeployConfig())
            cfg = DeployConfig(
                requests_per_day=stored["requests_per_day"] if requests_per_day is None else requests_per_day,
                grids=tuple(grids) if grids else tuple(stored["grids"]),
            )  # validates: a bad grid or rate is exit 2 before anything is written
            deploy = {**asdict(cfg), "requests_per_day_source": "wattcut report --requests-per-day (an assumption)"}
            if requests_per_day is None:
                deploy["requests_per_day_source"] = "[deploy] requests_per_day (an assumption)"
        for p in write_reports(s, out, deploy):
            console.print(f"wrote {p}")
    finally:
        s.close()
        if scratch is not None:
            scratch.cleanup()
