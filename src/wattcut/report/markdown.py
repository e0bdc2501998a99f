"""report.md: the report's decision, tables and figures (as PNG files) in Markdown."""

from __future__ import annotations

from typing import Any

from wattcut.metric import MetricSpec
from wattcut.report.columns import rows
from wattcut.report.estimates import (
    CROSSCHECK_COLUMNS,
    CROSSCHECK_REASONS,
    cell,
    crosscheck_rows,
    method_lines,
    time_text,
)
from wattcut.store.records import Results


def _cell(x: Any) -> str:
    """User text as inert Markdown: HTML escaped (renderers that allow raw HTML run it), pipes and emphasis too."""
    from html import escape

    text = escape(str(x), quote=False).replace("\n", " ")
    for ch in "\\`*_[]|<>#!":
        if ch not in "<>":  # already entities
            text = text.replace(ch, "\\" + ch)
    return text


def _opt(x: float | None, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def variant_table(summary: list[dict[str, Any]], statistics: dict[str, Any] | None) -> list[str]:
    """The variant table's Markdown lines, from the one column table."""
    spec = MetricSpec.from_dict((statistics or {}).get("metric_spec"))
    cols, body = rows("markdown", summary, statistics)
    lines = ["| " + " | ".join(_cell(c.short(spec)) for c in cols) + " |"]
    lines.append("|" + "".join("---|" if c.align == "left" else "---:|" for c in cols))
    for row in body:
        lines.append("| " + " | ".join(_cell(f.text + (f" ({f.note})" if f.note else "")) for f in row) + " |")
    return lines


def render(results: Results, figs: dict[str, dict[str, str]]) -> str:
    """Markdown for ``results`` with links to the PNG files in ``figs``."""
    st = results.statistics
    rec = st.get("recommendation") or {}
    lines = [f"# wattcut report: {_cell(results.study)}", ""]
    if results.missing_trials:
        missing = ", ".join(f"{_cell(m['variant'])} #{m['trial_index']}" for m in results.missing_trials)
        lines += [f"> **Incomplete study**: {len(results.missing_trials)} trial(s) missing ({missing}).", ""]
    if rec.get("degenerate_baseline"):
        r = st["reference_accuracy"]
        lines += [
            f"> **Degenerate baseline**: its accuracy ({r['baseline_accuracy']:.3f}) is no better than always "
            f"answering the majority class ({r['majority_class_accuracy']:.3f}). No variant is recommended.",
            "",
        ]
    for f in results.failures:
        lines += [
            f"> **Variant failed**: {_cell(f['variant'])}, trial {f['trial_index'] + 1}, during {f['stage']}: "
            f"{_cell(f['reason'])}. It is left out of the tables and statistics; the other variants are unaffected.",
            "",
        ]
    if results.config["model"].get("gguf_file"):
        lines += [
            "> The baseline was read from a GGUF file and de-quantized to fp32: its weights already carry the GGUF's "
            'quantization rounding, so this "fp32 baseline" is not the original full-precision model.',
            "",
        ]
    if rec:
        lines += [f"**Recommendation: {_cell(rec.get('variant') or 'none')}**. {_cell(rec.get('reason', ''))}", ""]
    lines += variant_table(results.summary, st)
    from wattcut.report.notes import GATE_RULE, baseline_notes, reference_notes, training_data_notes

    notes = reference_notes(st) + baseline_notes(results.config, results.trials)
    lines += ["", f"> {GATE_RULE}", *(f"> {_cell(n)}" for n in notes)]
    lines += ["", *(f"> **Training data**: {_cell(n)}" for n in training_data_notes(results.config))]
    lines += _tasks(results)
    from wattcut.report.paired import PAIRED_COLUMNS, paired_rows

    prows = paired_rows(st)
    if prows:
        lines += ["", "## Paired tests against the baseline (primary)", ""]
        lines += ["| " + " | ".join(label for _, label in PAIRED_COLUMNS) + " |"]
        lines += ["|" + "---|" * len(PAIRED_COLUMNS)]
        lines += ["| " + " | ".join(_cell(r[k]) for k, _ in PAIRED_COLUMNS) + " |" for r in prows]
    from wattcut.report.energy_aware import lines as energy_aware_lines

    lines += energy_aware_lines(results)
    if results.search:
        from wattcut.report.search import history_lines

        lines += ["", "## Search: proxy vs full study", "", *history_lines(results.search)]
    pb = st.get("payback") or {}
    rows = [(n, r) for n, r in (pb.get("variants") or {}).items() if n != "baseline"]
    if rows:
        lines += [
            "",
            f"## Carbon payback (at {pb['requests_per_day']:,.0f} requests/day, "
            f"{_cell(pb['requests_per_day_source'])})",
            "",
            "| variant | one-off energy J | saving mJ/request | break-even requests | time to break even | "
            "kWh saved/year "
            "| caveats |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for n, r in rows:
            be, days = r.get("break_even_requests"), r.get("break_even_days")
            saving = r.get("saving_per_request_j")
            lines.append(
                f"| {_cell(n)}{' (est.)' if r.get('estimated') else ''} | {_opt(r.get('one_off_energy_j'), '.1f')} | "
                f"{'n/a' if saving is None else f'{1000 * saving:.4f}'} | {'never' if be is None else f'{be:,.0f}'} | "
                f"{time_text(days)} | {_opt(r.get('saving_per_year_kwh'), '.2f')} | "
                f"{_cell('; '.join(filter(None, [r.get('note', ''), *r.get('caveats', [])])))} |"
            )
    if pb.get("grids"):
        lines += ["", "## Grids", ""]
        lines += [
            f"- {_cell(g['location'])}: {g['g_per_kwh']:.2f} gCO2e/kWh ({g['year']}), {_cell(g['source'])}"
            for g in pb["grids"]
        ]
    method = method_lines(results)
    if method:
        lines += ["", "## How the energy was estimated", "", *(f"- {_cell(m)}" for m in method)]
    cc = crosscheck_rows(results)
    if cc:
        lines += ["", f"## Cross-check: the same windows measured by {_cell(cc[0]['tool'])}", ""]
        lines += ["| " + " | ".join(label for _, label in CROSSCHECK_COLUMNS) + " |"]
        lines += ["|" + "---|" * len(CROSSCHECK_COLUMNS)]
        lines += ["| " + " | ".join(cell(r[k]) for k, _ in CROSSCHECK_COLUMNS) + " |" for r in cc]
        lines += ["", *(f"- {_cell(x)}" for x in CROSSCHECK_REASONS)]
    if figs:
        lines += ["", "## Figures", ""]
        lines += [f"![{_cell(f['title'])}]({f['png']})" for f in figs.values() if f["png"]]
    lines += ["", "Full details, tests and methods: report.html; every value: results.json.", ""]
    return "\n".join(lines)


def _tasks(results: Results) -> list[str]:
    """One table per task (only when the study names its tasks), from the shared per-task rows."""
    from wattcut.report.tasks import fmt, task_tables

    if not results.config.get("tasks"):
        return []
    lines = ["", "## Tasks"]
    for tb in task_tables(results):
        spec = tb["metric_spec"]
        role = " (primary)" if tb["primary"] else ""
        direction = (
            ""
            if not spec
            else f" {_cell(spec['label'])}: {'higher' if spec['higher_is_better'] else 'lower'} is better."
        )
        lines += [
            "",
            f"### {_cell(tb['key'])}{role}",
            "",
            f"{_cell(tb['data'])}.{direction} Means over trials.",
            "",
            "| variant | trials | " + " | ".join(_cell(c["label"]) for c in tb["columns"]) + " |",
            "|---|---:|" + "---:|" * len(tb["columns"]),
        ]
        for r in tb["rows"]:
            cells = " | ".join(fmt(r["values"][c["key"]], c["format"]) for c in tb["columns"])
            lines.append(f"| {_cell(r['variant'])} | {r['trials']} | {cells} |")
    return lines
