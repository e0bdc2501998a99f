"""report.html: a self-contained page (inline CSS and SVG, no scripts, no external resources).

A pure function of ``results.json`` (itself a pure function of the store). Every
user-supplied string (study, variant and dataset names, paths) is HTML-escaped; the
figures' SVG text is escaped by matplotlib's XML writer.
"""

from __future__ import annotations

from html import escape
from typing import Any

from wattcut.metric import MetricSpec
from wattcut.report.columns import Figure, rows
from wattcut.report.estimates import (
    CROSSCHECK_COLUMNS,
    CROSSCHECK_REASONS,
    cell,
    crosscheck_rows,
    method_lines,
    time_text,
)
from wattcut.report.notes import GATE_RULE

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:96rem;color:#222;
line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.82rem}th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;
text-align:right}th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#f4f4f4}.note{color:#555;font-size:.85rem}.warn{background:#fff4e0;border:1px solid #f0c070;
padding:.6rem .8rem;border-radius:4px}.est{color:#a05a00;font-weight:600}code{background:#f4f4f4;padding:0 .2rem}
.rec{background:#eef6ee;border:1px solid #9c9;padding:.2rem 1rem;border-radius:4px}
.fail{color:#b00020;font-weight:600}.pass{color:#1b7f3b}
figure{margin:1.2rem 0}figcaption{font-weight:600;margin-bottom:.3rem}figure svg{max-width:100%;height:auto}
.ci{color:#666;font-size:.75rem;display:block}
"""


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


def _methods(results: dict[str, Any]) -> str:
    seen: dict[tuple[str, str], str] = {}
    for t in results["trials"]:
        for p in t["phases"]:
            for comp, e in p["energy"].items():
                # The source sentence carries per-window numbers; keep the first as an example.
                seen.setdefault((comp, e["method"]), e["source"])
    items = "".join(
        f"<li><b>{escape(c)}</b>: <code>{escape(m)}</code>; the first window's figures: {escape(s)}</li>"
        for (c, m), s in sorted(seen.items())
    )
    models = "".join(f"<li>{escape(line)}</li>" for line in method_lines(results))
    return f"<ul>{items}{models}</ul>{_crosscheck(results)}"


def _crosscheck(results: dict[str, Any]) -> str:
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


def _train_table(results: dict[str, Any]) -> str:
    rows = []
    for t in results["trials"]:
        for p in t["phases"]:
            if p["phase"] == "train" and not p.get("parent"):
                energy = "n/a" if p["energy_j"] is None else f"{p['energy_j']:.1f}"
                est = " (est.)" if p["estimated"] else ""
                rows.append(
                    f"<tr><td>trial {t['trial_index']}</td><td>seed {t['seed']}</td><td>{p['duration_s']:.1f}</td>"
                    f"<td>{p['samples']}</td><td>{energy}{est}</td></tr>"
                )
    if not rows:
        if results["config"].get("tasks") and not any(
            t["name"] == "sequence_classification" for t in results["config"]["tasks"]
        ):
            return "<p>None: the baseline is the pretrained model as it is (these tasks score it without training).</p>"
        return "<p>No training phase stored yet.</p>"
    head = "<tr><th>trial</th><th>seed</th><th>duration (s)</th><th>samples</th><th>energy (J)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _recommendation(results: dict[str, Any]) -> str:
    rec = (results.get("statistics") or {}).get("recommendation")
    if not rec:
        return ""
    name = "none" if rec["variant"] is None else escape(rec["variant"])
    front = ", ".join(escape(n) for n in results["statistics"]["pareto_front"])
    return (
        f'<div class="rec"><h2>Recommendation: {name}</h2><p>{escape(rec["reason"])}</p>'
        f'<p class="note">Pareto front ({escape(_spec(results.get("statistics")).label)}, '
        f"{escape(_spec(results.get('statistics')).direction)}, vs inference energy per request): "
        f"{front or 'n/a'}.</p></div>"
    )


def _carbon(results: dict[str, Any]) -> str:
    phase = next((p for t in results["trials"] for p in t["phases"] if p.get("carbon")), None)
    if phase is None:
        return "<p>No carbon figures stored.</p>"
    c = phase["carbon"]
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
    idle = next((t.get("idle_baseline") for t in results["trials"] if t.get("idle_baseline")), None)
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


def _tests_table(statistics: dict[str, Any]) -> str:
    rows = []
    spec = _spec(statistics)
    for name, comps in statistics.get("vs_baseline", {}).items():
        for metric in (spec.key, "energy_per_request_j", "latency_p50_ms"):
            c = comps.get(metric) or {}
            diff = c.get("mean_diff")
            effect = c.get("effect_size_dz", c.get("effect_size_hedges_g"))
            rows.append(
                f"<tr><td>{escape(name)}</td><td>{metric}</td><td>{'n/a' if diff is None else f'{diff:+.4g}'}</td>"
                f"<td>{escape(c.get('test', ''))}</td><td>{_p(c.get('p_value'))}</td><td>{_p(c.get('p_holm'))}</td>"
                f"<td>{'n/a' if effect is None else f'{effect:+.2f}'}</td><td>{escape(c.get('note', ''))}</td></tr>"
            )
        ni = comps.get(f"{spec.key}_non_inferiority") or {}
        lb = ni.get("lower_bound")
        turned = "" if spec.higher_is_better else " (on −value: higher is better)"
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{escape(spec.label)} non-inferiority (margin "
            f"{escape(statistics.get('margin_text', ''))} = {ni.get('margin', 0):.4g}){turned}</td>"
            f"<td>{'n/a' if lb is None else f'lower bound {lb:+.4f}'}</td><td>one-sided paired t, alpha "
            f"{ni.get('alpha', 0.05)}</td><td>{_p(ni.get('p_value'))}</td><td></td>"
            f"<td>{'non-inferior' if ni.get('non_inferior') else 'not shown'}</td>"
            f"<td>{escape(ni.get('note', ''))}</td></tr>"
        )
    if not rows:
        return "<p>No comparison yet (no baseline or no variant trials stored).</p>"
    head = (
        "<tr><th>variant</th><th>metric</th><th>difference vs baseline</th><th>test</th><th>p</th>"
        "<th>p (Holm)</th><th>effect size</th><th>note</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _search(results: dict[str, Any]) -> str:
    """The search history (``wattcut search``): its Markdown lines, rendered as a table and notes."""
    if not results.get("search"):
        return ""
    from wattcut.report.search import history_lines

    out, table = ["<h2>Search: proxy vs full study</h2>"], list[str]()
    for line in history_lines(results["search"]):
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


def _energy_aware(results: dict[str, Any]) -> str:
    from wattcut.report.energy_aware import lines

    return _markdown_section(lines(results))


def _training_notes(cfg: dict[str, Any], trials: list[dict[str, Any]], statistics: dict[str, Any] | None) -> str:
    from wattcut.report.notes import baseline_notes, reference_notes, training_data_notes

    notes = reference_notes(statistics) + baseline_notes(cfg, trials)
    return "".join(f'<p class="note">{escape(n)}</p>' for n in notes) + "".join(
        f'<p class="note"><strong>Training data</strong>: {escape(n)}</p>' for n in training_data_notes(cfg)
    )


def _paired_table(statistics: dict[str, Any]) -> str:
    from wattcut.report.paired import PAIRED_COLUMNS, paired_rows
    from wattcut.stats.paired import ITEM_METHOD, ROUND_METHOD

    rows = paired_rows(statistics)
    if not rows:
        return "<p>No paired comparison yet.</p>"
    head = "<tr>" + "".join(f"<th>{escape(label)}</th>" for _, label in PAIRED_COLUMNS) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{escape(r[k])}</td>" for k, _ in PAIRED_COLUMNS) + "</tr>" for r in rows)
    return (
        f'<table>{head}{body}</table><p class="note">Quality: {escape(ITEM_METHOD)}. Energy and latency: '
        f"{escape(ROUND_METHOD)}. The recommendation uses these tests.</p>"
    )


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def _payback(statistics: dict[str, Any]) -> str:
    pb = statistics.get("payback") or {}
    if not pb.get("variants"):
        return "<p>No inference energy stored yet.</p>"
    grids = pb["grids"]
    rpd = pb["requests_per_day"]
    rows = []
    for name, r in pb["variants"].items():
        if name == "baseline":
            continue
        be = r.get("break_even_requests")
        days = r.get("break_even_days")
        saved = r.get("saving_per_year_kg_co2e") or {}
        rows.append(
            f"<tr><td>{escape(name)}{_est(r)}</td><td>{_f(r.get('one_off_energy_j'), '.1f')}</td>"
            f"<td>{_f(r.get('saving_per_request_j'), '.4f', 1000.0)}</td>"
            f"<td>{'never' if be is None else f'{be:,.0f}'}</td><td>{time_text(days)}</td>"
            f"<td>{_f(r.get('saving_per_year_kwh'), '.2f')}</td>"
            + "".join(f"<td>{_f(saved.get(g['grid']), '.3f')}</td>" for g in grids)
            + f"<td>{escape('; '.join(filter(None, [r.get('note', ''), *r.get('caveats', [])])))}</td></tr>"
        )
    head = (
        "<tr><th>variant</th><th>one-off energy (J)</th><th>saving (mJ / request)</th><th>break-even requests</th>"
        "<th>time to break even</th><th>kWh saved / year</th>"
        + "".join(f"<th>kgCO2e saved / year, {escape(g['location'])}</th>" for g in grids)
        + "<th>note</th></tr>"
    )
    return (
        f'<p class="note">At <b>{rpd:,.0f} requests per day</b> ({escape(pb["requests_per_day_source"])}); PUE '
        f"{pb['pue']:g}. One-off energy = the variant's compression, calibration, recovery fine-tuning and "
        "distillation; the baseline's fine-tune is shared and not charged. Break-even requests = one-off energy ÷ "
        f"saving per request. {escape(pb['energy_basis'])}.</p><table>{head}{''.join(rows)}</table>"
    )


def _deployment(statistics: dict[str, Any]) -> str:
    pb = statistics.get("payback") or {}
    if not pb.get("variants") or not pb.get("grids"):
        return ""
    grids = pb["grids"]
    head = (
        "<tr><th>variant</th>"
        + "".join(f"<th>{escape(g['location'])}: g / 1,000 req · kg / year</th>" for g in grids)
        + "</tr>"
    )
    rows = []
    for name, r in pb["variants"].items():
        cells = "".join(
            f"<td>{d['co2e_per_1k_requests_g']:.4f} · {d['co2e_per_year_kg']:.2f}</td>" for d in r["deployment"]
        )
        rows.append(f"<tr><td>{escape(name)}{_est(r)}</td>{cells}</tr>")
    sources = "".join(
        f"<li>{escape(g['location'])}: {g['g_per_kwh']:.2f} gCO2e/kWh ({g['year']}) — {escape(g['source'])}</li>"
        for g in grids
    )
    return f'<table>{head}{"".join(rows)}</table><ul class="note">{sources}</ul>'


def _est(row: dict[str, Any]) -> str:
    if not row.get("estimated"):
        return ""
    methods = escape(", ".join(row.get("methods", [])))
    return f' <span class="est" title="built on estimated energy: {methods}">est.</span>'


def _f(x: float | None, fmt: str, scale: float = 1.0) -> str:
    return "n/a" if x is None else format(x * scale, fmt)


def _contention(results: dict[str, Any]) -> str:
    seen: dict[int, dict[str, Any]] = {}
    for t in results["trials"]:
        if t.get("contention"):
            seen.setdefault(t["trial_index"], t["contention"])
    if not seen:
        return ""
    parts = []
    for i, c in sorted(seen.items()):
        drift = "n/a" if c.get("drift_rel") is None else f"{100 * c['drift_rel']:+.1f}%"
        flag = ' <span class="fail">still drifting: treat this trial\'s energy with care</span>' if c["flagged"] else ""
        parts.append(f"trial {i}: {c['rounds']} round(s), baseline sentinel drift {drift}{flag}")
    return (
        f'<p class="note">Contention check (threshold ±{100 * next(iter(seen.values()))["drift_threshold"]:.0f}%): '
        + "; ".join(parts)
        + ".</p>"
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
            f"Inference: {infer['requests']} requests of batch {infer['batch_size']}, sequence length up to "
            f"{data.get('max_length')} tokens, after {infer['warmup_requests']} warm-up requests; the model forward "
            "only (tokenization excluded)."
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


def _tasks(results: dict[str, Any]) -> str:
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


def render(results: dict[str, Any], figs: dict[str, dict[str, str]] | None = None) -> str:
    """The HTML page for a ``results.json`` document (figures drawn here unless given)."""
    if figs is None:
        from wattcut.report.figures import render_all

        figs = render_all(results)
    statistics = results.get("statistics") or {}
    cfg, prov = results["config"], results["provenance"]
    data = cfg.get("data") or {}
    dataset = data.get("name") or data.get("hub") or data.get("train_file")
    if cfg.get("tasks"):
        dataset = ", ".join(t.get("id") or t["name"] for t in cfg["tasks"])
    missing = ""
    if results["missing_trials"]:
        items = ", ".join(f"{escape(m['variant'])} #{m['trial_index']}" for m in results["missing_trials"])
        missing = (
            f'<p class="warn">This study is incomplete: {len(results["missing_trials"])} trial(s) missing '
            f"({items}). The table shows the finished trials only.</p>"
        )
    if ((results.get("statistics") or {}).get("recommendation") or {}).get("degenerate_baseline"):
        r = results["statistics"]["reference_accuracy"]
        missing += (
            f'<p class="warn">Degenerate baseline: its accuracy ({r["baseline_accuracy"]:.3f}) is no better than '
            f"always answering the majority class ({r['majority_class_accuracy']:.3f}). No variant is recommended.</p>"
        )
    for f in results.get("failures") or []:
        missing += (
            f'<p class="warn">Variant failed: {escape(f["variant"])}, trial {f["trial_index"] + 1}, during '
            f"{escape(f['stage'])}: {escape(f['reason'])}. It is left out of the tables and statistics; the other "
            "variants are unaffected.</p>"
        )
    flags = ", ".join(f for f, on in prov["cpu"]["flags"].items() if on) or "none of the tracked ones"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>wattcut report: {escape(results["study"])}</title><style>{_CSS}</style></head><body>
<h1>wattcut report: {escape(results["study"])}</h1>
<p class="note">Model {escape(str(cfg["model"].get("name_or_path") or cfg["model"].get("package")))}
{escape(cfg["model"].get("gguf_file") or "")} · {"tasks" if cfg.get("tasks") else "dataset"}
{escape(str(dataset))} · {cfg["trials"]} trial(s) · started {escape(results["started_at"])} · wattcut
{escape(prov["wattcut_version"])}</p>
{missing}
{_gguf_note(cfg)}
{_recommendation(results)}
<h2>Variants</h2>
<p class="note">Mean ± SD over trials. {escape(GATE_RULE)} {_workload_note(cfg)}</p>
{_training_notes(cfg, results.get("trials") or [], results.get("statistics"))}
{_variant_table(results["summary"], statistics)}
{_contention(results)}
<p class="note">Marks: Holm-adjusted p vs the baseline (* &lt; 0.05, ** &lt; 0.01, *** &lt; 0.001, n.s. not
significant); hover for the test. CI: t-based 95% interval of the mean over trials.</p>
<h2>Tasks</h2>
{_tasks(results)}
<h2>Figures</h2>
{_figures(figs)}
{_energy_aware(results)}
{_search(results)}
<h2>Tests against the baseline</h2>
<h3>Primary: item-level quality and per-round paired energy</h3>
{_paired_table(statistics)}
<h3>Secondary: per-trial means</h3>
<p class="note">The same comparisons on one mean per trial (paired t over trials; Welch where trials do not
pair). With few trials these have little power; they are shown so both analyses are visible.</p>
{_tests_table(statistics)}
<h2>Carbon payback</h2>
{_payback(statistics)}
<h2>Deployment CO2e per grid</h2>
{_deployment(statistics)}
<h2>Fine-tuning of the baseline</h2>
<p class="note">Every variant of a trial is derived from that trial's fine-tuned baseline; this cost is shared
and reported separately from compression and inference.</p>
{_train_table(results)}
<h2>Carbon</h2>
{_carbon(results)}
<h2>How energy was obtained</h2>
{_methods(results)}
<h2>Machine</h2>
<p class="note">{escape(prov["cpu"]["model"])} · {prov["cpu"]["cores_available"]} core(s) available
· ISA: {escape(flags)} · {prov["memory_gb"]} GB · GPU: {escape(", ".join(prov["gpus"]) or "none")} · torch
{escape(str(prov["packages"]["torch"]))} · transformers {escape(str(prov["packages"]["transformers"]))} ·
onnxruntime {escape(str(prov["packages"]["onnxruntime"]))}</p>
</body></html>
"""
