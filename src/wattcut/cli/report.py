"""``wattcut report``: rebuild the result files from a store."""

from __future__ import annotations


def report(store: str) -> None:
    """Rewrite every result file (results.json/.csv, report.html/.md, figures, emissions.csv) next to the store."""
    from wattcut.report.build import write_reports
    from wattcut.store import Store
    from wattcut.ui import console

    s = Store.open_study(store)
    try:
        for p in write_reports(s, s.path.parent):
            console.print(f"wrote {p}")
    finally:
        s.close()
