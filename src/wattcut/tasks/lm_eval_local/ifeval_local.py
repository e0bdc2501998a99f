"""Loader for the local ``ifeval_local`` lm-eval task: IFEval's ``input_data.jsonl`` from the data folder.

The file's four fields (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``) are the ones the
harness's scorer reads; its sparse kwargs equal the hub copy's after the harness drops null
arguments. Scoring is the harness's own (``lm_eval.tasks.ifeval.utils``).
"""

from __future__ import annotations

import json
from typing import Any

from lm_eval.tasks.ifeval.utils import agg_inst_level_acc, process_results

__all__ = ["agg_inst_level_acc", "load", "process_results"]


def load(**_: Any) -> Any:
    """A ``DatasetDict`` with the 541 prompts as its ``train`` split (the harness's ``test_split``)."""
    import datasets

    from wattcut.tasks.lm import find_data_file

    path = find_data_file("ifeval/input_data.jsonl", "the ifeval_local lm-eval task's data")
    with open(path, encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    # Arrow widens every kwargs dict to all argument names with nulls, as in the hub copy; the harness
    # drops the null (falsy) ones before calling a checker.
    return datasets.DatasetDict({"train": datasets.Dataset.from_list(docs)})
