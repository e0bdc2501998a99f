"""report.html: a self-contained page (inline CSS and SVG, no scripts, no external resources).

A pure function of ``results.json`` (itself a pure function of the store). Every
user-supplied string (study, variant and dataset names, paths) is HTML-escaped; the
figures' SVG text is escaped by matplotlib's XML writer.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from wattcut.metric import MetricSpec
from wattcut.report.columns import Figure, rows
from wattcut.report.estimates import (
    CROSSCHECK_COLUMNS,
    CROSSCHECK_REASONS,
    cell,
    crosscheck_rows,
    method_lines,
)
from wattcut.report.html_stats import contention, deployment, explain_table, paired_table, payback, tests_table
from wattcut.report.notes import GATE_RULE
from wattcut.report.templating import asset, template
from wattcut.store.records import Results, Trial


def _spec(statistics: dict[str, Any] | None) -> MetricSpec:
    return MetricSpec.from_dict((statistics or {}).get("metric_spec"))


def _figure(f: Figure) -> str:
    """One cell of the variant table: the figure, its estimate note, significance mark and CI."""
    if f.status is not None:
        status, reason = f.status
        css = {"fail": ' class="fail"', "pass": ' class="pass"'}.get(status, "")
        return f'<td{css} title="{escape(reason)}">{escape(f.text)}</td>'
    note = f' <span class="est" title="model estimate, see method below">{escape(f.note)}</span>' if f.note else ""
    mark = f' <span title="{escape(f.mark[1])}">{escape(f.mark[0])}</span>' if f.mark else ""
    ci = f'<span class="ci">{escape(f.ci)}</span>' if f.ci else ""
    return f"<td>{escape(f.text)}{note}{mark}{ci}</td>"


def _variant_table(summary: list[dict[str, Any]], statistics: dict[str, Any] | None = None) -> str:
    spec = _spec(statistics)
    cols, body = rows("html", summary, statistics)
    head = "".join(
        f'<th title="{escape(c.title(spec))}">{escape(c.label(spec))}</th>'
        if c.title(spec)
        else f"<th>{escape(c.label(spec))}</th>"
        for c in cols
    )
    lines = ["<tr>" + "".join(_figure(f) for f in row) + "</tr>" for row in body]
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _methods(results: Results) -> str:
    seen: dict[tuple[str, str], str] = {}
    for t in results.trials:
        for p in t.phases:
            for comp, e in p.energy.items():
                # The source sentence carries per-window numbers; keep the first as an example.
                seen.setdefault((comp, e["method"]), e["source"])
    items = "".join(
        f"<li><b>{escape(c)}</b>: <code>{escape(m)}</code>; the first window's figures: {escape(s)}</li>"
        for (c, m), s in sorted(seen.items())
    )
    models = "".join(f"<li>{escape(line)}</li>" for line in method_lines(results))
    return f"<ul>{items}{models}</ul>{_crosscheck(results)}"


def _crosscheck(results: Results) -> str:
    rows = crosscheck_rows(results)
    if not rows:
        return ""
    head = "<tr>" + "".join(f"<th>{escape(label)}</th>" for _, label in CROSSCHECK_COLUMNS) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell(r[k]))}</td>" for k, _ in CROSSCHECK_COLUMNS) + "</tr>" for r in rows
    )
    reasons = "".join(f"<li>{escape(x)}</li>" for x in CROSSCHECK_REASONS)
    return (
        f"<h3>Cross-check: the same windows measured by {escape(rows[0]['tool'])}</h3>"
        f"<table>{head}{body}</table><ul>{reasons}</ul>"
    )


def _train_table(results: Results) -> str:
    rows = []
    for t in results.trials:
        for p in t.phases_named("train"):
            if not p.parent:
                energy = "n/a" if p.energy_j is None else f"{p.energy_j:.1f}"
                est = " (est.)" if p.estimated else ""
                rows.append(
                    f"<tr><td>trial {t.trial_index}</td><td>seed {t.seed}</td><td>{p.duration_s:.1f}</td>"
                    f"<td>{p.samples}</td><td>{energy}{est}</td></tr>"
                )
    if not rows:
        tasks = results.config.get("tasks")
        if tasks and not any(task["name"] == "sequence_classification" for task in tasks):
            return "<p>None: the baseline is the pretrained model as it is (these tasks score it without training).</p>"
        return "<p>No training phase stored yet.</p>"
    head = "<tr><th>trial</th><th>seed</th><th>duration (s)</th><th>samples</th><th>energy (J)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _recommendation(results: Results) -> str:
    rec = results.statistics.get("recommendation")
    if not rec:
        return ""
    name = "none" if rec["variant"] is None else escape(rec["variant"])
    front = ", ".join(escape(n) for n in results.statistics["pareto_front"])
    spec = _spec(results.statistics)
    return (
        f'<div class="rec"><h2>Recommendation: {name}</h2><p>{escape(rec["reason"])}</p>'
        f'<p class="note">Pareto front ({escape(spec.label)}, '
        f"{escape(spec.direction)}, vs inference energy per request): "
        f"{front or 'n/a'}.</p></div>"
    )


def _carbon(results: Results) -> str:
    c = next((p.carbon for t in results.trials for p in t.phases if p.carbon), None)
    if c is None:
        return "<p>No carbon figures stored.</p>"
    year = "" if c["intensity_year"] is None else f", {c['intensity_year']}"
    parts = [
        f"<p>Grid: <b>{escape(str(c['intensity_location']))}</b>, {c['intensity_g_per_kwh']:.1f} gCO2e/kWh "
        f"({escape(str(c['intensity_basis']))}{year}); source: {escape(str(c['intensity_source']))}. "
        f"PUE {c['pue']:g}.</p>"
    ]
    if c["intensity_kind"] == "world-default":
        parts.append(
            '<p class="warn">No location was configured, so the world average was used. '
            "Set [carbon] country for figures that describe your grid.</p>"
        )
    idle = next((t.idle_baseline for t in results.trials if t.idle_baseline), None)
    if idle:
        watts = ", ".join(
            f"{escape(k)} {'n/a' if v is None else f'{v:.3f} W'} ({escape(idle['methods'][k])})"
            for k, v in idle["power_w"].items()
        )
        parts.append(
            f"<p>Idle baseline ({idle['duration_s']:.1f} s before the first trial): {watts}. "
            "Net energy = gross − idle power × duration; both are stored.</p>"
        )
    return "".join(parts)


def _search(results: Results) -> str:
    """The search history (``wattcut search``): its Markdown lines, rendered as a table and notes."""
    if not results.search:
        return ""
    from wattcut.report.search import history_lines

    out, table = ["<h2>Search: proxy vs full study</h2>"], list[str]()
    for line in history_lines(results.search):
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                tag = "th" if not table else "td"
                cells = [c.strip() for c in line.strip("|").split(" | ")]
                table.append("<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>")
        elif line:
            out.append(f'<p class="note">{escape(line)}</p>')
    return "".join(out[:2]) + f"<table>{''.join(table)}</table>" + "".join(out[2:])


def _markdown_section(md_lines: list[str]) -> str:
    """Markdown lines (## headings, | tables |, paragraphs) as HTML: one rendering for sections defined once."""
    out: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if table:
            out.append(f"<table>{''.join(table)}</table>")
            table.clear()

    for line in md_lines:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                tag = "th" if not table else "td"
                cells = [c.strip() for c in line.strip("|").split(" | ")]
                table.append("<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h2>{escape(line[3:])}</h2>")
        elif line:
            out.append(f'<p class="note">{escape(line)}</p>')
    flush()
    return "".join(out)


def _energy_aware(results: Results) -> str:
    from wattcut.report.energy_aware import lines

    return _markdown_section(lines(results))


def _training_notes(
    cfg: dict[str, Any], trials: list[Trial], statistics: dict[str, Any] | None, prediction: dict[str, Any] | None
) -> str:
    from wattcut.report.notes import baseline_notes, prediction_notes, reference_notes, training_data_notes

    notes = reference_notes(statistics) + baseline_notes(cfg, trials) + prediction_notes(prediction)
    return "".join(f'<p class="note">{escape(n)}</p>' for n in notes) + "".join(
        f'<p class="note"><strong>Training data</strong>: {escape(n)}</p>' for n in training_data_notes(cfg)
    )


def _figures(figs: dict[str, dict[str, str]]) -> str:
    return "".join(
        f'<figure id="fig-{key}"><figcaption>{escape(f["title"])}</figcaption>{f["svg"]}</figure>'
        for key, f in figs.items()
    )


def _gguf_note(cfg: dict[str, Any]) -> str:
    if not cfg["model"].get("gguf_file"):
        return ""
    return (
        '<p class="warn">The baseline was read from a GGUF file and de-quantized to fp32: its weights already '
        'carry the GGUF\'s quantization rounding (e.g. 4-bit Q4_1), so this "fp32 baseline" is not the original '
        "full-precision model, and every variant is compared with that rounded model.</p>"
    )


def _workload_note(cfg: dict[str, Any]) -> str:
    infer, data = cfg["infer"], cfg.get("data") or {}
    if not cfg.get("tasks"):
        return (
            f"Inference: {infer['requests']} requests of batch {infer['batch_size']}"
            + (", texts grouped by length (bucketed 16 batches at a time)" if infer.get("bucket") else "")
            + f", sequence length up to {data.get('max_length')} tokens, after {infer['warmup_requests']} warm-up "
            "requests; the model forward only (tokenization excluded)."
        )
    energy_task = cfg.get("energy_task")
    if energy_task:
        return (
            f'Inference energy and latency per request are those of the task "{escape(energy_task)}" ([study] '
            "energy_task), and drive the recommendation; quality is the primary task's. Each task's workload is "
            "described under Tasks. Tokenization is excluded."
        )
    return (
        "Inference energy and latency are those of the primary task's request workload (first task, or "
        "[study] primary_task); each task's workload is described under Tasks. Tokenization is excluded."
    )


def _tasks(results: Results) -> str:
    from wattcut.report.tasks import fmt, task_tables

    parts = []
    for tb in task_tables(results):
        spec = tb["metric_spec"]
        role = " (primary: drives the recommendation)" if tb["primary"] else ""
        direction = (
            ""
            if not spec
            else f"; {escape(spec['label'])}: {'higher' if spec['higher_is_better'] else 'lower'} is better"
        )
        head = "".join(f"<th>{escape(c['label'])}</th>" for c in tb["columns"])
        body = "".join(
            f"<tr><td>{escape(r['variant'])}</td><td>{r['trials']}</td>"
            + "".join(f"<td>{fmt(r['values'][c['key']], c['format'])}</td>" for c in tb["columns"])
            + "</tr>"
            for r in tb["rows"]
        )
        parts.append(
            f"<h3>{escape(tb['key'])} <small>({escape(tb['task'])}){role}</small></h3>"
            f'<p class="note">{escape(tb["data"])}{direction}. Means over trials.</p>'
            f"<table><tr><th>variant</th><th>trials</th>{head}</tr>{body}</table>"
        )
    return "".join(parts) or "<p>No per-task results stored.</p>"


def render(results: Results, figs: dict[str, dict[str, str]] | None = None) -> str:
    """The HTML page for a ``results.json`` document (figures drawn here unless given)."""
    if figs is None:
        from wattcut.report.figures import render_all

        figs = render_all(results)
    statistics = results.statistics
    cfg, prov = results.config, results.provenance
    data = cfg.get("data") or {}
    dataset = data.get("name") or data.get("hub") or data.get("train_file")
    if cfg.get("tasks"):
        dataset = ", ".join(t.get("id") or t["name"] for t in cfg["tasks"])
    missing = ""
    if results.missing_trials:
        items = ", ".join(f"{escape(m['variant'])} #{m['trial_index']}" for m in results.missing_trials)
        missing = (
            f'<p class="warn">This study is incomplete: {len(results.missing_trials)} trial(s) missing '
            f"({items}). The table shows the finished trials only.</p>"
        )
    if (statistics.get("recommendation") or {}).get("degenerate_baseline"):
        r = statistics["reference_accuracy"]
        missing += (
            f'<p class="warn">Degenerate baseline: its accuracy ({r["baseline_accuracy"]:.3f}) is no better than '
            f"always answering the majority class ({r['majority_class_accuracy']:.3f}). No variant is recommended.</p>"
        )
    for f in results.failures:
        missing += (
            f'<p class="warn">Variant failed: {escape(f["variant"])}, trial {f["trial_index"] + 1}, during '
            f"{escape(f['stage'])}: {escape(f['reason'])}. It is left out of the tables and statistics; the other "
            "variants are unaffected.</p>"
        )
    flags = ", ".join(f for f, on in prov["cpu"]["flags"].items() if on) or "none of the tracked ones"
    sections = {  # HTML built here, from escaped parts; the template only places it
        "warnings": missing,
        "gguf_note": _gguf_note(cfg),
        "recommendation": _recommendation(results),
        "workload_note": _workload_note(cfg),
        "training_notes": _training_notes(cfg, results.trials, statistics, results.prediction),
        "variant_table": _variant_table(results.summary, statistics),
        "contention": contention(results),
        "tasks": _tasks(results),
        "figures": _figures(figs),
        "energy_aware": _energy_aware(results),
        "search": _search(results),
        "paired": paired_table(statistics),
        "tests": tests_table(statistics),
        "explain": explain_table(statistics),
        "payback": payback(statistics),
        "deployment": deployment(statistics),
        "train": _train_table(results),
        "carbon": _carbon(results),
        "methods": _methods(results),
    }
    page: str = template("report.html.j2").render(
        study=results.study,
        css=Markup(asset("report.css")),
        model=str(cfg["model"].get("name_or_path") or cfg["model"].get("package")),
        gguf_file=cfg["model"].get("gguf_file") or "",
        has_tasks=bool(cfg.get("tasks")),
        dataset=str(dataset),
        trials=cfg["trials"],
        started_at=results.started_at,
        version=prov["wattcut_version"],
        gate_rule=GATE_RULE,
        s={k: Markup(v) for k, v in sections.items()},
        cpu=prov["cpu"],
        flags=flags,
        memory_gb=prov["memory_gb"],
        gpus=", ".join(prov["gpus"]) or "none",
        packages={k: str(prov["packages"][k]) for k in ("torch", "transformers", "onnxruntime")},
    )
    return page
