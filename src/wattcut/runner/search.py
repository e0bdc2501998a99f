"""``wattcut search``: explore pipelines on a fast proxy, then prove the best ones in a full study.

1. **Baseline.** The study's baseline is fine-tuned once (seed = ``[study] seed``) and
   saved under ``<out>/search/baseline``; a rerun loads it.
2. **Proxy search.** Optuna's multi-objective TPE sampler proposes pipelines of
   registered techniques and settings, from what each technique declares for the search
   (:mod:`.search_space`: pruning with an optional recovery step, a runtime chain and its
   settings, the thread count), for the study's model kind: an encoder or a decoder LM.
   Each candidate is built from the baseline by the same function ``run`` uses and scored
   on the proxy: the primary task's metric on a seeded subset of its evaluation items
   (all of them for a task that has no subset), and the process CPU time per request of a
   short probe of the energy task's requests, as a ratio to the baseline's probe taken
   right before it (the ratio cancels slow drifts of a shared machine). Trials are stored in
   ``<out>/search/optuna.sqlite`` (Optuna's RDB storage), so an interrupted search
   resumes where it stopped and spends only what is left of its time budget.
3. **Full study.** The proxy Pareto front, restricted to candidates within the study's
   quality margin on the proxy, is re-measured as a normal study (``[study] trials``,
   all evaluation items, interleaved rounds, the paired statistics) in
   ``<out>/study``, which resumes like ``wattcut run``.
4. **History.** Every proxy trial, and for the re-measured ones the full-study figures
   beside the proxy's, go to ``<out>/search.json`` and ``search.md`` and into the study
   store, where the report shows how well the proxy predicted.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.settings import StudyConfig, TechniqueStep, VariantConfig
from wattcut.ui import console, escape

SEARCH_VERSION = 2  # 2: the space is what techniques declare (any task, encoders and decoders)


def search(
    cfg: StudyConfig, out: Path, budget_s: float, proxy_items: int = 300, probe_requests: int = 60, front_size: int = 4
) -> Path:
    """Run the search and the full study of its front into ``out``; returns the study folder."""
    from wattcut.runner.execute import prepare_out
    from wattcut.runner.lock import OutputLock

    if budget_s <= 0:
        raise UserInputError(f"--budget-min must be more than 0 (got {budget_s / 60:g}).", "Give minutes, e.g. 20.")
    prepare_out(out)
    with OutputLock(out):
        history = _search_locked(cfg, out, budget_s, proxy_items, probe_requests, front_size)
    front = [h for h in history["trials"] if h.get("selected")]
    if not front:
        _write_history(out, history)
        raise UserInputError(
            "The search found no pipeline within the quality margin on the proxy, so there is nothing to prove.",
            "Give it more time (--budget-min), or a larger [evaluate] quality_margin.",
        )
    per_variant_threads = history["model_kind"] == "sequence-classifier"  # decoders: the study's threads
    variants = tuple(
        VariantConfig(
            name=h["variant"],
            techniques=tuple(_technique_steps(h["pipeline"])),
            threads=h["threads"] if per_variant_threads else None,
        )
        for h in front
    )
    study_cfg = replace(cfg, name=f"{cfg.name}-search", variants=variants, out=str(out / "study"))
    from wattcut.runner.execute import run_study
    from wattcut.settings import to_toml

    (out / "search.toml").write_text(to_toml(study_cfg), encoding="utf-8")
    console.rule("full study of the proxy front")
    run_study(study_cfg, out / "study", header=f"search front: {', '.join(v.name for v in variants)}\n")
    _join_full_study(history, out / "study")
    _write_history(out, history)
    return out / "study"


def _technique_steps(pipeline: list[dict[str, Any]]) -> list[TechniqueStep]:
    from wattcut._fields import build
    from wattcut.compress import TECHNIQUES

    return [
        TechniqueStep(
            s["name"], build(TECHNIQUES.get(s["name"]).config_cls, s["settings"], f'search step "{s["name"]}"')
        )
        for s in pipeline
    ]


def _search_locked(
    cfg: StudyConfig, out: Path, budget_s: float, proxy_items: int, probe_requests: int, front_size: int
) -> dict[str, Any]:
    import optuna
    import torch

    from wattcut.metric import margin_in_units
    from wattcut.runner.checks import check_inputs, task_key, threads_of
    from wattcut.runner.search_space import space_for, starting_points
    from wattcut.stats.summary import pareto

    source, tasks, _ = check_inputs(cfg)
    primary = tasks[0]
    threads = threads_of(cfg)
    torch.set_num_threads(threads)
    work = out / "search"
    _claim(work, cfg, proxy_items, probe_requests)
    tokenizer = primary.load_tokenizer(source)
    base = _baseline(primary, source, tokenizer, cfg, work / "baseline")
    spec = primary.metric_spec
    served = [set(t.runtimes) for t in tasks if t.runtimes is not None]
    kind = primary.model_kind
    space = space_for(kind, set.intersection(*served) if served else None, _thread_choices(kind, threads))
    proxy = primary.proxy(proxy_items, cfg.seed)
    energy_task = next((t for t in tasks if task_key(t) == (cfg.energy_task or task_key(primary))), primary)
    probe = Probe(energy_task, proxy, tokenizer, cfg.seed, probe_requests)
    base_q = _quality(proxy, base, tokenizer)
    console.print(
        f"proxy: {proxy.describe_data()} (baseline {spec.label} {base_q:{spec.format}}); {probe.describe()}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    train_rows = len(primary.train_data()) if primary.train_data() is not None else 0

    def objective(trial: Any) -> tuple[float, float]:
        return _candidate(trial, cfg, space, primary, tasks, base, tokenizer, source, work, proxy, probe, train_rows)

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by wattcut, one line each
    study = optuna.create_study(
        study_name=cfg.name,
        storage=f"sqlite:///{(work / 'optuna.sqlite').resolve()}",
        load_if_exists=True,
        directions=["maximize" if spec.higher_is_better else "minimize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True, n_startup_trials=8),
    )
    if not study.trials:
        for point in starting_points(space):
            study.enqueue_trial(point)
    spent = sum((t.duration.total_seconds() for t in study.trials if t.duration is not None), 0.0)
    if study.trials:
        console.print(
            f"[yellow]Resuming[/] the search: {len(study.trials)} trial(s) stored, {spent / 60:.1f} of "
            f"{budget_s / 60:.1f} minutes spent."
        )
    if budget_s - spent > 0:
        study.optimize(objective, timeout=budget_s - spent)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    ecfg = cfg.evaluate
    units = margin_in_units(spec, ecfg.quality_margin, ecfg.margin_type, base_q) or 0.0
    sign = 1.0 if spec.higher_is_better else -1.0  # quality turned so that higher is better
    ok = [t for t in done if sign * (t.values[0] - base_q) >= -units]
    front_ids = pareto({str(t.number): (sign * t.values[0], t.values[1]) for t in ok})
    chosen = sorted((t for t in ok if str(t.number) in front_ids), key=lambda t: t.values[1])[:front_size]
    return {
        "search_version": SEARCH_VERSION,
        "budget_s": budget_s,
        "spent_s": sum(t.duration.total_seconds() for t in done if t.duration),
        "proxy_items": proxy.proxy_size(),
        "probe_requests": probe_requests,
        "model_kind": kind,
        "metric_spec": spec.to_dict(),
        "baseline_proxy_quality": base_q,
        "quality_margin": ecfg.quality_margin,
        "quality_margin_units": units,
        "sampler": "optuna TPESampler (multivariate, multi-objective), seed = [study] seed",
        "trials": [_history_row(t, base_q, {c.number for c in chosen}) for t in done],
    }


def _thread_choices(kind: str, threads: int) -> tuple[int, ...]:
    """Threads to try: 1 and the study's for encoders (a per-variant setting); the study's for decoders."""
    return tuple(sorted({1, threads})) if kind == "sequence-classifier" else (threads,)


def _quality(task: Any, model: Any, tokenizer: Any) -> float:
    """The task's primary metric on its (proxy) evaluation items, unmetered."""
    from wattcut.measure.base import PhaseRecord

    return float(task.evaluate(model, tokenizer, PhaseRecord("proxy", 0.0))[task.metric_spec.key])


class Probe:
    """CPU time per request of a short, fixed list of the energy task's requests (the proxy's own items if none)."""

    def __init__(self, task: Any, proxy: Any, tokenizer: Any, seed: int, n: int) -> None:
        reqs = task.make_requests(tokenizer, seed)[task.warmup_requests() :] if task.interleaves else []
        self.task, self.proxy, self.tokenizer = task, proxy, tokenizer
        self.requests = [reqs[i % len(reqs)] for i in range(n)] if reqs else []

    def describe(self) -> str:
        """The probe in words."""
        if not self.requests:
            return "CPU-time probe: the proxy evaluation itself (the energy task has no request workload)"
        return f"a {len(self.requests)}-request CPU-time probe of {self.task.key}"

    def cpu_per_request(self, model: Any) -> float:
        """Process CPU seconds per request (warmed up first)."""
        from wattcut.measure.base import PhaseRecord

        if not self.requests:
            t0 = time.process_time()
            _quality(self.proxy, model, self.tokenizer)
            return time.process_time() - t0
        self.task.serve(model, self.requests[:3], PhaseRecord("warmup", 0.0), desc="probe warm-up")
        t0 = time.process_time()
        self.task.serve(model, self.requests, PhaseRecord("probe", 0.0), desc="probe")
        return (time.process_time() - t0) / len(self.requests)


def _candidate(
    trial: Any, cfg: StudyConfig, space: Any, primary: Any, tasks: list[Any], base: Any, tokenizer: Any,
    source: str, work: Path, proxy: Any, probe: Probe, train_rows: int,
) -> tuple[float, float]:  # fmt: skip
    """One proposed pipeline: built by the runner's own build function, scored on the proxy."""
    import shutil

    import optuna

    from wattcut.runner.build import UNMETERED, build_variant
    from wattcut.runner.search_space import steps, suggest

    params = suggest(trial, space)
    pipeline = steps(params, space, train_rows)
    per_variant = primary.model_kind == "sequence-classifier"
    variant = VariantConfig(
        f"search-{trial.number}", tuple(_technique_steps([{"name": n, "settings": s} for n, s in pipeline])),
        threads=params["threads"] if per_variant else None,
    )  # fmt: skip
    vdir = work / f"trial-{trial.number}"
    vdir.mkdir(exist_ok=True)
    try:
        model, _, _ = build_variant(
            cfg, primary, variant, base, tokenizer, params["threads"], vdir, cfg.seed, UNMETERED, source, None
        )
        quality = _quality(proxy, model, tokenizer)
    except UserInputError as e:  # a candidate this data cannot support (e.g. a teacher near chance): skip it
        console.print(f"  search trial {trial.number}: skipped ({escape(e.problem)})", soft_wrap=True)
        raise optuna.TrialPruned(e.problem) from None
    except (RuntimeError, ValueError, OSError) as e:  # a runtime refused this pipeline: say so, and go on
        console.print(f"  search trial {trial.number}: failed ({escape(str(e).splitlines()[0][:200])})", soft_wrap=True)
        raise optuna.TrialPruned(str(e)) from None
    ratio = probe.cpu_per_request(model) / probe.cpu_per_request(base)  # baseline probed right after: drift cancels
    trial.set_user_attr("pipeline", [{"name": n, "settings": s} for n, s in pipeline])
    trial.set_user_attr("threads", params["threads"])
    spec = primary.metric_spec
    console.print(
        f"  search trial {trial.number}: {' → '.join(n for n, _ in pipeline) or 'baseline copy'}, "
        f"{params['threads']} thread(s): proxy {spec.label} {quality:{spec.format}}, "
        f"CPU time per request {ratio:.3f}x the baseline's",
        highlight=False,
        markup=False,
    )
    del model
    shutil.rmtree(vdir, ignore_errors=True)
    return quality, ratio


def _history_row(t: Any, base_q: float, chosen: set[int]) -> dict[str, Any]:
    return {
        "number": t.number,
        "variant": f"search-{t.number}",
        "params": t.params,
        "pipeline": t.user_attrs["pipeline"],
        "threads": t.user_attrs["threads"],
        "proxy_quality": t.values[0],
        "proxy_quality_delta": t.values[0] - base_q,
        "proxy_cpu_ratio": t.values[1],
        "duration_s": t.duration.total_seconds() if t.duration else None,
        "selected": t.number in chosen,
    }


KEY_FILE = "wattcut_search_key.json"


def _claim(work: Path, cfg: StudyConfig, proxy_items: int, probe_requests: int) -> None:
    """Resume only the same search: keyed on the experiment's content hash (as ``run`` does) and the proxy settings.

    A changed experiment in the same ``--out`` would otherwise reuse the old baseline and
    Optuna study (wrong silently, or a crash when the label count differs). A damaged
    ``optuna.sqlite`` is refused with exit 2 before anything reads it.
    """
    import sqlite3

    from wattcut.store.sqlite import config_hash

    key = {
        "config_hash": config_hash(cfg.to_dict()),
        "proxy_items": proxy_items,
        "probe_requests": probe_requests,
        "search_version": SEARCH_VERSION,
    }
    marker = work / KEY_FILE
    if work.is_dir() and any(work.iterdir()):
        try:
            stored = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = None
        if stored != key:
            raise UserInputError(
                f'"{work}" holds a search of a different experiment or proxy settings (or of an older wattcut): '
                "resuming it would reuse its baseline and trials for this one.",
                "Choose another --out, or delete that folder to start the search over.",
            )
        db = work / "optuna.sqlite"
        if db.is_file():
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    bad = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
                    conn.execute("SELECT COUNT(*) FROM studies").fetchone()
                finally:
                    conn.close()
            except sqlite3.DatabaseError as e:
                bad = [str(e)]
            if bad:
                raise UserInputError(
                    f'The search store "{db}" is damaged ({bad[0]}).',
                    "Delete it to restart the search's trials (the trained baseline beside it is kept), or choose "
                    "another --out.",
                )
        return
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(key), encoding="utf-8")


def _baseline(primary: Any, source: str, tokenizer: Any, cfg: StudyConfig, folder: Path) -> Any:
    """The search's baseline: fine-tuned once, saved and reloaded on a rerun; a model scored as it is, loaded."""
    if not primary.trains:
        return primary.load_model(source)
    from wattcut.measure.base import PhaseRecord
    from wattcut.models.loading import load_classifier_module
    from wattcut.runtimes.pytorch import TorchClassifier
    from wattcut.settings import ModelConfig

    if (folder / "wattcut_search_baseline.json").is_file():
        module = load_classifier_module(str(folder), ModelConfig(name_or_path=str(folder)), primary.train.label_names)
        return TorchClassifier(module)
    import torch

    torch.manual_seed(cfg.seed)
    base = primary.load_model(source)
    console.print("fine-tuning the search's baseline (once; a rerun reuses it)...")
    primary.fine_tune(base, tokenizer, cfg.seed, PhaseRecord("train", 0.0))
    base.module.save_pretrained(folder)
    (folder / "wattcut_search_baseline.json").write_text(json.dumps({"seed": cfg.seed}))
    return base


def _join_full_study(history: dict[str, Any], study: Path) -> None:
    """Put the full study's figures beside each re-measured trial's proxy figures, and store the history there."""
    from wattcut.metric import MetricSpec
    from wattcut.report.build import build_results, write_reports
    from wattcut.store import Store

    store = Store.open_study(study)
    try:
        results = build_results(store)
        st = results.statistics
        for row in history["trials"]:
            if not row["selected"]:
                continue
            name = row["variant"]
            paired = (st.get("paired") or {}).get(name) or {}
            energy = paired.get("energy_per_request_j") or {}
            quality = paired.get("quality") or {}
            summary = next((r for r in results.summary if r["variant"] == name), None)
            base = next((r for r in results.summary if r["variant"] == "baseline"), None)
            q = MetricSpec.from_dict(st.get("metric_spec")).key
            row["full"] = {
                "quality": summary[q]["mean"] if summary else None,
                "quality_delta": (summary[q]["mean"] - base[q]["mean"]) if summary and base else None,
                "energy_ratio": energy.get("ratio"),
                "energy_ratio_ci95": [energy.get("ci95_low"), energy.get("ci95_high")],
                "non_inferior": quality.get("non_inferior"),
            }
        history["recommendation"] = st.get("recommendation")
        from wattcut.report.search import agreement

        history["agreement"] = agreement(history)
        store.set_meta("search_history", json.dumps(history))
        write_reports(store, study)
    finally:
        store.close()


def _write_history(out: Path, history: dict[str, Any]) -> None:
    from wattcut.report.search import agreement, history_lines

    history["agreement"] = agreement(history)
    (out / "search.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
    (out / "search.md").write_text("# wattcut search\n\n" + "\n".join(history_lines(history)) + "\n", encoding="utf-8")
    console.print(f"search history: {escape(str(out / 'search.md'))}")
