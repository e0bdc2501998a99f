"""One trial's record: what the runner measured, in the layout the store, stats and report read."""

from __future__ import annotations

import statistics
from typing import Any

from wattcut.runner.checks import task_key, threads_of
from wattcut.settings import BASELINE, StudyConfig, VariantConfig
from wattcut.store.records import RECORD_VERSION, Trial
from wattcut.ui import console, escape


def _latency(latencies: list[float], batch_size: int) -> dict[str, Any]:
    lat_ms = sorted(1000 * x for x in latencies)
    if not lat_ms:
        return {"requests": 0, "batch_size": batch_size, "mean_ms": None, "p50_ms": None, "p90_ms": None}
    return {
        "requests": len(lat_ms),
        "batch_size": batch_size,
        "mean_ms": statistics.fmean(lat_ms),
        "p50_ms": statistics.median(lat_ms),
        "p90_ms": lat_ms[int(0.9 * (len(lat_ms) - 1))],
        "per_request_ms": lat_ms if len(lat_ms) <= 5000 else None,
    }


def make_record(
    cfg: StudyConfig,
    tasks: list[Any],
    name: str,
    variant: VariantConfig | None,
    index: int,
    seed: int,
    phases: list[Any],
    metrics: dict[str, dict[str, Any]],
    facts: Any,
    infer: dict[str, dict[str, Any]],
    start: str | None = None,
) -> dict[str, Any]:
    """One trial's record: ``metrics``, ``metric_spec`` and ``latency`` of the primary task; ``tasks``: all.

    ``start``: the resolved source of a variant that starts from its own pretrained model (None: from the baseline).
    """
    from dataclasses import asdict

    from wattcut.store import SCHEMA_VERSION

    primary = task_key(tasks[0])
    energy_task = cfg.energy_task or primary
    none: dict[str, Any] = {"phases": [], "latencies": [], "rounds": [], "details": None}  # no request workload
    infer = {task_key(t): infer.get(task_key(t), none) for t in tasks}
    all_phases = list(phases) + [p for t in tasks for p in infer[task_key(t)]["phases"]]
    per_task: dict[str, Any] = {}
    for t in tasks:
        k = task_key(t)
        spec = t.metric_spec.to_dict() if t.metric_spec is not None else None
        items = metrics[k].pop("items", None)  # per-item results, for the item-level paired tests
        exits = metrics[k].pop("exits", None)  # early exit: the threshold sweep on the evaluation items
        explain = metrics[k].pop("explain", None)  # [explain]: SHAP attributions of sampled items
        entry: dict[str, Any] = {"task": t.name, "data": t.describe_data(), "metrics": metrics[k], "metric_spec": spec}
        entry["latency"] = _latency(infer[k]["latencies"], cfg.infer.batch_size)
        entry["rounds"] = infer[k]["rounds"]
        if items is not None:
            entry["items"] = items
        if exits is not None:
            entry["exits"] = exits
        if explain is not None:
            entry["explain"] = explain
        details = infer[k]["details"]
        if details is not None:
            entry["requests"] = details
            infer_phase = next(p for p in infer[k]["phases"] if p.phase == "infer")
            entry["workload"] = t.workload_summary(details, infer_phase.to_dict())
        per_task[k] = entry
    return {
        "schema_version": SCHEMA_VERSION,
        "record_version": RECORD_VERSION,
        "variant": name,
        "trial_index": index,
        "seed": seed,
        "derived_from": (
            None
            if name == BASELINE
            else {"variant": BASELINE, "trial_index": index}
            if start is None
            else {"model": start, "trial_index": index}  # its own pretrained model, trained in its own window
        ),
        "techniques": [t.to_dict() for t in variant.techniques] if variant else [],
        "task": primary,
        "metric_spec": per_task[primary]["metric_spec"],
        "phases": [_with_carbon(p, cfg) for p in all_phases],
        "metrics": metrics[primary],
        "tasks": per_task,
        "energy_task": energy_task,
        "latency": per_task[energy_task]["latency"],
        "model": asdict(facts),
        "deployment": {
            "threads": (variant.threads if variant is not None and variant.threads else None) or threads_of(cfg),
            "threads_source": "variant" if variant is not None and variant.threads else "study",
            "batch_size": cfg.infer.batch_size,
            **({"bucket": True} if cfg.infer.bucket else {}),
        },
    }


def _with_carbon(phase: Any, cfg: StudyConfig) -> dict[str, Any]:
    """Phase dict plus its CO2e (gross and net), intensity provenance and embodied share."""
    from wattcut.measure import carbon

    return carbon.priced(phase, cfg.carbon)


def echo(trial: Trial) -> None:
    """One line per stored trial: quality, latency, energy per 1,000 requests, size."""
    from wattcut.metric import MetricSpec

    spec = MetricSpec.from_dict(trial.metric_spec)
    value = trial.metric(spec.key)
    infer = trial.infer_phase()
    per_k = None if infer is None else infer.energy_per_1k_requests_j
    p50 = None if trial.latency is None else trial.latency.p50_ms
    console.print(
        f"  [bold]{escape(trial.variant)}[/] trial {trial.trial_index}: "
        f"{escape(spec.label)} {'n/a' if value is None else f'{value:.4g}'}, "
        f"p50 {'n/a' if p50 is None else f'{p50:.2f}'} ms/request, "
        f"{'n/a' if per_k is None else f'{per_k:.1f}'} J per 1,000 requests "
        f"({'estimated' if infer is not None and infer.estimated else 'measured'}), "
        f"{trial.model.file_size_bytes / 1e6:.1f} MB  [green]stored[/]",
        soft_wrap=True,
    )
