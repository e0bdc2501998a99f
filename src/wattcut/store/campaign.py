"""The campaign store: every study of a campaign and every trial of each, exactly once, in one SQLite file.

A study's trials arrive at the driver as each one finishes (streamed from the node that
runs it) and again, with the study's own store, when it ends; ``UNIQUE (study_id,
variant, trial_index)`` with ``INSERT OR IGNORE`` makes every arrival after the first a
no-op, so a retried study, a rerun campaign or a duplicate message never duplicates a
trial, and a trial that reached the driver before its node died is never lost.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from wattcut.store.records import upgrade

SCHEMA = """
CREATE TABLE IF NOT EXISTS campaign (
    id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, spec_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS studies (
    study_id TEXT PRIMARY KEY,
    labels_json TEXT NOT NULL,
    config_json TEXT NOT NULL,
    provenance_json TEXT,
    status TEXT NOT NULL,          -- pending, queued, done, partial (variants failed), failed
    attempts INTEGER NOT NULL DEFAULT 0,
    node TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    variant TEXT NOT NULL,
    trial_index INTEGER NOT NULL,
    record_json TEXT NOT NULL,
    UNIQUE (study_id, variant, trial_index)
);
"""


class CampaignStore:
    """One SQLite file under the campaign's output folder (``campaign.sqlite``)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    @staticmethod
    def read_only(path: Path) -> dict[str, tuple[str, str]]:
        """Each stored study's (status, config hash), without creating anything: {} when there is no store."""
        from wattcut.store.sqlite import config_hash

        if not path.is_file():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT study_id, status, config_json FROM studies").fetchall()
        except sqlite3.DatabaseError:
            return {}  # begin() will say what is wrong with it
        finally:
            db.close()
        return {sid: (status, config_hash(json.loads(cfg))) for sid, status, cfg in rows}

    def begin(self, name: str, spec: dict[str, Any], studies: list[dict[str, Any]]) -> list[str]:
        """Record the campaign and its planned studies; returns the ids of stored studies whose config changed.

        A study is matched by id *and* content: when the campaign file now resolves an id to
        another configuration (a label that means something else), its old trials are
        dropped and it is pending again, so old results never stand in for the new study.
        Studies no longer in the campaign are removed from this store (their folders stay).
        """
        from wattcut.store.sqlite import config_hash

        changed = []
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO campaign (id, name, spec_json) VALUES (1, ?, ?)", (name, json.dumps(spec))
            )
            stored = dict(self.db.execute("SELECT study_id, config_json FROM studies").fetchall())
            for s in studies:
                old = stored.pop(s["study_id"], None)
                if old is not None and config_hash(json.loads(old)) != config_hash(s["config"]):
                    changed.append(s["study_id"])
                    self.db.execute("DELETE FROM trials WHERE study_id = ?", (s["study_id"],))
                    self.db.execute("DELETE FROM studies WHERE study_id = ?", (s["study_id"],))
                self.db.execute(
                    "INSERT OR IGNORE INTO studies (study_id, labels_json, config_json, status) VALUES (?, ?, ?, ?)",
                    (s["study_id"], json.dumps(s["labels"]), json.dumps(s["config"]), "pending"),
                )
            for gone in stored:
                self.db.execute("DELETE FROM trials WHERE study_id = ?", (gone,))
                self.db.execute("DELETE FROM studies WHERE study_id = ?", (gone,))
        return changed

    def status(self, study_id: str) -> str | None:
        """A study's status, or None if unknown."""
        row = self.db.execute("SELECT status FROM studies WHERE study_id = ?", (study_id,)).fetchone()
        return None if row is None else row[0]

    def mark(
        self, study_id: str, status: str, node: str | None = None, provenance: dict[str, Any] | None = None
    ) -> None:
        """Set a study's status (``queued``, ``done``, ``failed``), and where it ran."""
        with self.db:
            self.db.execute(
                "UPDATE studies SET status = ?, node = COALESCE(?, node), "
                "provenance_json = COALESCE(?, provenance_json) WHERE study_id = ?",
                (status, node, None if provenance is None else json.dumps(provenance), study_id),
            )

    def set_attempts(self, study_id: str, attempts: int, node: str | None) -> None:
        """How many times the study has started in this run of the campaign (Ray's retries included)."""
        with self.db:
            self.db.execute(
                "UPDATE studies SET attempts = MAX(attempts, ?), node = COALESCE(?, node) WHERE study_id = ?",
                (attempts, node, study_id),
            )

    def add_trial(self, study_id: str, record: dict[str, Any]) -> bool:
        """Store one trial; False when it was already there (a retry or a duplicate arrival)."""
        with self.db:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO trials (study_id, variant, trial_index, record_json) VALUES (?, ?, ?, ?)",
                (study_id, record["variant"], record["trial_index"], json.dumps(record)),
            )
        return cur.rowcount == 1

    def trials(self, study_id: str | None = None) -> list[dict[str, Any]]:
        """Stored trial records (of one study, or all), in arrival order."""
        q = "SELECT record_json FROM trials" + (" WHERE study_id = ?" if study_id else "") + " ORDER BY rowid"
        return [upgrade(json.loads(r[0])) for r in self.db.execute(q, (study_id,) if study_id else ())]

    def studies(self) -> list[dict[str, Any]]:
        """Every study with its labels, config, provenance, status, attempts and node."""
        rows = self.db.execute(
            "SELECT study_id, labels_json, config_json, provenance_json, status, attempts, node FROM studies "
            "ORDER BY rowid"
        ).fetchall()
        return [
            {
                "study_id": r[0],
                "labels": json.loads(r[1]),
                "config": json.loads(r[2]),
                "provenance": None if r[3] is None else json.loads(r[3]),
                "status": r[4],
                "attempts": r[5],
                "node": r[6],
            }
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Trials per study."""
        return dict(self.db.execute("SELECT study_id, COUNT(*) FROM trials GROUP BY study_id").fetchall())

    def close(self) -> None:
        """Close the file."""
        self.db.close()
