"""Everything a study needs checked before any work: the output folder, the disk, the model, data and techniques.

Used by ``wattcut run`` and ``wattcut validate`` alike, so that what ``run`` would refuse,
``validate`` refuses first.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.settings import StudyConfig
from wattcut.ui import console, escape


def check_free_space(out: Path, source: str) -> None:
    """Refuse to start when the output folder's disk cannot hold a run's scratch files (and the model twice)."""
    from wattcut.store.sqlite import SCRATCH_MB

    model = Path(source)
    model_mb = sum(f.stat().st_size for f in model.rglob("*") if f.is_file()) / 1e6 if model.is_dir() else 0.0
    need_mb = SCRATCH_MB + 2 * model_mb  # each variant is saved once to measure its size
    free_mb = shutil.disk_usage(out).free / 1e6
    if free_mb < need_mb:
        raise UserInputError(
            f'The disk under "{out}" has {free_mb:.0f} MB free; this run needs about {need_mb:.0f} MB '
            f"(scratch files and a saved copy of each variant of a {model_mb:.0f} MB model).",
            "Free some space there, or choose another folder with --out.",
        )


def prepare_out(out: Path) -> None:
    """Create ``out`` and prove it is writable, before any work is done."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".wattcut-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise UserInputError(
            f'The output folder "{out}" is not writable ({e.strerror or e}).',
            "Choose a folder you can write to with --out (or [study] out in the experiment file).",
        ) from None


def threads_of(cfg: StudyConfig) -> int:
    """The study's threads: ``[study] threads``, else every core this process may run on."""
    if cfg.threads:
        return cfg.threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class Start:
    """A variant that starts from its own pretrained model: that model's source, and tasks loaded for it.

    Its tasks are the study's tasks with ``[model]`` replaced (the same data, subsets and seeds,
    so its evaluation items and requests are the baseline's), because a task's model loading,
    training and tokenizer follow ``[model]``.
    """

    source: str
    tasks: list[Any]


def check_inputs(cfg: StudyConfig) -> tuple[str, list[Any], dict[str, Start]]:
    """Resolve the model and check it, every task's data and every technique's settings, before any work.

    Returns the model source, the study's tasks (primary first), data loaded, and the variants
    that start from their own model (checked the same way). Used by ``wattcut run`` and
    ``wattcut validate`` alike.
    """
    import time

    from wattcut.compress import TECHNIQUES
    from wattcut.errors import UserInputError
    from wattcut.measure import carbon
    from wattcut.tasks.catalog import build_tasks

    # Cheap checks first (settings, data files), then the model (which may convert a GGUF once).
    tasks = build_tasks(cfg)
    kinds = sorted({t.model_kind for t in tasks})
    if len(kinds) > 1:
        raise UserInputError(
            f"The tasks of this study need different kinds of model ({', '.join(kinds)}): "
            f"{', '.join(f'{t.key} ({t.model_kind})' for t in tasks)}.",
            "Put tasks for an encoder classifier and for a causal language model in separate studies.",
        )
    for variant in cfg.variants:
        for step in variant.techniques:
            works_on = TECHNIQUES.get(step.name).routes(step.config)[2]
            if tasks[0].model_kind not in works_on:
                usable = [n for n in TECHNIQUES.names() if tasks[0].model_kind in TECHNIQUES.get(n).kinds]
                kind = tasks[0].model_kind
                raise UserInputError(
                    f'Variant "{variant.name}": technique "{step.name}" works on {" and ".join(works_on)} models, but '
                    f"this study's tasks use a model of kind {kind}.",
                    f"Techniques for that kind: {', '.join(usable)}."
                    if usable
                    else f"No technique takes {kind} models yet: remove this step (a variant with no techniques "
                    "is an unchanged copy, which measures the noise floor).",
                )
        if variant.techniques:  # a task that serves only some runtimes (lm_eval: PyTorch modules)
            last = variant.techniques[-1]
            runtime = TECHNIQUES.get(last.name).routes(last.config)[1]
            for t in tasks:
                served = t.runtimes
                if served is not None and runtime not in served:
                    raise UserInputError(
                        f'Variant "{variant.name}" ends on the {runtime} runtime, which the task "{t.key}" cannot '
                        f"use (it runs on {', '.join(served)}).",
                        f'Leave "{t.key}" out of this study, or run that variant in a study without it.',
                    )
    for variant in cfg.variants:  # energy budgets are priced by the cost profile, measured for encoders only
        for step in variant.techniques:
            if tasks[0].model_kind != "sequence-classifier" and TECHNIQUES.get(step.name).needs_cost_profile(
                step.config
            ):
                raise UserInputError(
                    f'Variant "{variant.name}": technique "{step.name}" has an energy budget, which is priced by '
                    f"the cost profile of encoder classifiers; this study's model is of kind {tasks[0].model_kind}.",
                    "Remove energy_budget from that step (for a CNN, prune_channels with an amount).",
                )
    for variant in cfg.variants:
        if variant.threads and tasks[0].model_kind != "sequence-classifier":
            raise UserInputError(
                f'Variant "{variant.name}" sets threads = {variant.threads}; per-variant threads are supported for '
                "encoder classifiers only so far.",
                "Remove threads from the variant, or set [study] threads for the whole study.",
            )
    for variant in cfg.variants:  # what a step needs besides the model: a runtime, a teacher folder, a file
        for step in variant.techniques:
            check = TECHNIQUES.get(step.name).check_inputs
            if check is not None:
                check(step.config)
    if cfg.infer.bucket:
        fixed = [t.key for t in tasks if not t.buckets]
        if fixed:
            raise UserInputError(
                f"[infer] bucket = true, but the task(s) {', '.join(fixed)} do not batch texts of varying length "
                "(their requests are images of one size, prompts or a replayed conversation).",
                "Remove bucket, or keep it for a study of sequence_classification only.",
            )
    for t in tasks:
        t.prepare()
    if cfg.explain.samples:
        _check_explain(cfg, tasks)
    for note in carbon.check_inputs(cfg.carbon, time.time()):
        console.print(f"[yellow]carbon[/]: {escape(note)}", soft_wrap=True)
    source = tasks[0].resolve_source(cfg.model)
    for t in tasks:
        t.check_model(source)
    _check_steps_on(replace(cfg, variants=tuple(v for v in cfg.variants if v.model is None)), tasks, source)
    return source, tasks, {v.name: _check_start(cfg, v) for v in cfg.variants if v.model is not None}


def _check_steps_on(cfg: StudyConfig, tasks: list[Any], source: str) -> None:
    """What each variant's steps need of the model they start from: an architecture a converter knows, layers."""
    from wattcut.compress import TECHNIQUES

    for variant in cfg.variants:
        for step in variant.techniques:
            check_source = TECHNIQUES.get(step.name).check_source
            if check_source is not None:
                check_source(step.config, source)
    if tasks[0].model_kind == "sequence-classifier":
        check_techniques(cfg, source)


def _check_start(cfg: StudyConfig, variant: Any) -> Start:
    """A variant's own starting model, checked as ``[model]`` is (its tasks load the same data)."""
    from wattcut.tasks.catalog import build_tasks

    own = replace(cfg, model=variant.model, variants=(replace(variant, model=None),))
    tasks = build_tasks(own)
    for t in tasks:
        t.prepare()
    try:
        source = tasks[0].resolve_source(variant.model)
        for t in tasks:
            t.check_model(source)
    except UserInputError as e:
        raise UserInputError(f'Variant "{variant.name}" model: {e.problem}', e.fix) from None
    _check_steps_on(own, tasks, source)
    return Start(source, tasks)


def _check_explain(cfg: StudyConfig, tasks: list[Any]) -> None:
    """``[explain]``: a task that explains, enough evaluation items, and SHAP installed."""
    from wattcut.tasks.explain import explain_items, require_shap

    explaining = [t for t in tasks if t.explains and t.metric_spec is not None]
    if not explaining:
        raise UserInputError(
            f"[explain] samples = {cfg.explain.samples}, but no task of this study computes attributions "
            f"({', '.join(t.key for t in tasks)}).",
            "Remove [explain]; it works for sequence_classification and image_classification.",
        )
    for t in explaining:
        explain_items(t.eval_items(), cfg.explain.samples, cfg.seed)
    require_shap()


def task_key(t: Any) -> str:
    """A task's key in records: its ``[[tasks]]`` id, else its name."""
    return str(t.key)


def check_techniques(cfg: StudyConfig, source: str) -> None:
    """Run each technique's model check (e.g. per-layer settings vs the layer count) before any training.

    The layer count comes from the model's config and is threaded through the pipeline,
    because a step such as ``prune_layers`` changes it for the steps after it.
    """
    from wattcut.compress import TECHNIQUES
    from wattcut.models.loading import load_config

    try:
        layers = int(load_config(source, cfg.model).num_hidden_layers)
    except (UserInputError, AttributeError, TypeError, ValueError):
        return  # no readable layer count here: each technique checks it when it runs
    for variant in cfg.variants:
        n = layers
        for step in variant.techniques:
            n = TECHNIQUES.get(step.name).check_model(variant.name, step, n)
