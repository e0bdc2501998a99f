"""Build the result files from a store. A pure function of the store's contents.

- ``results.json``: schema version, resolved config, provenance, every trial record,
  a per-variant summary, and the trials still missing if the study was interrupted.
- ``results.csv``: one flat row per trial and phase, for spreadsheets.
- ``report.html``: a self-contained page (no scripts, no network) with the variant table.
- ``emissions.csv``: CodeCarbon's column layout, one row per trial phase, plus wattcut columns.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wattcut.metric import MetricSpec, describe_margin, infer_phase, primary_spec, quality
from wattcut.stats.decide import study_statistics
from wattcut.stats.payback import built
from wattcut.store import SCHEMA_VERSION, Store
from wattcut.store.records import Phase, Results, Trial
from wattcut.units import kwh_or_none

CSV_COMPONENTS = ("cpu", "ram", "gpu")


def _expected(config: dict[str, Any]) -> list[tuple[str, int]]:
    names = ["baseline", *(v["name"] for v in config["variants"])]
    return [(v, t) for t in range(config["trials"]) for v in names]


def _mean_sd(values: Sequence[float | None]) -> dict[str, float | int | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"n": 0, "mean": None, "sd": None}
    return {"n": len(xs), "mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else None}


def _range(infer: list[Phase]) -> list[float] | None:
    """Mean (low, high) J per 1,000 requests of estimated infer phases, from their models' ranges."""
    rows = [
        (p.low_j, p.high_j, p.requests) for p in infer if p.low_j is not None and p.high_j is not None and p.requests
    ]
    if not rows:
        return None
    return [statistics.fmean(1000 * lo / n for lo, _, n in rows), statistics.fmean(1000 * hi / n for _, hi, n in rows)]


def _co2e_per_1k(p: Phase) -> float | None:
    co2e = (p.carbon or {}).get("co2e_g")
    return None if co2e is None or not p.requests else 1000 * co2e / p.requests


AS_GIVEN = "your model as given, not fine-tuned here"


def as_given(config: dict[str, Any]) -> bool:
    """Whether the study's baseline is the user's trained classifier used as it is (no train phase)."""
    return bool((config.get("model") or {}).get("already_trained"))


def _baseline_label(config: dict[str, Any], trial: Trial) -> str:
    if as_given(config):
        return f"({AS_GIVEN}, uncompressed)"
    trained = any(p.phase == "train" for p in trial.phases)  # fine-tuned here, whatever the task
    return "(fine-tuned, uncompressed)" if trained else "(pretrained, uncompressed)"


def _techniques_label(config: dict[str, Any], name: str, trial: Trial) -> str:
    steps = " → ".join(s["name"] for s in trial.techniques)
    if name == "baseline":
        return steps or _baseline_label(config, trial)
    variant: dict[str, Any] = next((v for v in config["variants"] if v["name"] == name), {})
    from wattcut.report.notes import start_label

    start = start_label(variant)
    if start is not None:
        return f"{start} → {steps}" if steps else start
    return steps or "(none: an unchanged copy of the baseline)"


def summarise(config: dict[str, Any], trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Per-variant mean and SD of the headline numbers, in study order.

    The quality column is the primary metric of the records' spec, under its own key
    (``accuracy``, ``perplexity``...); the report reads the key from ``metric_spec``.
    """
    spec = primary_spec(trials)
    rows = []
    for name in ["baseline", *(v["name"] for v in config["variants"])]:
        mine = [t for t in trials if t.variant == name]
        if not mine:
            continue
        infer = [p for p in (infer_phase(t) for t in mine) if p is not None]
        compress = [  # a variant built once per study states its build once (the trial that built it)
            sum(p.energy_j or 0.0 for p in t.phases_named("compress")) for t in mine if built(t)
        ]
        model = mine[0].model
        rows.append(
            {
                "variant": name,
                "techniques": _techniques_label(config, name, mine[0]),
                "trials": len(mine),
                spec.key: _mean_sd([quality(t, spec) for t in mine]),
                **{k: _mean_sd([t.metric(k) for t in mine]) for k, _ in spec.secondary},
                "latency_p50_ms": _mean_sd([None if t.latency is None else t.latency.p50_ms for t in mine]),
                "infer_energy_per_1k_requests_j": _mean_sd([p.energy_per_1k_requests_j for p in infer]),
                "infer_energy_per_1k_requests_range_j": _range(infer),
                "infer_estimated": any(p.estimated for p in infer),
                "infer_co2e_per_1k_requests_g": _mean_sd([_co2e_per_1k(p) for p in infer]),
                "compress_energy_j": _mean_sd(compress) if mine[0].techniques else None,
                "file_size_bytes": model.file_size_bytes,
                "parameters": model.parameters,
                "nonzero_parameters": model.nonzero_parameters,
                "flops_per_sequence": model.flops_per_sequence,  # absent in older records
                "runtime": model.runtime,
                "precision": model.precision,
            }
        )
    return rows


def add_roofline(summary: list[dict[str, Any]], trials: Sequence[Trial], probe: dict[str, Any] | None) -> None:
    """Set, in place, each row's "% of roofline" (mean ± SD over trials) and what bounds it, from the stored probe."""
    if not probe:
        return  # a study run without the probe (or before it existed): the column says n/a
    from wattcut.measure.roofline import Machine
    from wattcut.stats.roofline import of_trial

    machine = Machine.from_dict(probe)
    for row in summary:
        per = [r for r in (of_trial(t, machine) for t in trials if t.variant == row["variant"]) if r is not None]
        row["roofline_pct"] = _mean_sd([r["pct"] for r in per])
        if per and "decode" in per[0]:  # decoders: prefill and decode have different bounds
            row["roofline_limiter"] = ", ".join(
                f"{k} {statistics.fmean(r[k]['pct'] for r in per):.0f}%" for k in ("prefill", "decode")
            )
        elif per:
            row["roofline_limiter"] = f"{per[0]['limiter']}-bound"
        if per:
            row["roofline"] = per[0]  # one trial's figures, for the detail (bound, achieved, limiter)


def quality_gate(
    summary: list[dict[str, Any]],
    margin: float,
    spec: MetricSpec,
    margin_type: str = "auto",
    decisive: dict[str, Any] | None = None,
) -> None:
    """Set, in place, each variant's gate: the non-inferiority verdict that decides (``decisive``), one rule.

    The mean difference is kept beside it (``quality_delta``) and named in the reason, so a
    variant whose mean is inside the margin but not shown non-inferior says why it fails.
    """
    base = next((r for r in summary if r["variant"] == "baseline"), None)
    q = spec.key
    for r in summary:
        if r["variant"] == "baseline":
            r["quality_gate"] = {"status": "baseline", "reason": "the reference"}
            continue
        ni = (decisive or {}).get(r["variant"])
        if base is None or base[q]["mean"] is None or r[q]["mean"] is None or ni is None:
            r["quality_gate"] = {"status": "unknown", "reason": "no baseline trial (or no test) stored yet"}
            continue
        delta = r[q]["mean"] - base[q]["mean"]
        r["quality_delta"] = delta
        shown = f"{100 * delta:+.2f} points" if spec.bounded else f"{delta:+.4g}{spec.unit and ' ' + spec.unit}"
        test = "item-level paired" if ni.get("test") == "item-level" else "paired on trial means"
        p = ni.get("p_value")
        verdict = "shown non-inferior" if ni["non_inferior"] else "not shown non-inferior"
        r["quality_gate"] = {
            "status": "pass" if ni["non_inferior"] else "fail",
            "reason": f"mean {spec.label} {shown} vs the baseline ({spec.direction}); {verdict} at a margin of "
            f"{describe_margin(spec, margin, margin_type)} ({test}"
            + ("" if p is None else f", p = {p:.3g}")
            + ")"
            + (f"; {ni['kl_gate']}" if ni.get("kl_gate") else "")
            + ("" if ni["non_inferior"] else ": not a deployment candidate"),
        }


def build_results(store: Store, deploy: dict[str, Any] | None = None) -> Results:
    """The ``results.json`` document.

    Args:
        store: The study's store.
        deploy: Re-price payback and deployment carbon for another request rate or grid
            list (``wattcut report --requests-per-day/--grid``) instead of the stored ``[deploy]``.
    """
    study = store.study()
    if study is None:
        raise ValueError("empty store")
    trials = store.records()
    have = {(t.variant, t.trial_index) for t in trials}
    missing = [{"variant": v, "trial_index": i} for v, i in _expected(study["config"]) if (v, i) not in have]
    summary = summarise(study["config"], trials)
    add_roofline(summary, trials, study["provenance"].get("roofline"))
    evaluate = study["config"].get("evaluate", {})
    spec = primary_spec(trials)
    statistics = study_statistics(study["config"] if deploy is None else {**study["config"], "deploy": deploy}, trials)
    margin, margin_type = evaluate.get("quality_margin", 0.01), evaluate.get("margin_type", "auto")
    quality_gate(summary, margin, spec, margin_type, statistics.get("non_inferiority"))
    search = store.meta("search_history")
    predicted = store.meta("prediction")
    results = Results(
        schema_version=SCHEMA_VERSION,
        study=study["name"],
        started_at=study["started_at"],
        config=study["config"],
        provenance=study["provenance"],
        complete=not missing,
        missing_trials=missing,
        failures=store.failures(),
        metric_spec=spec.to_dict(),
        summary=summary,
        statistics=statistics,
        trials=trials,
        search=json.loads(search) if search else None,
    )
    if predicted:
        from wattcut.stats.prediction import versus_actual

        before = json.loads(predicted)
        results = dataclasses.replace(
            results, prediction={"predicted": before, "actual": versus_actual(before, results)}
        )
    absent = frozenset(k for k, v in (("search", search), ("prediction", predicted)) if not v)
    return dataclasses.replace(results, absent=absent) if absent else results


def _phase_row(t: Trial, p: Phase, spec: MetricSpec) -> dict[str, Any]:
    carbon = p.carbon or {}
    row: dict[str, Any] = {
        "variant": t.variant,
        "trial_index": t.trial_index,
        "seed": t.seed,
        "phase": p.phase,
        "step": p.step or "",
        "duration_s": p.duration_s,
        "samples": p.samples,
        "tokens": p.tokens,
        "requests": p.requests,
        "cpu_time_s": p.cpu_time_s,
        "energy_j": p.energy_j,
        "energy_kwh": kwh_or_none(p.energy_j),
        "estimated": p.estimated,
        "energy_per_sample_j": p.energy_per_sample_j,
        "energy_per_token_j": p.energy_per_token_j,
        "energy_per_1k_requests_j": p.energy_per_1k_requests_j,
        "net_energy_j": p.net_energy_j,
        "co2e_g": carbon.get("co2e_g"),
        "intensity_g_per_kwh": carbon.get("intensity_g_per_kwh"),
        "intensity_source": carbon.get("intensity_source"),
        "pue": carbon.get("pue"),
    }
    for c in CSV_COMPONENTS:
        e = p.energy.get(c)
        row[f"{c}_energy_j"] = None if e is None else e["energy_j"]
        row[f"{c}_method"] = "" if e is None else e["method"]
        row[f"{c}_estimated"] = "" if e is None else e["estimated"]
    row |= {
        "task": t.task or "sequence_classification",  # records before tasks were all sequence classification
        "metric": spec.key,
        "metric_value": quality(t, spec),
        "higher_is_better": spec.higher_is_better,
        **{k: t.metric(k) for k, _ in spec.secondary},
        "runtime": t.model.runtime,
        "precision": t.model.precision,
        "parameters": t.model.parameters,
        "nonzero_parameters": t.model.nonzero_parameters,
        "file_size_bytes": t.model.file_size_bytes,
        "flops_per_sequence": t.model.flops_per_sequence,
    }
    return row


def csv_rows(results: Results) -> list[dict[str, Any]]:
    """One flat row per trial and phase."""
    return [_phase_row(t, p, MetricSpec.from_dict(t.metric_spec)) for t in results.trials for p in t.phases]


def write_reports(store: Store, out: Path, deploy: dict[str, Any] | None = None) -> list[Path]:
    """Write results.json, results.csv, report.html, report.md (+ figures/*.png) and emissions.csv."""
    from wattcut.measure import emissions
    from wattcut.report import markdown
    from wattcut.report.figures import render_all
    from wattcut.report.html import render

    results = build_results(store, deploy)
    figs = render_all(results, png_dir=out / "figures")
    paths = [out / "results.json", out / "results.csv", out / "report.html", out / "report.md"]
    paths[0].write_text(json.dumps(results.to_dict(), indent=2, allow_nan=False), encoding="utf-8")
    rows = csv_rows(results)
    with paths[1].open("w", newline="", encoding="utf-8") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    paths[2].write_text(render(results, figs), encoding="utf-8")
    paths[3].write_text(markdown.render(results, figs), encoding="utf-8")
    paths.append(emissions.write(results, out / "emissions.csv"))
    return paths
