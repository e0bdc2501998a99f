"""Loader for the local ``mmlu_local_<subject>`` lm-eval tasks: MMLU's original CSVs from the data folder.

Read with the ``csv`` module, never pandas (which turns the literal choice ``None`` into NaN and
re-formats numeric-looking choices), into the fields lm-eval's stock MMLU tasks use:
``question``, ``subject``, ``choices`` (4 strings) and ``answer`` (0-3). Rows keep file order,
so the few-shot examples are the stock ones (the first 5 dev rows). The folder is found under
the data folders (``$WATTCUT_DATA_DIR``, ``./data``, ``../shared/data``) as ``mmlu/``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

SPLITS = {"test": "test", "dev": "dev", "validation": "val"}


def rows(path: Path, subject: str) -> list[dict[str, Any]]:
    """One CSV file (no header: question, A, B, C, D, answer letter) as lm-eval docs."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5].strip())}
            for r in csv.reader(f)
        ]


def load(subject: str, **_: Any) -> Any:
    """A ``DatasetDict`` with ``test``, ``dev`` and ``validation`` for one subject."""
    import datasets

    from wattcut.tasks.lm import find_data_file

    out = {}
    for split, folder in SPLITS.items():
        path = find_data_file(f"mmlu/{folder}/{subject}_{folder}.csv", f"the MMLU subject {subject}")
        out[split] = datasets.Dataset.from_list(rows(path, subject))
    return datasets.DatasetDict(out)
