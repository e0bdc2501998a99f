"""``wattcut search``: explore pipelines on a fast proxy, then prove the best ones in a full study.

1. **Baseline.** The study's baseline is fine-tuned once (seed = ``[study] seed``) and
   saved under ``<out>/search/baseline``; a rerun loads it.
2. **Proxy search.** Optuna's multi-objective TPE sampler proposes pipelines of
   registered techniques and settings (pruning of FFN neurons, heads and layers with an
   optional recovery fine-tune or distillation, a runtime with or without fusion and
   INT8, the thread count). Each candidate is built from the baseline and scored on the
   proxy: accuracy on a seeded subset of the evaluation split, and the process CPU time
   per request of a short batch-1 probe, as a ratio to the baseline's probe taken right
   before it (the ratio cancels slow drifts of a shared machine). Trials are stored in
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

RUNTIMES = ("pytorch", "pytorch-int8", "ort-fp32", "ort-fused", "ort-int8", "ort-fused-int8", "ort-int8-static")


def _steps(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The technique pipeline a set of sampled parameters stands for."""
    steps: list[tuple[str, dict[str, Any]]] = []
    if params["layers_drop"]:
        steps.append(("prune_layers", {"amount": params["layers_drop"] / 6, "strategy": "alternate"}))
    if params["heads_amount"]:
        steps.append(("prune_heads", {"amount": params["heads_amount"], "importance": "taylor"}))
    if params["ffn_amount"]:
        steps.append(("prune_ffn_neurons", {"amount": params["ffn_amount"], "importance": "taylor"}))
    pruned = bool(steps)
    if pruned and params.get("recover") == "finetune":
        steps.append(("finetune", {"samples": params["recover_rows"]}))
    elif pruned and params.get("recover") == "distill":
        steps.append(("distill", {"samples": params["recover_rows"], "learning_rate": 1e-4}))
    steps += {
        "pytorch": [],
        "pytorch-int8": [("pt_int8_dynamic", {})],
        "ort-fp32": [("ort_optimize", {})],  # the fused fp32 graph (plain export brings little alone)
        "ort-fused": [("ort_optimize", {})],
        "ort-int8": [("ort_int8_dynamic", {})],
        "ort-fused-int8": [("ort_optimize", {}), ("ort_int8_dynamic", {})],
        "ort-int8-static": [("ort_int8_static", {})],
    }[params["runtime"]]
    return steps


def starting_points() -> list[dict[str, Any]]:
    """Candidates every new search tries first: no pruning, the fast runtimes, one thread.

    Three of the five dimensions are pruning amounts, so random sampling rarely proposes
    an unpruned pipeline (1 in 27), yet runtime changes alone lose no accuracy (fusion)
    or little (INT8): the front must contain them for the sampler to improve on.
    """
    return [
        {"layers_drop": 0, "heads_amount": 0.0, "ffn_amount": 0.0, "runtime": runtime, "threads": 1}
        for runtime in ("ort-fused-int8", "ort-fused", "ort-int8-static")
    ]


def _suggest(trial: Any, train_rows: int) -> dict[str, Any]:
    p: dict[str, Any] = {
        "layers_drop": trial.suggest_categorical("layers_drop", [0, 1, 2]),
        "heads_amount": trial.suggest_categorical("heads_amount", [0.0, 0.25, 0.5]),
        "ffn_amount": trial.suggest_categorical("ffn_amount", [0.0, 0.25, 0.5]),
        "runtime": trial.suggest_categorical("runtime", list(RUNTIMES)),
        "threads": trial.suggest_categorical("threads", [1, 2]),
    }
    if p["layers_drop"] or p["heads_amount"] or p["ffn_amount"]:
        p["recover"] = trial.suggest_categorical("recover", ["none", "finetune", "distill"])
        p["recover_rows"] = min(train_rows, 2000)
    return p


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
    variants = tuple(
        VariantConfig(
            name=h["variant"],
            techniques=tuple(_technique_steps(h["pipeline"])),
            threads=h["threads"],
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
    import random

    import optuna
    import torch

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.data import TextDataset
    from wattcut.measure.base import PhaseRecord
    from wattcut.runner.checks import check_inputs
    from wattcut.runner.checks import threads_of as _threads
    from wattcut.stats.summary import pareto
    from wattcut.tasks import sequence_classification as loops

    source, tasks = check_inputs(cfg)
    primary = tasks[0]
    if primary.name != "sequence_classification" or cfg.data is None:
        raise UserInputError(
            f'wattcut search explores encoder classifiers; this study\'s primary task is "{primary.name}".',
            "Use an experiment file with [data] and the default sequence_classification task.",
        )
    threads = _threads(cfg)
    torch.set_num_threads(threads)
    work = out / "search"
    _claim(work, cfg, proxy_items, probe_requests)
    tokenizer = primary.load_tokenizer(source)
    base = _baseline(primary, source, tokenizer, cfg, work / "baseline")
    evals = primary.evals
    rng = random.Random(cfg.seed)
    idx = list(range(len(evals)))
    rng.shuffle(idx)
    idx = idx[: min(proxy_items, len(idx))]
    proxy = TextDataset([evals.texts[i] for i in idx], [evals.labels[i] for i in idx], evals.label_names, evals.source)
    probe = [
        loops.encode(tokenizer, [proxy.texts[i % len(proxy)]], primary.max_length()) for i in range(probe_requests)
    ]
    ecfg = cfg.evaluate
    base_acc = loops.evaluate(base, tokenizer, proxy, ecfg, primary.max_length(), PhaseRecord("proxy", 0.0))["accuracy"]
    console.print(
        f"proxy: {len(proxy)} evaluation items (baseline accuracy {base_acc:.4f}), {probe_requests} "
        "batch-1 requests per CPU-time probe",
        highlight=False,
    )

    def cpu_per_request(model: Any) -> float:
        for req in probe[:3]:
            model.logits(req)
        t0 = time.process_time()
        for req in probe:
            model.logits(req)
        return (time.process_time() - t0) / len(probe)

    def objective(trial: Any) -> tuple[float, float]:
        params = _suggest(trial, len(primary.train))
        steps = _steps(params)
        vdir = work / f"trial-{trial.number}"
        vdir.mkdir(exist_ok=True)
        ctx = CompressContext(
            tokenizer=tokenizer,
            max_length=primary.max_length(),
            threads=threads,
            workdir=vdir,
            calibration_texts=primary.calibration_texts(),
            train_data=primary.train,
            teacher=base,
            seed=cfg.seed,
        )
        model = base.clone()
        try:
            for name, settings in steps:
                tech = TECHNIQUES.get(name)
                model = tech.apply(model, tech.config_cls(**settings), ctx)
        except UserInputError as e:  # a candidate this data cannot support (e.g. a teacher near chance): skip it
            console.print(f"  search trial {trial.number}: skipped ({escape(e.problem)})", soft_wrap=True)
            raise optuna.TrialPruned(e.problem) from None
        except (RuntimeError, ValueError) as e:  # a runtime refused this pipeline: say so, and go on searching
            console.print(
                f"  search trial {trial.number}: failed ({escape(str(e).splitlines()[0][:200])})", soft_wrap=True
            )
            raise optuna.TrialPruned(str(e)) from None
        model.set_threads(params["threads"])
        acc = loops.evaluate(model, tokenizer, proxy, ecfg, primary.max_length(), PhaseRecord("proxy", 0.0))["accuracy"]
        base.set_threads(threads)
        ratio = cpu_per_request(model) / cpu_per_request(base)  # baseline probed right before: drift cancels
        trial.set_user_attr("pipeline", [{"name": n, "settings": s} for n, s in steps])
        trial.set_user_attr("threads", params["threads"])
        console.print(
            f"  search trial {trial.number}: {' → '.join(n for n, _ in steps) or 'baseline copy'}, "
            f"{params['threads']} thread(s): proxy accuracy {acc:.4f} ({100 * (acc - base_acc):+.2f} pts), "
            f"CPU time per request {ratio:.3f}x the baseline's",
            highlight=False,
            markup=False,
        )
        import shutil

        shutil.rmtree(vdir, ignore_errors=True)
        return acc, ratio

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by wattcut, one line each
    storage = f"sqlite:///{(work / 'optuna.sqlite').resolve()}"
    study = optuna.create_study(
        study_name=cfg.name,
        storage=storage,
        load_if_exists=True,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True, n_startup_trials=8),
    )
    if not study.trials:
        for point in starting_points():
            study.enqueue_trial(point)
    spent = sum((t.duration.total_seconds() for t in study.trials if t.duration is not None), 0.0)
    left = budget_s - spent
    if study.trials:
        console.print(
            f"[yellow]Resuming[/] the search: {len(study.trials)} trial(s) stored, {spent / 60:.1f} of "
            f"{budget_s / 60:.1f} minutes spent."
        )
    if left > 0:
        study.optimize(objective, timeout=left)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    margin = ecfg.quality_margin
    ok = [t for t in done if t.values[0] >= base_acc - margin]
    front_ids = pareto({str(t.number): (t.values[0], t.values[1]) for t in ok})
    chosen = sorted((t for t in ok if str(t.number) in front_ids), key=lambda t: t.values[1])[:front_size]
    chosen_ids = {t.number for t in chosen}
    rows = []
    for t in done:
        rows.append(
            {
                "number": t.number,
                "variant": f"search-{t.number}",
                "params": t.params,
                "pipeline": t.user_attrs["pipeline"],
                "threads": t.user_attrs["threads"],
                "proxy_accuracy": t.values[0],
                "proxy_accuracy_delta": t.values[0] - base_acc,
                "proxy_cpu_ratio": t.values[1],
                "duration_s": t.duration.total_seconds() if t.duration else None,
                "selected": t.number in chosen_ids,
            }
        )
    return {
        "budget_s": budget_s,
        "spent_s": sum(r["duration_s"] or 0.0 for r in rows),
        "proxy_items": len(proxy),
        "probe_requests": probe_requests,
        "baseline_proxy_accuracy": base_acc,
        "quality_margin": margin,
        "sampler": "optuna TPESampler (multivariate, multi-objective), seed = [study] seed",
        "trials": rows,
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

    key = {"config_hash": config_hash(cfg.to_dict()), "proxy_items": proxy_items, "probe_requests": probe_requests}
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
    """The search's fine-tuned baseline: trained once, saved, reloaded on a rerun."""
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
    from wattcut.report.build import build_results, write_reports
    from wattcut.store import Store

    store = Store.open_study(study)
    try:
        results = build_results(store)
        st = results["statistics"]
        for row in history["trials"]:
            if not row["selected"]:
                continue
            name = row["variant"]
            paired = (st.get("paired") or {}).get(name) or {}
            energy = paired.get("energy_per_request_j") or {}
            quality = paired.get("quality") or {}
            summary = next((r for r in results["summary"] if r["variant"] == name), None)
            base = next((r for r in results["summary"] if r["variant"] == "baseline"), None)
            row["full"] = {
                "accuracy": summary["accuracy"]["mean"] if summary else None,
                "accuracy_delta": (summary["accuracy"]["mean"] - base["accuracy"]["mean"])
                if summary and base
                else None,
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
