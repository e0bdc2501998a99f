"""report.md: the report's decision, tables and figures (as PNG files) in Markdown, from ``templates/report.md.j2``.

This module gathers the values (the variant table from the one column table, the per-task rows, the
paired tests, payback, methods) and formats the numbers; the template lays the page out.
"""

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
from wattcut.report.templating import inert as _cell
from wattcut.report.templating import template
from wattcut.store.records import Results


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
    """Markdown for ``results`` with links to the PNG files in ``figs`` (``templates/report.md.j2``)."""
    from wattcut.report.energy_aware import lines as energy_aware_lines
    from wattcut.report.explain import EXPLAIN_COLUMNS, EXPLAIN_METHOD, explain_rows
    from wattcut.report.notes import (
        GATE_RULE,
        baseline_notes,
        prediction_notes,
        reference_notes,
        training_data_notes,
    )
    from wattcut.report.paired import PAIRED_COLUMNS, paired_rows

    st = results.statistics
    rec = st.get("recommendation") or {}
    prows = paired_rows(st)
    xrows = explain_rows(st)
    cc = crosscheck_rows(results)
    page: str = template("report.md.j2").render(
        study=results.study,
        missing=[f"{_cell(m['variant'])} #{m['trial_index']}" for m in results.missing_trials],
        degenerate=st["reference_accuracy"] if rec.get("degenerate_baseline") else None,
        failures=results.failures,
        gguf=bool(results.config["model"].get("gguf_file")),
        recommendation=rec,
        variant_table=variant_table(results.summary, st),
        gate_rule=GATE_RULE,
        notes=reference_notes(st)
        + baseline_notes(results.config, results.trials)
        + prediction_notes(results.prediction),
        training_notes=training_data_notes(results.config),
        tasks=_tasks(results),
        paired={
            "labels": [label for _, label in PAIRED_COLUMNS],
            "rows": [[r[k] for k, _ in PAIRED_COLUMNS] for r in prows],
        }
        if prows
        else None,
        explain={
            "labels": [label for _, label in EXPLAIN_COLUMNS],
            "rows": [[r[k] for k, _ in EXPLAIN_COLUMNS] for r in xrows],
            "method": EXPLAIN_METHOD,
        }
        if xrows
        else None,
        energy_aware=energy_aware_lines(results),
        search=_search_lines(results),
        payback=_payback(st.get("payback") or {}),
        grids=(st.get("payback") or {}).get("grids"),
        methods=method_lines(results),
        crosscheck={
            "tool": cc[0]["tool"],
            "labels": [label for _, label in CROSSCHECK_COLUMNS],
            "rows": [[cell(r[k]) for k, _ in CROSSCHECK_COLUMNS] for r in cc],
            "reasons": CROSSCHECK_REASONS,
        }
        if cc
        else None,
        figures=[f for f in figs.values() if f["png"]] if figs else None,
    )
    return page


def _search_lines(results: Results) -> list[str] | None:
    if not results.search:
        return None
    from wattcut.report.search import history_lines

    return history_lines(results.search)


def _payback(pb: dict[str, Any]) -> dict[str, Any] | None:
    """The payback table's cells (variants other than the baseline), or None without any."""
    rows = []
    for n, r in (pb.get("variants") or {}).items():
        if n == "baseline":
            continue
        be, saving = r.get("break_even_requests"), r.get("saving_per_request_j")
        rows.append(
            {
                "variant": n,
                "estimated": r.get("estimated"),
                "one_off": _opt(r.get("one_off_energy_j"), ".1f"),
                "saving": "n/a" if saving is None else f"{1000 * saving:.4f}",
                "break_even": "never" if be is None else f"{be:,.0f}",
                "time": time_text(r.get("break_even_days")),
                "kwh_year": _opt(r.get("saving_per_year_kwh"), ".2f"),
                "caveats": "; ".join(filter(None, [r.get("note", ""), *r.get("caveats", [])])),
            }
        )
    if not rows:
        return None
    return {"requests_per_day": f"{pb['requests_per_day']:,.0f}", "source": pb["requests_per_day_source"], "rows": rows}


def _tasks(results: Results) -> list[dict[str, Any]] | None:
    """One table per task (only when the study names its tasks), from the shared per-task rows."""
    from wattcut.report.tasks import fmt, task_tables

    if not results.config.get("tasks"):
        return None
    tables = task_tables(results)
    for tb in tables:
        for r in tb["rows"]:
            r["cells"] = [fmt(r["values"][c["key"]], c["format"]) for c in tb["columns"]]
    return tables
