"""Readers for labelled text files: CSV, TSV, JSONL and fastText.

Each reader returns ``(texts, raw_labels)``; column names are checked and a missing
column is reported with the columns the file does have.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Literal

from wattcut.errors import UserInputError, did_you_mean

FORMATS = ("csv", "tsv", "jsonl", "fasttext")
_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".txt": "fasttext",
    ".ft": "fasttext",
}


def detect_format(path: Path, declared: str) -> str:
    """Pick the reader from ``declared`` or, for ``auto``, the file suffix."""
    if declared != "auto":
        return declared
    fmt = _SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise UserInputError(
            f'Cannot tell the format of "{path}" from its suffix.',
            f"Set [data] format to one of {', '.join(FORMATS)}.",
        )
    return fmt


def _columns(path: Path, have: list[str], text_column: str, label_column: str) -> None:
    for role, col in (("label", label_column), ("text", text_column)):
        if col not in have:
            raise UserInputError(
                f'The dataset file "{path}" has no {role} column "{col}"; its columns are: '
                f"{', '.join(have) or '(none)'}.{did_you_mean(col, have)}",
                f"Set [data] {role}_column to the column that holds the {role}s.",
            )


FIELD_LIMIT = 16 * 1024 * 1024  # Python's csv default (128 KiB) refuses long reviews and documents


def read_table(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str,
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
    encoding: str = "utf-8",
) -> tuple[list[str], list[str]]:
    """Read ``(texts, labels)`` from a CSV/TSV/JSONL/fastText file.

    Raises:
        UserInputError: The file is not in ``encoding``, a field is larger than 16 MiB, a
            column is missing, or a row has no text or label.
    """
    try:
        return _read_table(path, fmt, text_column, label_column, quoting, encoding)
    except UnicodeDecodeError as e:
        raise UserInputError(
            f'"{path}" is not valid {encoding} (byte {e.object[e.start : e.start + 1]!r} at offset {e.start}).',
            'Set [data] encoding to the file\'s encoding (for example encoding = "latin-1" or "cp1252"), or '
            "convert the file to UTF-8.",
        ) from None
    except csv.Error as e:
        raise UserInputError(
            f'"{path}" could not be read as {fmt.upper()}: {e}.',
            "Check the file's format (a field may be larger than 16 MiB, or a quote unclosed), or set [data] format.",
        ) from None


def _read_table(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str,
    quoting: Literal[0, 1, 2, 3],
    encoding: str,
) -> tuple[list[str], list[str]]:
    csv.field_size_limit(FIELD_LIMIT)
    if fmt == "fasttext":
        return _read_fasttext(path, encoding)
    if fmt == "jsonl":
        rows = []
        with path.open(encoding=encoding) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise UserInputError(f'"{path}" line {n} is not valid JSON: {e}.', "Fix that line.") from None
        _columns(path, list(rows[0]) if rows else [], text_column, label_column)
    else:
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ",", quoting=quoting)
            _columns(path, list(reader.fieldnames or []), text_column, label_column)
            rows = list(reader)
    texts, labels = [], []
    for n, row in enumerate(rows, 2):
        text, label = row.get(text_column), row.get(label_column)
        if text is None or label is None or str(label).strip() == "":
            raise UserInputError(
                f'"{path}" row {n} has no {"text" if text is None else "label"}.',
                "Remove or fix that row.",
            )
        texts.append(str(text).strip())
        labels.append(str(label).strip())
    return texts, labels


def _read_fasttext(path: Path, encoding: str) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with path.open(encoding=encoding) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            label, _, text = line.rstrip("\n").partition(" ")
            if not label.startswith("__label__"):
                raise UserInputError(
                    f'"{path}" line {n} does not start with __label__<name>, so it is not fastText format.',
                    "Set [data] format to csv, tsv or jsonl if the file is one of those.",
                )
            labels.append(label.removeprefix("__label__"))
            texts.append(text.strip())
    return texts, labels
