"""Run a study: fine-tune the baseline per trial, derive each variant, measure, store.

For every trial index (seed):

1. ``train``: load the pretrained model with a fresh head and fine-tune it (baseline).
2. For the baseline and each variant, on a copy of the fine-tuned model:
   ``compress`` (one window per technique step), ``evaluate`` (quality on the eval
   split), ``infer`` (the timed request workload, after a warm-up).
3. Commit the trial's record to the store at once, then move on.

Trials already in the store (an interrupted run of the same study) are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.settings import BASELINE, StudyConfig, VariantConfig
from wattcut.store import STORE_NAME, Store
from wattcut.ui import console

RECORD_VERSION = 1


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


def _threads(cfg: StudyConfig) -> int:
    if cfg.threads:
        return cfg.threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_study(cfg: StudyConfig, out: Path, header: str = "") -> Path:
    """Run ``cfg`` into ``out`` and write the reports; returns the store path.

    Inputs (output folder, model, data) are checked first, so bad input fails in
    seconds with nothing half-written; then ``header`` and the resolved config are echoed.
    """
    import torch

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.data import load_splits
    from wattcut.measure import EnergySession
    from wattcut.measure.select import select_meters
    from wattcut.models.handles import TorchClassifier
    from wattcut.models.loading import load_classifier, load_tokenizer, resolve_model_source
    from wattcut.report.build import write_reports
    from wattcut.runner import loops
    from wattcut.runner.plan import plan_trials
    from wattcut.runner.provenance import collect
    from wattcut.settings import to_toml

    # Check every input before the first expensive step, so bad input costs seconds.
    prepare_out(out)
    source = resolve_model_source(cfg.model)
    train, evals = load_splits(cfg.data, seed=cfg.seed)
    _check_layer_counts(cfg, source)
    threads = _threads(cfg)
    torch.set_num_threads(threads)
    console.rule(f"wattcut run: {cfg.name}")
    console.print(header + to_toml(cfg), highlight=False, markup=False)

    store = Store.open(out / STORE_NAME)
    resumed = store.begin_study(cfg.name, cfg.to_dict(), collect())
    (out / "config.resolved.toml").write_text(to_toml(cfg), encoding="utf-8")
    done = store.done()
    if resumed:
        console.print(f"[yellow]Resuming[/]: {len(done)} finished trial(s) already in {store.path} are kept.")
    console.print(
        f"data: {len(train)} training rows from {train.source}; {len(evals)} evaluation rows from {evals.source}; "
        f"labels {train.label_names}",
        soft_wrap=True,
        markup=False,
    )
    tokenizer = load_tokenizer(source, cfg.model)
    variants = {v.name: v for v in cfg.variants}
    meters, probes = select_meters(cfg.measure)
    for p in probes:
        mark = "✓" if p.available else "✗"
        console.print(
            f"meter {p.component}: {p.meter} {mark} {p.reason}", highlight=False, markup=False, soft_wrap=True
        )
    session = EnergySession(meters)
    idle = None
    if cfg.measure.idle_s > 0:
        console.print(f"measuring the idle baseline ({cfg.measure.idle_s:g} s, keep the machine quiet)...")
        idle = session.measure_idle(cfg.measure.idle_s).to_dict()
    work = out / "_work"

    try:
        for trial in plan_trials(cfg):
            todo = [v for v in trial.variants if (v, trial.index) not in done]
            if not todo:
                continue
            console.rule(f"trial {trial.index + 1}/{cfg.trials} (seed {trial.seed})")
            _seed_everything(trial.seed)

            # Phase "train": fine-tune the baseline that every variant of this trial derives from.
            base = load_classifier(source, cfg.model, train.label_names)
            with session.phase("train") as rec:
                loops.fine_tune(base.module, tokenizer, train, cfg.train, cfg.data.max_length, trial.seed, rec)
            train_phase = session.take()
            requests = loops.make_requests(tokenizer, evals, cfg.infer, cfg.data.max_length, trial.seed)

            # Compress and evaluate every variant of this trial; keep the models for the inference round.
            ready: dict[str, tuple[Any, list[Any], dict[str, Any], Any, str, Path]] = {}
            for name in todo:
                started = _now()
                variant = variants.get(name)
                vdir = work / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-t{trial.index}"  # names may hold "/"
                vdir.mkdir(parents=True, exist_ok=True)
                model = base.clone()
                ctx = CompressContext(
                    tokenizer=tokenizer,
                    max_length=cfg.data.max_length,
                    threads=threads,
                    workdir=vdir,
                    calibration_texts=train.texts,
                    train_data=train,
                    teacher=base,
                    seed=trial.seed,
                    phase=session.phase,
                )
                # Phase "compress": one window per technique in the pipeline.
                flops = model.flops_per_sequence(cfg.data.max_length)
                for i, step in enumerate(variant.techniques if variant else ()):
                    with session.phase("compress", step=f"{i + 1}:{step.name}"):
                        model = TECHNIQUES.get(step.name).apply(model, step.config, ctx)
                    if isinstance(model, TorchClassifier) and model.precision == "fp32":
                        flops = model.flops_per_sequence(cfg.data.max_length)  # outside the window
                # Phase "evaluate": quality on the evaluation split.
                with session.phase("evaluate") as rec:
                    metrics = loops.evaluate(model, tokenizer, evals, cfg.evaluate, cfg.data.max_length, rec)
                facts = replace(model.facts(vdir), flops_per_sequence=flops)
                phases = (train_phase if name == BASELINE else []) + session.take()
                ready[name] = (model, phases, metrics, facts, started, vdir)

            # Phase "infer": one interleaved round, repeated while the baseline sentinel drifts.
            infer, contention = _inference_round(cfg, session, loops, base, requests, ready)
            for name, (model, phases, metrics, facts, started, vdir) in ready.items():
                artifact = None
                if cfg.save_variants:
                    artifact = model.save(out / "artifacts" / vdir.name)
                    tokenizer.save_pretrained(artifact)
                infer_phases, latencies = infer[name]
                variant = variants.get(name)
                record = _record(
                    cfg, name, variant, trial.index, trial.seed, phases + infer_phases, metrics, facts, latencies
                )
                record["idle_baseline"] = idle
                record["contention"] = contention
                record["model"]["saved_to"] = None if artifact is None else str(artifact)
                record["started_at"], record["finished_at"] = started, _now()
                store.append_trial(record)  # committed now: a later crash cannot lose it
                _echo(record)
                shutil.rmtree(vdir, ignore_errors=True)
            del ready
    finally:
        session.close()
        shutil.rmtree(work, ignore_errors=True)
        write_reports(store, out)
        store.close()
    return out / STORE_NAME


def _check_layer_counts(cfg: StudyConfig, source: str) -> None:
    """Refuse per-layer settings that do not fit the model, before any training.

    ``layer_amounts`` needs one value per encoder layer at its step of the pipeline
    (after any ``prune_layers`` before it); the count comes from the model's config.
    """
    from transformers import AutoConfig

    from wattcut.compress.prune_layers import layers_to_keep

    try:
        layers = int(AutoConfig.from_pretrained(source, revision=cfg.model.revision).num_hidden_layers)
    except (OSError, AttributeError, TypeError, ValueError):
        return  # no readable layer count here: the technique checks it when it runs
    for variant in cfg.variants:
        n = layers
        for step in variant.techniques:
            amounts = getattr(step.config, "layer_amounts", None)
            if amounts is not None and len(amounts) != n:
                raise UserInputError(
                    f'Variant "{variant.name}": technique "{step.name}" has {len(amounts)} layer_amounts, but the '
                    f"model has {n} layers at that step.",
                    f"Give one fraction per layer ({n} values), or use amount for the same fraction everywhere.",
                )
            if step.name == "prune_layers":
                n = len(layers_to_keep(n, step.config))


def _inference_round(
    cfg: StudyConfig, session: Any, loops: Any, base: Any, requests: list[Any], ready: dict[str, Any]
) -> tuple[dict[str, tuple[list[Any], list[float]]], dict[str, Any]]:
    """Serve every variant's workload back to back, bracketed by a baseline latency sentinel.

    Returns each variant's infer phase records and latencies, and the contention check:
    the sentinel's relative drift, how many rounds ran, and whether the last one was
    still drifting (then it is kept, and flagged).
    """
    import statistics as st

    ic = cfg.infer
    warm = ic.warmup_requests
    sentinel = requests[warm : warm + ic.sentinel_requests]
    drifts: list[float] = []
    for attempt in range(ic.max_repeats + 1):
        before = st.median(loops.serve(base, sentinel, _scratch(), desc="sentinel")) if sentinel else None
        results: dict[str, tuple[list[Any], list[float]]] = {}
        for name, (model, *_) in ready.items():
            loops.serve(model, requests[:warm], _scratch(), desc=f"warm-up {name}")
            time.sleep(ic.cooldown_s)  # rest between variants; also lets runtime worker threads settle
            with session.phase("infer") as rec:
                latencies = loops.serve(model, requests[warm:], rec, desc=f"infer {name}")
            results[name] = (session.take(), latencies)
        after = st.median(loops.serve(base, sentinel, _scratch(), desc="sentinel")) if sentinel else None
        drift = None if before is None or after is None else after / before - 1
        drifts.append(drift if drift is not None else 0.0)
        if drift is None or abs(drift) <= ic.drift_threshold:
            break
        if attempt < ic.max_repeats:
            console.print(
                f"[yellow]contention[/]: the baseline's latency drifted {100 * drift:+.0f}% during the round "
                f"(threshold {100 * ic.drift_threshold:.0f}%); repeating it.",
                soft_wrap=True,
            )
    last = drifts[-1]
    return results, {
        "sentinel_requests": len(sentinel),
        "drift_rel": None if not sentinel else last,
        "drift_threshold": ic.drift_threshold,
        "rounds": len(drifts),
        "drifts": drifts if sentinel else [],
        "flagged": bool(sentinel) and abs(last) > ic.drift_threshold,
    }


def _scratch() -> Any:
    from wattcut.measure.base import PhaseRecord

    return PhaseRecord(phase="warmup", duration_s=0.0)


def _record(
    cfg: StudyConfig,
    name: str,
    variant: VariantConfig | None,
    index: int,
    seed: int,
    phases: list[Any],
    metrics: dict[str, Any],
    facts: Any,
    latencies: list[float],
) -> dict[str, Any]:
    from dataclasses import asdict

    from wattcut.store import SCHEMA_VERSION

    lat_ms = sorted(1000 * x for x in latencies)
    return {
        "schema_version": SCHEMA_VERSION,
        "record_version": RECORD_VERSION,
        "variant": name,
        "trial_index": index,
        "seed": seed,
        "derived_from": None if name == BASELINE else {"variant": BASELINE, "trial_index": index},
        "techniques": [t.to_dict() for t in variant.techniques] if variant else [],
        "phases": [_with_carbon(p, cfg) for p in phases],
        "metrics": metrics,
        "latency": {
            "requests": len(lat_ms),
            "batch_size": cfg.infer.batch_size,
            "mean_ms": statistics.fmean(lat_ms),
            "p50_ms": statistics.median(lat_ms),
            "p90_ms": lat_ms[int(0.9 * (len(lat_ms) - 1))],
            "per_request_ms": lat_ms if len(lat_ms) <= 5000 else None,
        },
        "model": asdict(facts),
    }


def _with_carbon(phase: Any, cfg: StudyConfig) -> dict[str, Any]:
    """Phase dict plus its CO2e (gross and net), intensity provenance and embodied share."""
    from wattcut.measure import carbon

    d = phase.to_dict()
    intensity = carbon.resolve(cfg.carbon, phase.started_at, phase.started_at + phase.duration_s)
    c = carbon.co2e(d["energy_j"], intensity, cfg.carbon.pue)
    net = carbon.co2e(d["net_energy_j"], intensity, cfg.carbon.pue)["co2e_g"]
    d["carbon"] = {**c, "net_co2e_g": net, "embodied_co2e_g": carbon.embodied_g(cfg.carbon, phase.duration_s)}
    return d


def _echo(record: dict[str, Any]) -> None:
    infer = next(p for p in record["phases"] if p["phase"] == "infer")
    per_k = infer["energy_per_1k_requests_j"]
    console.print(
        f"  [bold]{record['variant']}[/] trial {record['trial_index']}: accuracy {record['metrics']['accuracy']:.4f}, "
        f"p50 {record['latency']['p50_ms']:.2f} ms/request, "
        f"{'n/a' if per_k is None else f'{per_k:.1f}'} J per 1,000 requests "
        f"({'estimated' if infer['estimated'] else 'measured'}), "
        f"{record['model']['file_size_bytes'] / 1e6:.1f} MB  [green]stored[/]",
        soft_wrap=True,
    )
