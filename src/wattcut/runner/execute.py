"""Run a study: fine-tune the baseline per trial, derive each variant, measure, store.

For every trial index (seed):

1. ``train``: load the pretrained model with a fresh head and fine-tune it (baseline);
   none for a pretrained LM scored as it is or a classifier already trained.
2. For the baseline and each variant, on a copy of the baseline:
   ``compress`` (one window per technique step), ``evaluate`` (quality on the eval
   split), ``infer`` (the timed request workload, after a warm-up). A variant that is the
   same model in every trial (no re-trained baseline, seed-free techniques) is built in
   the first trial only and reused. A variant with its own ``model`` starts from that
   pretrained model instead, fine-tuned in its own ``train`` window, with its own tokenizer.
3. Commit the trial's record to the store at once, then move on.

Trials already in the store (an interrupted run of the same study) are skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattcut.errors import VariantsFailedError
from wattcut.runner.build import Built, build_variant, cost_entry, cost_profile_of, folder_name, reusable
from wattcut.runner.checks import Start, check_free_space, check_inputs, prepare_out, task_key, threads_of
from wattcut.runner.record import echo, make_record
from wattcut.runner.rounds import inference_round
from wattcut.settings import BASELINE, StudyConfig, VariantConfig
from wattcut.store import STORE_NAME, Store
from wattcut.store.records import Results, Trial
from wattcut.ui import console, escape

__all__ = ["check_inputs", "prepare_out", "run_study"]


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_study(
    cfg: StudyConfig,
    out: Path,
    header: str = "",
    on_trial: Any = None,
    until: Callable[[Store], bool] | None = None,
    ledger: bool = True,
) -> Path:
    """Run ``cfg`` into ``out`` and write the reports; returns the store path.

    Inputs (output folder, model, every task's data, per-technique model checks) are
    checked first, so bad input fails in seconds with nothing half-written; then
    ``header`` and the resolved config are echoed. The output folder is locked for the
    whole run: a second run into it is refused. ``on_trial(record)`` is called with each
    trial once it is committed (a campaign streams it to its driver). ``until(store)`` is asked after
    each trial whether the study has what it needs (``wattcut gate``: a decision); True ends it there.
    ``ledger``: add the finished study's rates to this machine's ledger (``--dry-run``'s probe does not).
    """
    from wattcut.runner.lock import OutputLock

    prepare_out(out)
    with OutputLock(out):  # one run per output folder, for the whole run
        return _run_locked(cfg, out, header, on_trial, until, ledger)


@dataclass
class StudyRun:
    """What every trial of one run shares: the study, its store and meters, tasks and tokenizer."""

    cfg: StudyConfig
    out: Path
    store: Store
    session: Any
    tasks: list[Any]
    tokenizer: Any
    source: str
    threads: int
    idle: dict[str, Any] | None
    done: set[tuple[str, int]]
    on_trial: Any = None
    # variants that start from their own pretrained model, and that model's tokenizer
    starts: dict[str, Start] = field(default_factory=dict)
    tokenizers: dict[str, Any] = field(default_factory=dict)
    # Variants whose build does not depend on the trial (a baseline that is not re-trained per trial, and only
    # seed-free techniques) are built once per study and reused by every trial: see ``reusable``.
    built: dict[str, Built] = field(default_factory=dict)

    @property
    def primary(self) -> Any:
        return self.tasks[0]

    @property
    def work(self) -> Path:
        return self.out / "_work"

    def variant(self, name: str) -> VariantConfig | None:
        return next((v for v in self.cfg.variants if v.name == name), None)

    def tasks_of(self, name: str) -> list[Any]:
        """The tasks a variant is trained and evaluated by (its own model's, for a variant with one)."""
        return self.starts[name].tasks if name in self.starts else self.tasks

    def tokenizer_of(self, name: str) -> Any:
        return self.tokenizers.get(name, self.tokenizer)


@dataclass
class Prepared:
    """A variant of one trial, built and evaluated, waiting for the inference round."""

    model: Any
    phases: list[Any]
    metrics: dict[str, Any]
    facts: Any
    started: str
    vdir: Path
    extra: dict[str, Any]


def _run_locked(
    cfg: StudyConfig,
    out: Path,
    header: str,
    on_trial: Any = None,
    until: Callable[[Store], bool] | None = None,
    ledger: bool = True,
) -> Path:
    from wattcut.report.build import write_reports
    from wattcut.runner.plan import plan_trials

    run = _open_run(cfg, out, header, on_trial, predict=ledger)
    try:
        for trial in plan_trials(cfg):
            todo = [v for v in trial.variants if (v, trial.index) not in run.done]
            if todo:
                _run_trial(run, trial, todo)
            if until is not None and until(run.store):
                break
    finally:
        run.session.close()
        shutil.rmtree(run.work, ignore_errors=True)
        write_reports(run.store, out)
        failures = run.store.failures()
        run.store.close()
    if ledger and not run.done:  # a resumed study's wall time spans the pause: its rates would be wrong
        from wattcut.runner.predict import record

        record(Results.read(out / "results.json"))  # this machine's rates, for later --dry-run estimates
    if failures:
        raise VariantsFailedError(failures, str(out))
    return out / STORE_NAME


def _open_run(cfg: StudyConfig, out: Path, header: str, on_trial: Any, predict: bool = True) -> StudyRun:
    """Check every input, echo the study, open the store and the meters, and measure the idle baseline."""
    import torch

    from wattcut.measure.provenance import collect
    from wattcut.measure.select import select_meters
    from wattcut.settings import to_toml

    # Check every input before the first expensive step, so bad input costs seconds.
    source, tasks, starts = check_inputs(cfg)
    check_free_space(out, source)
    threads = threads_of(cfg)
    torch.set_num_threads(threads)
    console.rule(f"wattcut run: {cfg.name}")
    console.print(header + to_toml(cfg), highlight=False, markup=False)
    meters, probes = select_meters(cfg.measure)
    store = Store.open(out / STORE_NAME)
    machine = collect(cfg.measure.cpu_w_per_core, cfg.measure.ram_w_per_gb)
    machine["meters"] = [asdict(p) for p in probes]  # what this machine could measure, and why not
    if cfg.measure.roofline:
        machine["roofline"] = _roofline()
    resumed = store.begin_study(cfg.name, cfg.to_dict(), machine)
    if predict and not resumed:
        _predicted(cfg, store, tasks)
    (out / "config.resolved.toml").write_text(to_toml(cfg), encoding="utf-8")
    done = store.done()
    if resumed:
        console.print(
            f"[yellow]Resuming[/]: {len(done)} finished trial(s) already in {escape(str(store.path))} are kept."
        )
    for t in tasks:
        console.print(f"task {task_key(t)}: {t.describe_data()}", soft_wrap=True, markup=False, highlight=False)
    tokenizer = tasks[0].load_tokenizer(source)
    for name, start in starts.items():
        console.print(f"variant {name} starts from {start.source}", soft_wrap=True, markup=False, highlight=False)
    tokenizers = {name: start.tasks[0].load_tokenizer(start.source) for name, start in starts.items()}
    for p in probes:
        mark = "✓" if p.available else "✗"
        console.print(
            f"meter {p.component}: {p.meter} {mark} {p.reason}", highlight=False, markup=False, soft_wrap=True
        )
    session = _session(cfg, meters)
    idle = None
    if cfg.measure.idle_s > 0:
        console.print(f"measuring the idle baseline ({cfg.measure.idle_s:g} s, keep the machine quiet)...")
        idle = session.measure_idle(cfg.measure.idle_s).to_dict()
    return StudyRun(
        cfg, out, store, session, tasks, tokenizer, source, threads, idle, done, on_trial, starts=starts,
        tokenizers=tokenizers,
    )  # fmt: skip


def _roofline() -> dict[str, Any]:
    """This machine's peak rates and bandwidth (probed once per machine, then cached), for "% of roofline"."""
    from wattcut.measure.roofline import CONTENDED, load_or_probe

    console.print("roofline probe: this machine's peak GEMM rates and memory bandwidth...", highlight=False)
    machine, cached = load_or_probe()
    if machine.contended_share > CONTENDED:
        console.print(
            f"[yellow]roofline probe contended[/]: other processes used {machine.contended_share:.0%} of the CPU "
            "while it ran, so its peaks read low and '% of roofline' reads high (probed again after 10 minutes)."
        )
    top = machine.at(None)
    console.print(
        f"roofline ({'cached' if cached else f'measured in {machine.duration_s:.0f} s'}): {top.threads} threads "
        f"fp32 {top.fp32_gflops:.0f} GFLOP/s, int8 {top.int8_gops:.0f} GOP/s, {top.bandwidth_gb_s:.1f} GB/s",
        highlight=False,
    )
    return machine.to_dict()


def _predicted(cfg: StudyConfig, store: Store, tasks: list[Any]) -> None:
    """Keep what was predicted for this study before it ran (``--dry-run``, else an earlier run of it here)."""
    import json

    from wattcut.runner import predict

    before = predict.stored(cfg)
    if before is None:
        made = predict.from_history(cfg, tasks)  # the ledger only: a probe is --dry-run's to run
        before = None if made is None else made.to_dict()
    if before is not None:
        store.set_meta("prediction", json.dumps(before))
        lo, hi = before["wall_low_s"] / 60, before["wall_high_s"] / 60
        console.print(f"predicted: {lo:.1f}-{hi:.1f} min ({before['basis']})")


def _session(cfg: StudyConfig, meters: Any) -> Any:
    """The energy session every window of the run is metered in (with CodeCarbon's cross-check if asked)."""
    from wattcut.measure import EnergySession
    from wattcut.measure.thermal import ThermalSampler

    crosscheck = None
    if cfg.measure.crosscheck == "codecarbon":
        from wattcut.measure.crosscheck import CodeCarbonCrosscheck

        crosscheck = CodeCarbonCrosscheck()
        console.print(f"cross-check: codecarbon {crosscheck.version} over the same windows ({crosscheck.cpu})")
    return EnergySession(meters, crosscheck=crosscheck, thermal=ThermalSampler(cfg.measure.interval_s))


def _run_trial(run: StudyRun, trial: Any, todo: list[str]) -> None:
    """One trial: its baseline, every variant built and evaluated, one inference round, a record per variant."""
    console.rule(f"trial {trial.index + 1}/{run.cfg.trials} (seed {trial.seed})")
    _seed_everything(trial.seed)
    base, train_phase = _baseline(run, trial)
    requests = {task_key(t): t.make_requests(run.tokenizer, trial.seed) for t in run.tasks}
    # the same items, through a variant's own tokenizer where it starts from its own model
    own = {
        name: {task_key(t): t.make_requests(run.tokenizers[name], trial.seed) for t in start.tasks}
        for name, start in run.starts.items()
        if name in todo
    }
    cost_profile = cost_profile_of(run.cfg, run.session, run.primary, base, run.tokenizer, run.threads)
    if run.cfg.cost.profile and cost_profile is not None:
        cost_profile()  # measured (or read from the cache) now, in the baseline's "profile" window
        train_phase += run.session.take()
    ready: dict[str, Prepared] = {}
    for name in todo:
        prepared = _prepare(run, trial, name, base, cost_profile)
        if prepared is not None:
            prepared.phases = (train_phase if name == BASELINE else []) + prepared.phases
            ready[name] = prepared
    if not ready:  # every variant left in this trial failed: nothing to serve
        return
    # Phase "infer": one interleaved round per task, repeated while the baseline sentinel drifts.
    models = {name: p.model for name, p in ready.items()}
    infer, contention, failed = inference_round(run.cfg, run.session, run.tasks, base, requests, models, own)
    for name, error in failed.items():
        _fail(run.store, run.session, name, trial.index, "infer", error)
        run.built.pop(name, None)
    for name, prepared in ready.items():
        if name not in failed:
            _commit(run, trial, name, prepared, infer[name], contention)


def _baseline(run: StudyRun, trial: Any) -> tuple[Any, list[Any]]:
    """Phase "train": the baseline every variant of this trial derives from, and its phases.

    Tasks that score a pretrained model as it is, and a classifier already trained, have no train phase.
    """
    base = _trained(run, trial, run.primary, run.source, run.tokenizer)
    return base, run.session.take()


def _trained(run: StudyRun, trial: Any, primary: Any, source: str, tokenizer: Any) -> Any:
    """``source`` loaded by its task, and fine-tuned in a ``train`` window where the task trains it."""
    model = primary.load_model(source)
    if primary.trains:
        with run.session.phase("train", step=task_key(primary)) as rec:
            primary.fine_tune(model, tokenizer, trial.seed, rec)
    return model


def _prepare(run: StudyRun, trial: Any, name: str, base: Any, cost_profile: Any) -> Prepared | None:
    """Build (or reuse) and evaluate one variant; None when it failed (recorded, and the study goes on)."""
    started = _now()
    variant = run.variant(name)
    start = run.starts.get(name)
    primary, tokenizer = run.tasks_of(name)[0], run.tokenizer_of(name)
    reuse = start is None and reusable(run.primary, variant)
    stage = "build"
    try:
        if name in run.built:  # built once per study: no compress or load phase in this trial
            b = run.built[name]
            model, flops, structure, vdir = b.model, b.flops, b.structure, b.vdir
        else:
            vdir = run.work / (f"{folder_name(name)}-study" if reuse else f"{folder_name(name)}-t{trial.index}")
            vdir.mkdir(parents=True, exist_ok=True)
            source = run.source
            if start is not None:  # its own pretrained model, trained here like the baseline (its own window)
                stage, source = "train", start.source
                base, cost_profile = _trained(run, trial, primary, source, tokenizer), None
                stage = "build"
            model, flops, structure = build_variant(
                run.cfg, primary, variant, base, tokenizer, run.threads, vdir, trial.seed, run.session, source,
                cost_profile,
            )  # fmt: skip
            if reuse:
                run.built[name] = Built(model, flops, structure, vdir, trial.index)
        stage = "evaluate"
        metrics = _evaluate(run, model, run.tasks_of(name), tokenizer, reference=name == BASELINE)
        stage = "explain"
        _explain(run, model, run.tasks_of(name), tokenizer, metrics)
    except Exception as e:  # noqa: BLE001  (one variant's failure must not lose the study)
        if name == BASELINE:
            raise  # every variant derives from it: nothing to go on with
        _fail(run.store, run.session, name, trial.index, stage, e)
        run.built.pop(name, None)
        return None
    if model.capabilities.depth_log:  # early exit: count the inference requests' depths only
        model.depth_log.clear()
    facts = replace(model.facts(vdir), flops_per_sequence=flops, flops_seq_len=primary.max_length() if flops else None)
    if primary.model_kind == "causal-lm":  # the roofline's decoder work needs the embedding table's size
        emb, tied = _embeddings(start.source if start is not None else run.source, run.cfg)
        facts = replace(facts, embedding_parameters=emb, tied_embeddings=tied)
    extra = cost_entry(run.cfg, cost_profile, structure, model, name)
    first = run.built[name].trial_index if name in run.built else trial.index
    extra["build"] = {"once_per_study": reuse, "trial_index": first, "reused": first != trial.index}
    return Prepared(model, run.session.take(), metrics, facts, started, vdir, extra)


_EMBEDDINGS: dict[str, tuple[int | None, bool | None]] = {}


def _embeddings(source: str, cfg: StudyConfig) -> tuple[int | None, bool | None]:
    """(vocabulary x hidden size, tied) of a decoder, from its config (None where it does not say); once per source."""
    from wattcut.models.loading import load_config

    if source in _EMBEDDINGS:
        return _EMBEDDINGS[source]
    try:
        c = load_config(source, cfg.model)
    except Exception:  # noqa: BLE001  (a figure for the roofline only: without it, parameters stand in)
        c = None
    text = c.get_text_config() if c is not None else None
    vocab, hidden = getattr(text, "vocab_size", None), getattr(text, "hidden_size", None)
    found = (
        (vocab * hidden, bool(getattr(c, "tie_word_embeddings", False)))
        if isinstance(vocab, int) and isinstance(hidden, int)
        else (None, None)
    )
    _EMBEDDINGS[source] = found
    return found


def _evaluate(run: StudyRun, model: Any, tasks: list[Any], tokenizer: Any, reference: bool) -> dict[str, Any]:
    """Phase "evaluate": quality on each task's evaluation data (a cost-only workload has none)."""
    metrics: dict[str, Any] = {}
    for t in tasks:
        if t.metric_spec is None:
            metrics[task_key(t)] = {}  # a cost-only workload (chat replay): measured in "infer"
            continue
        if t.compares:
            t.reference = reference  # the baseline's outputs are kept; each variant's are compared with them
        with run.session.phase("evaluate", step=task_key(t)) as rec:
            metrics[task_key(t)] = t.evaluate(model, tokenizer, rec)
    return metrics


def _explain(run: StudyRun, model: Any, tasks: list[Any], tokenizer: Any, metrics: dict[str, Any]) -> None:
    """Phase "explain": SHAP attributions of ``[explain] samples`` evaluation items (never counted as inference)."""
    from wattcut.tasks.explain import explain_items

    cfg = run.cfg.explain
    if not cfg.samples:
        return
    for t in tasks:
        if t.explains and t.metric_spec is not None:
            items = explain_items(t.eval_items(), cfg.samples, run.cfg.seed)
            with run.session.phase("explain", step=task_key(t)) as rec:
                metrics[task_key(t)]["explain"] = t.explain(model, tokenizer, items, cfg, rec)


def _commit(run: StudyRun, trial: Any, name: str, p: Prepared, infer: Any, contention: dict[str, Any]) -> None:
    """The variant's record for this trial, committed at once: a later crash cannot lose it."""
    cfg = run.cfg
    artifact = None
    if cfg.save_variants and not p.extra["build"]["reused"]:
        artifact = p.model.save(run.out / "artifacts" / p.vdir.name)
        run.tokenizer_of(name).save_pretrained(artifact)
    start = run.starts.get(name)
    record = make_record(
        cfg, run.tasks, name, run.variant(name), trial.index, trial.seed, p.phases, p.metrics, p.facts, infer,
        None if start is None else start.source,
    )  # fmt: skip
    record.update(p.extra)
    if p.model.capabilities.depth_log:  # requests served in the infer rounds, warmup included
        served = sorted(p.model.depth_log)
        record["tasks"][task_key(run.primary)].setdefault("exits", {})["infer_depth_counts"] = {
            str(d): served.count(d) for d in sorted(set(served))
        }
    record["idle_baseline"] = run.idle
    record["contention"] = contention
    record["model"]["saved_to"] = None if artifact is None else str(artifact)
    record["started_at"], record["finished_at"] = p.started, _now()
    trial = Trial.from_dict(record)  # typed: a field missing or misnamed fails here, not in the report
    run.store.append_trial(trial)
    if run.on_trial is not None:
        run.on_trial(trial.to_dict())
    echo(trial)
    if name not in run.built:
        shutil.rmtree(p.vdir, ignore_errors=True)


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
