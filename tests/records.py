"""Typed records from the partial dicts unit tests write: the fields a test does not care about get neutral values.

The statistics and the report read :class:`~wattcut.store.records.Trial` records; a test that only
sets what it checks (variant, metrics, phases) is completed here, never in the code under test.
"""

from __future__ import annotations

import copy
from typing import Any

from wattcut.store.records import Results, Trial

MODEL = {"parameters": 1, "nonzero_parameters": 1, "file_size_bytes": 1, "runtime": "pytorch", "precision": "fp32"}


def trial(d: dict[str, Any]) -> Trial:
    """A trial record from a test's partial dict (``d`` is not changed)."""
    d = {"variant": "baseline", "trial_index": 0, **copy.deepcopy(d)}
    d.setdefault("seed", d["trial_index"])
    d["model"] = {**MODEL, **(d.get("model") or {})}
    if d.get("latency") is not None:
        d["latency"] = {"requests": 1, "batch_size": 1, **d["latency"]}
    for p in d.get("phases", []):
        p.setdefault("duration_s", 0.0)
    for entry in (d.get("tasks") or {}).values():
        for r in entry.get("rounds") or []:
            r.setdefault("position", 0)
            r.setdefault("requests", 1)
            r.setdefault("duration_s", 0.0)
        if entry.get("latency") is not None:
            entry["latency"] = {"requests": 1, "batch_size": 1, **entry["latency"]}
    return Trial.from_dict(d)


def trials(ds: list[dict[str, Any]]) -> list[Trial]:
    """:func:`trial` of each."""
    return [trial(d) for d in ds]


def results(d: dict[str, Any]) -> Results:
    """A results document from a test's partial dict, its trials completed by :func:`trial`."""
    doc = {"study": "test", "config": {}, **d, "trials": [trial(t).to_dict() for t in d.get("trials") or []]}
    return Results.from_dict(doc)
