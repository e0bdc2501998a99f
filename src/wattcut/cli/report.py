"""``wattcut report``: rebuild the result files from a store."""

from __future__ import annotations

from pathlib import Path


def report(store: str) -> None:
    """Rewrite results.json, results.csv and report.html next to the store."""
    from wattcut.report.build import write_reports
    from wattcut.store import STORE_NAME, Store
    from wattcut.ui import console

    path = Path(store)
    if path.is_dir():
        path = path / STORE_NAME
    s = Store.open(path, create=False)
    try:
        if s.study() is None:
            from wattcut.errors import UserInputError

            raise UserInputError(f'The store "{path}" holds no study yet.', "Run `wattcut run` into that folder first.")
        for p in write_reports(s, path.parent):
            console.print(f"wrote {p}")
    finally:
        s.close()
