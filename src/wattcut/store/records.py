"""The trial record's versions, and how a record written by an earlier version is read today.

``RECORD_VERSION`` is written into every trial record; :func:`upgrade` brings an older record
up to it when a store or a ``results.json`` is read, so studies run by earlier versions still
load and report.
"""

from __future__ import annotations

from typing import Any

# 2: task, metric_spec and per-task results; 3: one name per runtime (OpenVINO GenAI LMs: "openvino-genai")
RECORD_VERSION = 3

# Techniques whose models earlier versions recorded under another runtime name: (technique, old, new).
_RENAMED = (("ov_weight_compress", "openvino", "openvino-genai"),)


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as this version writes it (the same dict, changed in place; a current one is left alone)."""
    version = int(record.get("record_version") or 1)
    if version < 3:
        last = (record.get("techniques") or [{}])[-1].get("name")
        model = record.get("model") or {}
        for technique, old, new in _RENAMED:
            if last == technique and model.get("runtime") == old:
                model["runtime"] = new
        record["record_version"] = RECORD_VERSION
    return record


def upgrade_results(results: dict[str, Any]) -> dict[str, Any]:
    """A ``results.json`` document with every trial record upgraded."""
    for trial in results.get("trials", []):
        upgrade(trial)
    return results
