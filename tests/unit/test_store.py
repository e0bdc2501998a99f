import sqlite3

import pytest

from wattcut.errors import UserInputError
from wattcut.store import SCHEMA_VERSION, Store
from wattcut.store.sqlite import STORE_NAME


def record(variant="baseline", trial=0, energy=12.0):
    return {
        "variant": variant,
        "trial_index": trial,
        "seed": trial,
        "phases": [
            {
                "phase": "infer",
                "step": None,
                "duration_s": 1.0,
                "samples": 10,
                "tokens": 100,
                "requests": 10,
                "cpu_time_s": 2.0,
                "energy_j": energy,
                "estimated": True,
                "energy": {"cpu": {"energy_j": energy, "method": "m", "estimated": True, "source": "s"}},
            }
        ],
        "model": {"parameters": 10, "nonzero_parameters": 10, "file_size_bytes": 1000, "runtime": "pytorch",
                  "precision": "fp32"},
    }  # fmt: skip


def test_trials_are_committed_and_flattened(tmp_path):
    s = Store.open(tmp_path / STORE_NAME)
    assert s.begin_study("x", {"a": 1}, {}) is False
    s.append_trial(record())
    s.close()
    # A separate connection sees the committed trial and its flattened phase.
    c = sqlite3.connect(tmp_path / STORE_NAME)
    assert c.execute("SELECT variant, trial_index FROM trials").fetchall() == [("baseline", 0)]
    assert c.execute("SELECT phase, energy_j, estimated FROM phases").fetchall() == [("infer", 12.0, 1)]
    assert c.execute("SELECT component, method FROM phase_energy").fetchall() == [("cpu", "m")]
    assert c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_same_study_resumes_other_study_is_refused(tmp_path):
    s = Store.open(tmp_path / STORE_NAME)
    s.begin_study("x", {"a": 1}, {})
    s.append_trial(record())
    assert s.begin_study("x", {"a": 1}, {}) is True
    assert s.done() == {("baseline", 0)}
    with pytest.raises(UserInputError, match="different study"):
        s.begin_study("x", {"a": 2}, {})


def test_duplicate_trial_rolls_back_whole_transaction(tmp_path):
    s = Store.open(tmp_path / STORE_NAME)
    s.begin_study("x", {}, {})
    s.append_trial(record(energy=1.0))
    with pytest.raises(sqlite3.IntegrityError):
        s.append_trial(record(energy=2.0))
    assert [t["phases"][0]["energy_j"] for t in s.trials()] == [1.0]
    assert s.conn.execute("SELECT COUNT(*) FROM phases").fetchone() == (1,)


def test_other_schema_version_is_refused(tmp_path):
    p = tmp_path / STORE_NAME
    Store.open(p).close()
    c = sqlite3.connect(p)
    c.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    c.commit()
    c.close()
    with pytest.raises(UserInputError, match="schema version 999"):
        Store.open(p)


def test_not_a_database_is_a_user_error(tmp_path):
    p = tmp_path / STORE_NAME
    p.write_text("hello, not sqlite" * 100)
    with pytest.raises(UserInputError, match="not a usable wattcut store"):
        Store.open(p)
