"""Named datasets wattcut knows, and where to find their files.

A named dataset is read from a data folder: ``$WATTCUT_DATA_DIR``, else ``./data``,
else ``../shared/data``. Datasets without an official split are split reproducibly
(stratified 80/10/10 with a fixed seed) into ``train``/``dev``/``test``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wattcut.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset's files are and how to read them.

    Attributes:
        folder: Sub-folder of the data folder.
        splits: Split name → file name; a single ``all`` entry means "split it for me".
        format: Reader (csv, tsv, jsonl, fasttext).
        text_column: Column with the text.
        label_column: Column with the label.
        quoting: ``csv`` quoting mode (SST-2 needs QUOTE_NONE: its text has bare quotes).
        encoding: File encoding.
        hub: The matching Hugging Face dataset, suggested when the files are missing.
    """

    folder: str
    splits: dict[str, str]
    format: str
    text_column: str = "text"
    label_column: str = "label"
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL
    encoding: str = "utf-8"
    hub: str = ""
    labels: tuple[str, ...] = field(default=())  # fixed label order, when names are not sortable numbers
    meanings: tuple[str, ...] = field(default=())  # what coded labels mean, in label order (default verbalizers)


DATASETS: Registry[DatasetSpec] = Registry("dataset", "[data] name")

DATASETS.add(
    "sst2",
    DatasetSpec(
        "sst2",
        {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
        "tsv",
        text_column="sentence",
        quoting=csv.QUOTE_NONE,
        hub='hub = "stanfordnlp/sst2" (text_column = "sentence", eval_split = "validation")',
        meanings=("negative", "positive"),
    ),
)
for _name in ("imdb", "yelp", "amazon"):
    DATASETS.add(
        f"{_name}_mini",
        DatasetSpec(
            "mini_reviews",
            {"train": f"{_name}_train.csv", "dev": f"{_name}_test.csv"},
            "csv",
            text_column="content" if _name == "amazon" else "text",
            meanings=("negative", "positive"),
        ),
    )
DATASETS.add(
    "financial_phrasebank",
    DatasetSpec(
        "financial_phrasebank",
        {"all": "all-data.csv"},
        "csv",
        text_column="content",
        label_column="result",
        encoding="latin-1",
        labels=("negative", "neutral", "positive"),
    ),
)
DATASETS.add(
    "amazon_polarity_sample",
    DatasetSpec(
        "amazon_polarity_sample", {"all": "test_head6459.ft.txt"}, "fasttext", meanings=("negative", "positive")
    ),
)
for _dom in ("books", "dvd", "electronics", "kitchen"):
    DATASETS.add(
        f"amazon_{_dom}",
        DatasetSpec(
            f"amazon_multidomain/{_dom}",
            {"train": "train.tsv", "dev": "dev.tsv"},
            "tsv",
            "sentence",
            meanings=("negative", "positive"),
        ),
    )


def shown(path: str | Path) -> str:
    """How a data file or folder is named in records and reports: relative to the data folder it is in.

    Reports travel (committed examples, shared results): a machine's absolute path says
    nothing useful there. A file outside every data folder is named as the user gave it.
    """
    p = Path(path).expanduser()
    try:
        resolved = p.resolve()
        for d in data_dirs():
            if d.is_dir() and resolved.is_relative_to(d.resolve()):
                return f"{resolved.relative_to(d.resolve())} (data folder)"
    except Exception:  # noqa: BLE001  (a name for display only: never fail over it)
        pass
    return str(path)


def data_dirs() -> list[Path]:
    """Folders searched for named datasets, in order."""
    dirs = []
    if os.environ.get("WATTCUT_DATA_DIR"):
        chosen = Path(os.environ["WATTCUT_DATA_DIR"]).expanduser()
        if not chosen.is_dir():
            from wattcut.errors import UserInputError

            raise UserInputError(
                f'WATTCUT_DATA_DIR is set to "{chosen}", which is not a folder.',
                "Point it at the folder that holds the datasets (e.g. ../shared/data), or unset it to use ./data "
                "and ../shared/data.",
            )
        dirs.append(chosen)
    dirs += [Path("data"), Path("..") / "shared" / "data"]
    return dirs
