"""Rebuild a committed example's reports with this wattcut, from the records in its results.json.

The reports are a pure function of the store; the committed examples keep results.json
(every trial record, as stored) but not the SQLite file. This loads those records into a
fresh store and writes every report again, so a change to statistics or rendering reaches
the examples without re-measuring anything. Usage:

    python scripts/rebuild_report.py docs/example-report [docs/example-campaign/studies/*]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def rebuild(folder: Path) -> None:
    """Write every report of ``folder`` again from its results.json."""
    from wattcut.report.build import write_reports
    from wattcut.store import STORE_NAME, Store

    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / STORE_NAME)
        store.begin_study(results["study"], results["config"], results["provenance"])
        for record in results["trials"]:
            store.append_trial(record)
        for f in results.get("failures") or []:
            store.add_failure(f["variant"], f["trial_index"], f["stage"], f["reason"])
        store.conn.execute("UPDATE study SET started_at = ?", (results["started_at"],))
        write_reports(store, folder)
        store.close()
    print(f"rebuilt {folder}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        rebuild(Path(arg))
