"""Run a study: fine-tune the baseline per trial, derive each variant, measure, store.

For every trial index (seed):

1. ``train``: load the pretrained model with a fresh head and fine-tune it (baseline);
   none for a pretrained LM scored as it is or a classifier already trained.
2. For the baseline and each variant, on a copy of the baseline:
   ``compress`` (one window per technique step), ``evaluate`` (quality on the eval
   split), ``infer`` (the timed request workload, after a warm-up). A variant that is the
   same model in every trial (no re-trained baseline, seed-free techniques) is built in
   the first trial only and reused.
3. Commit the trial's record to the store at once, then move on.

Trials already in the store (an interrupted run of the same study) are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError, VariantsFailedError
from wattcut.settings import BASELINE, StudyConfig, VariantConfig
from wattcut.store import STORE_NAME, Store
from wattcut.store.records import RECORD_VERSION
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


def run_study(cfg: StudyConfig, out: Path, header: str = "", on_trial: Any = None) -> Path:
    """Run ``cfg`` into ``out`` and write the reports; returns the store path.

    Inputs (output folder, model, every task's data, per-technique model checks) are
    checked first, so bad input fails in seconds with nothing half-written; then
    ``header`` and the resolved config are echoed. The output folder is locked for the
    whole run: a second run into it is refused. ``on_trial(record)`` is called with each
    trial once it is committed (a campaign streams it to its driver).
    """
    from wattcut.runner.lock import OutputLock

    prepare_out(out)
    with OutputLock(out):  # one run per output folder, for the whole run
        return _run_locked(cfg, out, header, on_trial)


def _run_locked(cfg: StudyConfig, out: Path, header: str, on_trial: Any = None) -> Path:
    import torch

    from wattcut.measure import EnergySession
    from wattcut.measure.select import select_meters
    from wattcut.report.build import write_reports
    from wattcut.runner.plan import plan_trials
    from wattcut.runner.provenance import collect
    from wattcut.settings import to_toml

    # Check every input before the first expensive step, so bad input costs seconds.
    source, tasks = check_inputs(cfg)
    check_free_space(out, source)
    primary = tasks[0]
    threads = _threads(cfg)
    torch.set_num_threads(threads)
    console.rule(f"wattcut run: {cfg.name}")
    console.print(header + to_toml(cfg), highlight=False, markup=False)

    meters, probes = select_meters(cfg.measure)
    store = Store.open(out / STORE_NAME)
    machine = collect(cfg.measure.cpu_w_per_core, cfg.measure.ram_w_per_gb)
    machine["meters"] = [asdict(p) for p in probes]  # what this machine could measure, and why not
    resumed = store.begin_study(cfg.name, cfg.to_dict(), machine)
    (out / "config.resolved.toml").write_text(to_toml(cfg), encoding="utf-8")
    done = store.done()
    if resumed:
        console.print(
            f"[yellow]Resuming[/]: {len(done)} finished trial(s) already in {escape(str(store.path))} are kept."
        )
    for t in tasks:
        console.print(f"task {_key(t)}: {t.describe_data()}", soft_wrap=True, markup=False, highlight=False)
    tokenizer = primary.load_tokenizer(source)
    variants = {v.name: v for v in cfg.variants}
    for p in probes:
        mark = "✓" if p.available else "✗"
        console.print(
            f"meter {p.component}: {p.meter} {mark} {p.reason}", highlight=False, markup=False, soft_wrap=True
        )
    crosscheck = None
    if cfg.measure.crosscheck == "codecarbon":
        from wattcut.measure.crosscheck import CodeCarbonCrosscheck

        crosscheck = CodeCarbonCrosscheck()
        console.print(f"cross-check: codecarbon {crosscheck.version} over the same windows ({crosscheck.cpu})")
    from wattcut.measure.thermal import ThermalSampler

    session = EnergySession(meters, crosscheck=crosscheck, thermal=ThermalSampler(cfg.measure.interval_s))
    idle = None
    if cfg.measure.idle_s > 0:
        console.print(f"measuring the idle baseline ({cfg.measure.idle_s:g} s, keep the machine quiet)...")
        idle = session.measure_idle(cfg.measure.idle_s).to_dict()
    work = out / "_work"

    # Variants whose build does not depend on the trial (a baseline that is not re-trained per trial, and only
    # seed-free techniques) are built once per study and reused by every trial: see ``_reusable``.
    built: dict[str, Built] = {}
    try:
        for trial in plan_trials(cfg):
            todo = [v for v in trial.variants if (v, trial.index) not in done]
            if not todo:
                continue
            console.rule(f"trial {trial.index + 1}/{cfg.trials} (seed {trial.seed})")
            _seed_everything(trial.seed)

            # Phase "train": fine-tune the baseline that every variant of this trial derives from
            # (tasks that score a pretrained model as it is, and a classifier already trained, have no train phase).
            base = primary.load_model(source)
            train_phase = []
            if primary.trains:
                with session.phase("train", step=_key(primary)) as rec:
                    primary.fine_tune(base, tokenizer, trial.seed, rec)
                train_phase = session.take()
            requests = {_key(t): t.make_requests(tokenizer, trial.seed) for t in tasks}
            cost_profile = _cost_profile(cfg, session, primary, base, tokenizer, threads)
            if cfg.cost.profile and cost_profile is not None:
                cost_profile()  # measured (or read from the cache) now, in the baseline's "profile" window
                train_phase += session.take()

            # Compress and evaluate every variant of this trial; keep the models for the inference round.
            ready: dict[str, tuple[Any, list[Any], dict[str, Any], Any, str, Path]] = {}
            extra: dict[str, dict[str, Any]] = {}  # per variant: cost-model prediction, technique notes, build
            for name in todo:
                started = _now()
                variant = variants.get(name)
                reuse = _reusable(primary, variant)
                stage = "build"
                try:
                    if name in built:  # built once per study: no compress or load phase in this trial
                        b = built[name]
                        model, flops, structure, vdir = b.model, b.flops, b.structure, b.vdir
                    else:
                        folder = f"{_folder_name(name)}-study" if reuse else f"{_folder_name(name)}-t{trial.index}"
                        vdir = work / folder
                        vdir.mkdir(parents=True, exist_ok=True)
                        model, flops, structure = _build(
                            cfg, primary, variant, base, tokenizer, threads, vdir, trial.seed, session, source,
                            cost_profile,
                        )  # fmt: skip
                        if reuse:
                            built[name] = Built(model, flops, structure, vdir, trial.index)
                    # Phase "evaluate": quality on each task's evaluation data.
                    stage = "evaluate"
                    metrics: dict[str, Any] = {}
                    for t in tasks:
                        if t.metric_spec is None:
                            metrics[_key(t)] = {}  # a cost-only workload (chat replay): measured in "infer"
                            continue
                        with session.phase("evaluate", step=_key(t)) as rec:
                            metrics[_key(t)] = t.evaluate(model, tokenizer, rec)
                except Exception as e:  # noqa: BLE001  (one variant's failure must not lose the study)
                    if name == BASELINE:
                        raise  # every variant derives from it: nothing to go on with
                    _fail(store, session, name, trial.index, stage, e)
                    built.pop(name, None)
                    continue
                if model.capabilities.depth_log:  # early exit: count the inference requests' depths only
                    model.depth_log.clear()
                facts = replace(model.facts(vdir), flops_per_sequence=flops)
                phases = (train_phase if name == BASELINE else []) + session.take()
                extra[name] = _cost_entry(cfg, cost_profile, structure, model, name)
                extra[name]["build"] = {
                    "once_per_study": reuse,
                    "trial_index": built[name].trial_index if name in built else trial.index,
                    "reused": name in built and built[name].trial_index != trial.index,
                }
                ready[name] = (model, phases, metrics, facts, started, vdir)

            # Phase "infer": one interleaved round per task, repeated while the baseline sentinel drifts.
            if not ready:  # every variant left in this trial failed: nothing to serve
                continue
            infer, contention, failed = _inference_round(cfg, session, tasks, base, requests, ready)
            for name, error in failed.items():
                _fail(store, session, name, trial.index, "infer", error)
                built.pop(name, None)
            for name, (model, phases, metrics, facts, started, vdir) in ready.items():
                if name in failed:
                    continue
                artifact = None
                if cfg.save_variants and not extra[name]["build"]["reused"]:
                    artifact = model.save(out / "artifacts" / vdir.name)
                    tokenizer.save_pretrained(artifact)
                variant = variants.get(name)
                record = _record(
                    cfg, tasks, name, variant, trial.index, trial.seed, phases, metrics, facts, infer[name]
                )
                record.update(extra.get(name, {}))
                if model.capabilities.depth_log:  # requests served in the infer rounds, warmup included
                    served = sorted(model.depth_log)
                    record["tasks"][_key(primary)].setdefault("exits", {})["infer_depth_counts"] = {
                        str(d): served.count(d) for d in sorted(set(served))
                    }
                record["idle_baseline"] = idle
                record["contention"] = contention
                record["model"]["saved_to"] = None if artifact is None else str(artifact)
                record["started_at"], record["finished_at"] = started, _now()
                store.append_trial(record)  # committed now: a later crash cannot lose it
                if on_trial is not None:
                    on_trial(record)
                _echo(record)
                if name not in built:
                    shutil.rmtree(vdir, ignore_errors=True)
            del ready
    finally:
        session.close()
        shutil.rmtree(work, ignore_errors=True)
        write_reports(store, out)
        failures = store.failures()
        store.close()
    if failures:
        raise VariantsFailedError(failures, str(out))
    return out / STORE_NAME


def _fail(store: Store, session: Any, name: str, trial_index: int, stage: str, error: BaseException) -> None:
    """Record a variant's failure, drop its partial windows, and say so; the study goes on."""
    session.take()  # windows the failed variant opened must not be billed to the next one
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {text}"[:600]
    store.add_failure(name, trial_index, stage, reason)
    console.print(
        f"[bold red]variant {escape(name)} failed[/] in trial {trial_index + 1} ({stage}): {escape(reason)}. "
        "It is recorded as failed; the study goes on without it.",
        soft_wrap=True,
    )


@dataclass
class Built:
    """A variant built once per study: its runtime handle and the facts measured when it was built."""

    model: Any
    flops: Any
    structure: Any
    vdir: Path
    trial_index: int


def _reusable(primary: Any, variant: VariantConfig | None) -> bool:
    """Whether a variant is the same model in every trial, so it may be built once per study.

    True when the baseline is not re-trained per trial (a pretrained LM, a classifier used as it is)
    and every technique of the variant declares itself ``deterministic`` (independent of the seed).
    The baseline itself is loaded per trial (cheap, and its record carries the train phase if any).
    """
    from wattcut.compress import TECHNIQUES

    if primary.trains or variant is None:
        return False
    return all(TECHNIQUES.get(step.name).deterministic for step in variant.techniques)


def _build(
    cfg: StudyConfig,
    primary: Any,
    variant: VariantConfig | None,
    base: Any,
    tokenizer: Any,
    threads: int,
    vdir: Path,
    seed: int,
    session: Any,
    source: str,
    cost_profile: Any,
) -> tuple[Any, Any, Any]:
    """A variant from a copy of ``base``: one ``compress`` window per technique, then ``load`` for LM runtimes.

    Returns the runtime handle, FLOPs per sequence and (with a cost profile) the structure,
    both taken from the last PyTorch fp32 step.
    """
    from wattcut.compress import TECHNIQUES, CompressContext

    model = base.clone()
    ctx = CompressContext(
        tokenizer=tokenizer,
        max_length=primary.max_length(),
        threads=threads,
        workdir=vdir,
        calibration_texts=primary.calibration_texts(),
        train_data=primary.train_data(),
        teacher=base,
        seed=seed,
        phase=session.phase,
        model_source=source,
        train_rows=_train_rows(cfg),
        cost_profile=cost_profile,
    )
    flops = model.flops_per_sequence(primary.max_length())
    structure = _structure(model) if cost_profile is not None else None
    for i, step in enumerate(variant.techniques if variant else ()):
        with session.phase("compress", step=f"{i + 1}:{step.name}"):
            model = TECHNIQUES.get(step.name).apply(model, step.config, ctx)
        if model.capabilities.module and model.precision == "fp32":
            flops = model.flops_per_sequence(primary.max_length())  # outside the window
            structure = _structure(model) if cost_profile is not None else None
    if variant is not None and variant.threads:  # a deployment setting: served with this many threads
        model.set_threads(variant.threads)
    if model.capabilities.load_phase:  # open/compile the model in its own window
        with session.phase("load"):
            model.load()
    return model, flops, structure


def _needs_profile(cfg: StudyConfig) -> bool:
    return cfg.cost.profile or any(
        getattr(step.config, "needs_cost_profile", False) for v in cfg.variants for step in v.techniques
    )


def _cost_profile(cfg: StudyConfig, session: Any, task: Any, base: Any, tokenizer: Any, threads: int) -> Any:
    """``() -> CostProfile`` of this trial's baseline, measured at most once per run (then cached); None if unused."""
    if not _needs_profile(cfg) or task.model_kind != "sequence-classifier":
        return None
    from wattcut.models.cost import load_or_measure

    held: list[Any] = []

    def get() -> Any:
        if not held:
            with session.phase("profile") as rec:
                profile, cached = load_or_measure(
                    base,
                    tokenizer,
                    list(task.calibration_texts()),
                    task.max_length(),
                    threads,
                    batch_sizes=cfg.cost.batch_sizes,
                    requests=cfg.cost.requests,
                    rounds=cfg.cost.rounds,
                    rec=rec,
                )
            note = "read from the cache" if cached else f"measured in {profile.duration_s:.0f} s"
            console.print(f"cost profile {profile.key}: {note}", highlight=False, markup=False)
            held.append(profile)
        return held[0]

    return get


def _structure(model: Any) -> Any:
    from wattcut.models.cost import structure_of

    return structure_of(model.module) if model.capabilities.module and model.precision == "fp32" else None


def _cost_entry(cfg: StudyConfig, cost_profile: Any, structure: Any, model: Any, name: str) -> dict[str, Any]:
    """The record's ``cost_model`` (prediction for a PyTorch fp32 variant) and ``technique_notes``."""
    out: dict[str, Any] = {}
    if model.notes:
        out["technique_notes"] = model.notes
    if cost_profile is None or structure is None or not model.capabilities.module:
        return out
    profile = cost_profile()
    b = cfg.infer.batch_size
    out["cost_model"] = {
        "profile_key": profile.key,
        "batch_size": b,
        "structure": structure.to_dict(),
        "predicted_energy_ratio": profile.ratio(structure, b),
        "predicted_cpu_s_per_request": profile.at(b).predict_s(structure),
        **({"profile": profile.to_dict()} if name == BASELINE else {}),
    }
    if model.capabilities.depth_log:  # early exit: the structure is the deepest path
        out["cost_model"]["note"] = "deepest path; the mean depth is lower (see early_exit)"
    return out


def _train_rows(cfg: StudyConfig) -> Any:
    """``n -> n`` seeded rows of the full training split (as ``[data] train_size = n`` gives); None without data."""
    if cfg.data is None:
        return None
    data = cfg.data

    def load(n: int) -> Any:
        from wattcut.data import load_splits

        return load_splits(replace(data, train_size=n), seed=cfg.seed)[0]

    return load


def _folder_name(name: str) -> str:
    """A file-system-safe folder name for a variant, distinct for distinct names ("x/y" vs "x_y")."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
    return safe if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def check_inputs(cfg: StudyConfig) -> tuple[str, list[Any]]:
    """Resolve the model and check it, every task's data and every technique's settings, before any work.

    Returns the model source and the study's tasks (primary first), data loaded. Used by
    ``wattcut run`` and ``wattcut validate`` alike.
    """
    import time

    from wattcut.compress import TECHNIQUES
    from wattcut.errors import UserInputError
    from wattcut.measure import carbon
    from wattcut.models.loading import resolve_model_source
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
                raise UserInputError(
                    f'Variant "{variant.name}": technique "{step.name}" works on {" and ".join(works_on)} models, but '
                    f"this study's tasks use a {tasks[0].model_kind}.",
                    f"Techniques for a {tasks[0].model_kind}: {', '.join(usable)}.",
                )
        if variant.techniques:  # a task that serves only some runtimes (lm_eval: PyTorch modules)
            last = variant.techniques[-1]
            runtime = TECHNIQUES.get(last.name).routes(last.config)[1]
            for t in tasks:
                served = getattr(t, "runtimes", None)
                if served is not None and runtime not in served:
                    raise UserInputError(
                        f'Variant "{variant.name}" ends on the {runtime} runtime, which the task "{t.key}" cannot '
                        f"use (it runs on {', '.join(served)}).",
                        f'Leave "{t.key}" out of this study, or run that variant in a study without it.',
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
    for t in tasks:
        t.prepare()
    for note in carbon.check_inputs(cfg.carbon, time.time()):
        console.print(f"[yellow]carbon[/]: {escape(note)}", soft_wrap=True)
    source = resolve_model_source(cfg.model)
    for t in tasks:
        t.check_model(source)
    for variant in cfg.variants:  # what a step needs of the model itself (an architecture its converter knows)
        for step in variant.techniques:
            check_source = TECHNIQUES.get(step.name).check_source
            if check_source is not None:
                check_source(step.config, source)
    if tasks[0].model_kind == "sequence-classifier":
        _check_techniques(cfg, source)
    return source, tasks


def _key(t: Any) -> str:
    """A task's key in records: its ``[[tasks]]`` id, else its name."""
    return getattr(t, "key", None) or t.name


def _check_techniques(cfg: StudyConfig, source: str) -> None:
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


def _inference_round(
    cfg: StudyConfig, session: Any, tasks: list[Any], base: Any, requests: dict[str, list[Any]], ready: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, BaseException]]:
    """Serve every variant's workloads in interleaved rounds, bracketed by a baseline latency sentinel.

    Each task's timed requests are cut into ``[infer] rounds`` contiguous parts (one part
    for tasks that do not interleave); in round r every variant serves part r in its own
    window, in an order that rotates each round, so that slow drifts of the machine hit
    every variant alike and each variant's round pairs with the baseline's. Returns, per
    variant and task, the merged infer phase, latencies, per-round figures and per-request
    details; and the contention check: the sentinel's relative drift (on the primary
    task's requests), how many attempts ran, and whether the last one was still drifting
    (then it is kept, and flagged); and the variants that failed while serving (left out of
    the later rounds; the baseline's failure ends the study).
    """
    from wattcut.measure.base import merge

    ic = cfg.infer
    primary = tasks[0]
    first = requests[_key(primary)]
    warm0 = primary.warmup_requests()
    sentinel = first[warm0 : warm0 + ic.sentinel_requests]
    parts = {
        _key(t): _parts(requests[_key(t)][t.warmup_requests() :], ic.rounds if t.interleaves else 1) for t in tasks
    }
    n_rounds = max((len(p) for p in parts.values()), default=0)
    names = list(ready)
    failed: dict[str, BaseException] = {}
    drifts: list[float] = []
    sentinel_energy: list[float | None] = []  # J per request of each metered sentinel run: before, after, ...
    if sentinel:  # the baseline sat idle while variants were built: warm it first, or "before" reads cold
        primary.serve(base, sentinel[:1], _scratch(), desc="sentinel warm-up")
    for attempt in range(ic.max_repeats + 1):
        before = _sentinel(session, primary, base, sentinel, sentinel_energy)
        served: dict[str, dict[str, dict[str, Any]]] = {
            n: {_key(t): {"phases": [], "latencies": [], "rounds": [], "details": None} for t in tasks} for n in names
        }
        for r in range(n_rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for position, name in enumerate(order):
                model = ready[name][0]
                for t in tasks:
                    k = _key(t)
                    if r >= len(parts[k]) or name in failed:
                        continue  # a task with no request workload (lm_eval: its energy is in "evaluate")
                    reqs, warm = requests[k], t.warmup_requests()
                    # The whole warm-up before a variant's first round; one request (shortened where the task says
                    # it may be) before later rounds, to bring its weights back into cache after the others ran.
                    again = t.rewarm(reqs[: min(warm, 1)])
                    label = f"infer {name}" + (f" {r + 1}/{len(parts[k])}" if len(parts[k]) > 1 else "")
                    try:
                        t.serve(model, reqs[:warm] if r == 0 else again, _scratch(), desc=f"warm-up {name}")
                        time.sleep(ic.cooldown_s)  # rest between windows; also lets runtime worker threads settle
                        with session.phase("infer", step=k) as rec:
                            latencies = t.serve(model, parts[k][r], rec, desc=label, window=session.window)
                    except Exception as e:  # noqa: BLE001  (one variant's failure must not lose the study)
                        if name == BASELINE:
                            raise
                        session.take()
                        failed[name] = e
                        continue
                    slot = served[name][k]
                    slot["phases"] += session.take()
                    slot["latencies"] += latencies
                    slot["rounds"].append(_round_figures(r, position, rec, latencies))
                    slot["details"] = t.request_details()
        after = _sentinel(session, primary, base, sentinel, sentinel_energy)
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
    results: dict[str, dict[str, Any]] = {}
    for name, by_task in served.items():
        results[name] = {}
        for k, slot in by_task.items():
            if not slot["rounds"]:
                continue
            infer = [p for p in slot["phases"] if p.phase == "infer"]
            others = [p for p in slot["phases"] if p.phase != "infer"]
            results[name][k] = {
                "phases": [merge(infer), *others],  # one infer phase per task: the sum of its rounds
                "latencies": slot["latencies"],
                "rounds": slot["rounds"],
                "details": slot["details"],
            }
    last = drifts[-1]
    return (
        {n: r for n, r in results.items() if n not in failed},
        {
            "sentinel_requests": len(sentinel),
            "drift_rel": None if not sentinel else last,
            "drift_threshold": ic.drift_threshold,
            "rounds": len(drifts),
            "drifts": drifts if sentinel else [],
            "flagged": bool(sentinel) and abs(last) > ic.drift_threshold,
            # the same requests served before and after each attempt's round: the machine's run-to-run noise
            "sentinel_energy_per_request_j": sentinel_energy,
        },
        failed,
    )


def _sentinel(session: Any, task: Any, base: Any, sentinel: list[Any], energy: list[float | None]) -> float | None:
    """Serve the sentinel requests in a metered window; append its J per request to ``energy``; median latency."""
    import statistics as st

    if not sentinel:
        return None
    with session.window("sentinel") as rec:
        latencies = task.serve(base, sentinel, rec, desc="sentinel")
    energy.append(rec.energy_j / rec.requests if rec.energy_j is not None and rec.requests else None)
    return st.median(latencies)


def _parts(reqs: list[Any], rounds: int) -> list[list[Any]]:
    """``reqs`` cut into ``rounds`` contiguous parts of near-equal size (none empty; [] when no requests)."""
    rounds = min(rounds, len(reqs))
    size, extra = divmod(len(reqs), rounds) if rounds else (0, 0)
    out, start = [], 0
    for i in range(rounds):
        end = start + size + (1 if i < extra else 0)
        out.append(reqs[start:end])
        start = end
    return out


def _round_figures(index: int, position: int, rec: Any, latencies: list[float]) -> dict[str, Any]:
    """One round's window: energy and latency per request, for the per-round paired comparisons."""
    energy = rec.energy_j
    lat_ms = [1000 * x for x in latencies]
    low, high = rec.interval_j or (None, None)  # an estimate always carries its model's range
    per = rec.requests if energy is not None and rec.requests else None
    return {
        "round": index,
        "position": position,  # place in the round's order (rotates)
        "requests": rec.requests,
        "duration_s": rec.duration_s,
        "cpu_time_s": rec.cpu_time_s,
        "energy_j": energy,
        "energy_per_request_j": energy / rec.requests if energy is not None and rec.requests else None,
        "estimated": rec.estimated,
        "low_j": low,
        "high_j": high,
        "energy_per_request_range_j": None if per is None or low is None or high is None else [low / per, high / per],
        "latency_mean_ms": statistics.fmean(lat_ms) if lat_ms else None,
        "latency_p50_ms": statistics.median(lat_ms) if lat_ms else None,
    }


def _scratch() -> Any:
    from wattcut.measure.base import PhaseRecord

    return PhaseRecord(phase="warmup", duration_s=0.0)


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


def _record(
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
) -> dict[str, Any]:
    """One trial's record: ``metrics``, ``metric_spec`` and ``latency`` of the primary task; ``tasks``: all."""
    from dataclasses import asdict

    from wattcut.store import SCHEMA_VERSION

    primary = _key(tasks[0])
    energy_task = cfg.energy_task or primary
    none: dict[str, Any] = {"phases": [], "latencies": [], "rounds": [], "details": None}  # no request workload
    infer = {_key(t): infer.get(_key(t), none) for t in tasks}
    all_phases = list(phases) + [p for t in tasks for p in infer[_key(t)]["phases"]]
    per_task: dict[str, Any] = {}
    for t in tasks:
        k = _key(t)
        spec = t.metric_spec.to_dict() if t.metric_spec is not None else None
        items = metrics[k].pop("items", None)  # per-item results, for the item-level paired tests
        exits = metrics[k].pop("exits", None)  # early exit: the threshold sweep on the evaluation items
        entry: dict[str, Any] = {"task": t.name, "data": t.describe_data(), "metrics": metrics[k], "metric_spec": spec}
        entry["latency"] = _latency(infer[k]["latencies"], cfg.infer.batch_size)
        entry["rounds"] = infer[k]["rounds"]
        if items is not None:
            entry["items"] = items
        if exits is not None:
            entry["exits"] = exits
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
        "derived_from": None if name == BASELINE else {"variant": BASELINE, "trial_index": index},
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
            "threads": (variant.threads if variant is not None and variant.threads else None) or _threads(cfg),
            "threads_source": "variant" if variant is not None and variant.threads else "study",
            "batch_size": cfg.infer.batch_size,
        },
    }


def _with_carbon(phase: Any, cfg: StudyConfig) -> dict[str, Any]:
    """Phase dict plus its CO2e (gross and net), intensity provenance and embodied share."""
    from wattcut.measure import carbon

    d = phase.to_dict()
    intensity = carbon.resolve(cfg.carbon, phase.started_at, phase.started_at + phase.duration_s)
    c = carbon.co2e(d["energy_j"], intensity, cfg.carbon.pue)
    net = carbon.co2e(d["net_energy_j"], intensity, cfg.carbon.pue)["co2e_g"]
    d["carbon"] = {**c, "net_co2e_g": net, "embodied_co2e_g": carbon.embodied_g(cfg.carbon, phase.duration_s)}
    if d.get("low_j") is not None:  # the estimate's interval, priced on the same grid
        d["carbon"]["co2e_low_g"] = carbon.co2e(d["low_j"], intensity, cfg.carbon.pue)["co2e_g"]
        d["carbon"]["co2e_high_g"] = carbon.co2e(d["high_j"], intensity, cfg.carbon.pue)["co2e_g"]
    return d


def _echo(record: dict[str, Any]) -> None:
    from wattcut.metric import MetricSpec, infer_phase

    spec = MetricSpec.from_dict(record.get("metric_spec"))
    value = record["metrics"].get(spec.key)
    infer = infer_phase(record)
    per_k = None if infer is None else infer["energy_per_1k_requests_j"]
    p50 = record["latency"]["p50_ms"]
    console.print(
        f"  [bold]{escape(record['variant'])}[/] trial {record['trial_index']}: "
        f"{escape(spec.label)} {'n/a' if value is None else f'{value:.4g}'}, "
        f"p50 {'n/a' if p50 is None else f'{p50:.2f}'} ms/request, "
        f"{'n/a' if per_k is None else f'{per_k:.1f}'} J per 1,000 requests "
        f"({'estimated' if infer and infer['estimated'] else 'measured'}), "
        f"{record['model']['file_size_bytes'] / 1e6:.1f} MB  [green]stored[/]",
        soft_wrap=True,
    )
