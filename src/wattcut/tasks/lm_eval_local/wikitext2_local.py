"""Loader for the local ``wikitext2_local`` lm-eval task: WikiText-2 raw test split into articles.

Articles start at top-level headings (`` = Title = ``), which gives the document-level set
that lm-eval's stock ``wikitext`` task reads from the hub. The file is found in the data
folders (``$WATTCUT_DATA_DIR``, ``./data``, ``../shared/data``) or at ``$WATTCUT_WIKITEXT2``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lm_eval.tasks.wikitext.preprocess_wikitext import process_results, wikitext_detokenizer

HEADING = re.compile(r"^ = [^=].* = $")


def _file() -> Path:
    if os.environ.get("WATTCUT_WIKITEXT2"):
        return Path(os.environ["WATTCUT_WIKITEXT2"])
    from wattcut.tasks.lm import find_data_file

    return find_data_file("wikitext2/wiki.test.raw", "the wikitext2_local lm-eval task's data")


def articles(text: str) -> list[str]:
    """The text cut into articles at top-level headings."""
    out: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if HEADING.match(line.rstrip("\n")) or not out:
            out.append([])
        out[-1].append(line)
    return ["".join(a).strip("\n") + "\n" for a in out if "".join(a).strip()]


def load(**kwargs: Any) -> Any:
    """A ``DatasetDict`` with a ``test`` split of ``{"page": article}`` rows."""
    import datasets

    pages = articles(_file().read_text(encoding="utf-8"))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list([{"page": p} for p in pages])})


def detokenize(doc: dict[str, str]) -> str:
    """lm-eval's WikiText detokenizer."""
    return wikitext_detokenizer(doc)


__all__ = ["articles", "detokenize", "load", "process_results"]
