"""SQLite results store, schema-versioned.

Tables:
- ``meta``: ``schema_version`` and other store-level facts.
- ``study``: one row: the resolved config (JSON), its hash, provenance, start time.
- ``trials``: one row per finished trial: variant, trial index, seed, full record (JSON).
- ``phases`` and ``phase_energy``: the trial's phase windows, flattened for SQL queries.
- ``items``: per-item results of each task's evaluation (gold, predicted, probabilities or
  log-likelihoods; per-window NLL and tokens for perplexity).
- ``infer_rounds``: each interleaved inference round's window: energy and latency per request.
- ``failures``: a variant's trial that failed (where and why); removed when a rerun stores it.

The JSON record in ``trials`` is the source of truth; the flat tables are derived from
it in the same transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.store.records import SCHEMA_VERSION, Trial, upgrade

# SCHEMA_VERSION (the tables' layout) is defined with the trial record in store/records.py
STORE_NAME = "wattcut.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS study (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    variant TEXT NOT NULL,
    trial_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    record_json TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    UNIQUE (variant, trial_index)
);
CREATE TABLE IF NOT EXISTS phases (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    ordinal INTEGER NOT NULL,
    phase TEXT NOT NULL,
    step TEXT,
    duration_s REAL NOT NULL,
    samples INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    cpu_time_s REAL NOT NULL,
    energy_j REAL,
    estimated INTEGER NOT NULL,
    PRIMARY KEY (trial_id, ordinal)
);
CREATE TABLE IF NOT EXISTS phase_energy (
    trial_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    component TEXT NOT NULL,
    energy_j REAL,
    method TEXT NOT NULL,
    estimated INTEGER NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (trial_id, ordinal, component)
);
CREATE TABLE IF NOT EXISTS items (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    task TEXT NOT NULL,
    item INTEGER NOT NULL,
    gold INTEGER,
    pred INTEGER,
    scores_json TEXT,
    nll REAL,
    tokens INTEGER,
    PRIMARY KEY (trial_id, task, item)
);
CREATE TABLE IF NOT EXISTS failures (
    variant TEXT NOT NULL,
    trial_index INTEGER NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (variant, trial_index)
);
CREATE TABLE IF NOT EXISTS infer_rounds (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    task TEXT NOT NULL,
    round INTEGER NOT NULL,
    position INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    cpu_time_s REAL NOT NULL,
    energy_j REAL,
    energy_per_request_j REAL,
    latency_mean_ms REAL,
    latency_p50_ms REAL,
    PRIMARY KEY (trial_id, task, round)
);
"""


class DiskFullError(UserInputError):
    """The disk under the output folder is full."""

    def __init__(self, folder: Path) -> None:
        import shutil

        free = shutil.disk_usage(folder).free / 1e6 if folder.exists() else 0.0
        super().__init__(
            f'The disk under "{folder}" is full ({free:.0f} MB free): the last trial could not be stored; every '
            "trial stored before it is kept.",
            f"Free at least {SCRATCH_MB} MB there (a run uses about that much scratch space, more for large "
            "models) or choose another folder with --out, then run the same command again to resume.",
        )


SCRATCH_MB = 100


def config_hash(config: dict[str, Any]) -> str:
    """Stable hash of a resolved config: the study's identity in a store.

    The output folder (``out``) is not part of it: a study resumes from any spelling or
    copy of its folder.
    """
    identity = {k: v for k, v in config.items() if k != "out"}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _item_rows(trial_id: int | None, task: str, entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Flat rows of a task's per-item results (column-wise in the record)."""
    items = entry.get("items") or {}
    if "nll" in items:
        return [
            (trial_id, task, i, None, None, None, x, n)
            for i, (x, n) in enumerate(zip(items["nll"], items["tokens"], strict=True))
        ]
    scores = items.get("probs") or items.get("loglik") or [None] * len(items.get("gold", []))
    return [
        (trial_id, task, i, g, p, None if s is None else json.dumps(s), None, None)
        for i, (g, p, s) in enumerate(zip(items.get("gold", []), items.get("pred", []), scores, strict=True))
    ]


class Store:
    """A study's results in one SQLite file.

    Example:
        >>> store = Store.open(Path(tmp) / "wattcut.sqlite")  # doctest: +SKIP
        >>> store.append_trial(record)                         # doctest: +SKIP
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open_study(cls, location: str | Path) -> Store:
        """Open an existing store that holds a study; ``location`` is its folder or file.

        Raises:
            UserInputError: No store there, or a store with no study in it yet.
        """
        path = Path(location)
        if path.is_dir():
            path = path / STORE_NAME
        store = cls.open(path, create=False)
        if store.study() is None:
            store.close()
            raise UserInputError(f'The store "{path}" holds no study yet.', "Run `wattcut run` into that folder first.")
        return store

    @classmethod
    def from_results(cls, results_json: Path, path: Path) -> Store:
        """A new store at ``path`` holding the study a ``results.json`` describes (a study shared without its store).

        The study row (started_at kept), every trial record, the failures and the search history and prediction
        are what ``results.json`` carries; statistics and summaries are not copied: the report recomputes them.

        Raises:
            UserInputError: The file is not a wattcut ``results.json``.
        """
        fix = "Give a results.json written by `wattcut run` or `wattcut report`, or the study's output folder."
        try:
            doc = json.loads(Path(results_json).read_text(encoding="utf-8"))
            study, config, trials = doc["study"], doc["config"], doc["trials"]
            config["variants"], config["trials"]  # noqa: B018  (what the report reads of the config)
            records = [Trial.from_dict(upgrade(dict(r))) for r in trials]  # a damaged record fails here, named
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise UserInputError(
                f'"{results_json}" is not a complete wattcut results.json ({type(e).__name__}: {e}).', fix
            ) from None
        store = cls.open(path)
        store.begin_study(study, config, doc.get("provenance") or {})
        with store._tx() as c:
            c.execute("UPDATE study SET started_at = ? WHERE id = 1", (doc.get("started_at") or _now(),))
        for record in records:
            store.append_trial(record)
        with store._tx() as c:
            for f in doc.get("failures") or []:
                c.execute(
                    "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                    (f["variant"], f["trial_index"], f["stage"], f["reason"], f.get("failed_at") or _now()),
                )
        if doc.get("search"):
            store.set_meta("search_history", json.dumps(doc["search"]))
        if (doc.get("prediction") or {}).get("predicted"):
            store.set_meta("prediction", json.dumps(doc["prediction"]["predicted"]))
        return store

    @classmethod
    def open(cls, path: Path, create: bool = True) -> Store:
        """Open (or create) a store, checking its schema version."""
        if not create and not path.is_file():
            raise UserInputError(f'No wattcut store at "{path}".', "Give a folder written by `wattcut run`.")
        try:
            conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
            conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            conn.execute("PRAGMA synchronous=FULL")  # a committed trial survives a kill or power loss
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise UserInputError(
                f'"{path}" is not a usable wattcut store: {e}.', "Use another output folder."
            ) from None
        try:  # a store damaged in the middle fails here, with exit 2, not halfway through a report
            problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
        except sqlite3.DatabaseError as e:
            problems = [str(e)]
        if problems:
            conn.close()
            raise UserInputError(
                f'The store "{path}" is damaged ({problems[0]}).',
                "Restore it from a copy, or run the study into a new output folder (its report files, if any, "
                "still hold what was finished).",
            ) from None
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) == 1:  # version 2 only added tables (created above): its older trials have no rows there
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise UserInputError(
                f'The store "{path}" has schema version {row[0]}; this wattcut reads version {SCHEMA_VERSION}.',
                "Use the wattcut version that wrote it, or run the study into a new output folder.",
            )
        return cls(conn, path)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # a failed ROLLBACK must not hide the real error
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if "full" in str(e):
                raise DiskFullError(self.path.parent) from None
            raise

    def begin_study(self, name: str, config: dict[str, Any], provenance: dict[str, Any]) -> bool:
        """Record the study, or check that the store already holds this same study.

        Returns:
            True if the store already held this study (a resume), False if new.

        Raises:
            UserInputError: If the store holds a different study.
        """
        h = config_hash(config)
        row = self.conn.execute("SELECT config_json, name FROM study WHERE id = 1").fetchone()
        if row is not None:
            stored = config_hash(json.loads(row[0]))  # recomputed: older stores hashed the folder path too
            if stored != h and not self.trials_count():
                # A run that stopped before its first trial (bad input found late) claims nothing: start over.
                with self._tx() as c:
                    c.execute("DELETE FROM study")
            elif stored != h:
                raise UserInputError(
                    f'The output folder "{self.path.parent}" already holds results of a different study '
                    f'("{row[1]}", config {stored}).',
                    "Choose another folder with --out, or delete that folder to start over.",
                )
            else:
                return True
        with self._tx() as c:
            c.execute(
                "INSERT INTO study VALUES (1, ?, ?, ?, ?, ?)",
                (name, json.dumps(config), h, json.dumps(provenance), _now()),
            )
        return False

    def append_trial(self, record: Trial | dict[str, Any]) -> None:
        """Commit one finished trial (and its flattened phases, items and rounds) atomically.

        A dict is read as a :class:`Trial` first, so a record with a missing field fails here, not in the report.
        """
        trial = record if isinstance(record, Trial) else Trial.from_dict(record)
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO trials (variant, trial_index, seed, record_json, finished_at) VALUES (?, ?, ?, ?, ?)",
                (trial.variant, trial.trial_index, trial.seed, json.dumps(trial.to_dict()), _now()),
            )
            trial_id = cur.lastrowid
            c.execute(  # a rerun that stores a variant once failed clears its failure
                "DELETE FROM failures WHERE variant = ? AND trial_index = ?", (trial.variant, trial.trial_index)
            )
            for i, ph in enumerate(trial.phases):
                c.execute(
                    "INSERT INTO phases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        trial_id, i, ph.phase, ph.step, ph.duration_s, ph.samples, ph.tokens, ph.requests,
                        ph.cpu_time_s, ph.energy_j, int(bool(ph.estimated)),
                    ),
                )  # fmt: skip
                for comp, e in ph.energy.items():
                    c.execute(
                        "INSERT INTO phase_energy VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (trial_id, i, comp, e["energy_j"], e["method"], int(e["estimated"]), e["source"]),
                    )
            for task, entry in trial.tasks.items():
                c.executemany(
                    "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _item_rows(trial_id, task, entry.to_dict())
                )
                c.executemany(
                    "INSERT INTO infer_rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            trial_id, task, r.round, r.position, r.requests, r.duration_s, r.cpu_time_s, r.energy_j,
                            r.energy_per_request_j, r.latency_mean_ms, r.latency_p50_ms,
                        )
                        for r in entry.rounds
                    ],
                )  # fmt: skip

    def add_failure(self, variant: str, trial_index: int, stage: str, reason: str) -> None:
        """Record that a variant's trial failed (its stage and reason); the study goes on without it."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)", (variant, trial_index, stage, reason, _now())
            )

    def failures(self) -> list[dict[str, Any]]:
        """Variant trials that failed and have not been stored since."""
        rows = self.conn.execute(
            "SELECT variant, trial_index, stage, reason, failed_at FROM failures ORDER BY failed_at, variant"
        ).fetchall()
        keys = ("variant", "trial_index", "stage", "reason", "failed_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def trials_count(self) -> int:
        """How many trials are stored."""
        return int(self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def done(self) -> set[tuple[str, int]]:
        """(variant, trial_index) pairs already stored."""
        return {(v, t) for v, t in self.conn.execute("SELECT variant, trial_index FROM trials")}

    def study(self) -> dict[str, Any] | None:
        """The study row: name, config, provenance, started_at (None if empty)."""
        row = self.conn.execute("SELECT name, config_json, provenance_json, started_at FROM study").fetchone()
        if row is None:
            return None
        return {
            "name": row[0],
            "config": json.loads(row[1]),
            "provenance": json.loads(row[2]),
            "started_at": row[3],
        }

    def records(self) -> list[Trial]:
        """All stored trials as typed records, in the order they finished."""
        return [Trial.from_dict(r) for r in self.trials()]

    def trials(self) -> list[dict[str, Any]]:
        """All stored trial records, in the order they finished."""
        rows = self.conn.execute("SELECT record_json FROM trials ORDER BY id")
        return [upgrade(json.loads(r[0])) for r in rows]  # records of earlier versions read as today's

    def set_meta(self, key: str, value: str) -> None:
        """Store a study-level document (e.g. ``search_history``) under ``key``, replacing any earlier one."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self, key: str) -> str | None:
        """A study-level document stored with :meth:`set_meta` (None if absent)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
