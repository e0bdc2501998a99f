"""The statistics sections of report.html: paired tests, per-trial tests, payback, deployment, contention."""

from __future__ import annotations

from html import escape
from typing import Any

from wattcut.metric import MetricSpec
from wattcut.report.estimates import time_text
from wattcut.store.records import Contention, Results


def tests_table(statistics: dict[str, Any]) -> str:
    """The secondary tests on per-trial means, one row per variant and metric."""
    rows = []
    spec = MetricSpec.from_dict((statistics or {}).get("metric_spec"))
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


def paired_table(statistics: dict[str, Any]) -> str:
    """The primary tests: item-level quality and per-round paired energy."""
    from wattcut.report.paired import PAIRED_COLUMNS, paired_rows
    from wattcut.stats.paired import ITEM_METHOD, ROUND_METHOD

    rows = paired_rows(statistics)
    if not rows:
        return "<p>No paired comparison yet.</p>"
    return (
        f'{_text_table(PAIRED_COLUMNS, rows)}<p class="note">Quality: {escape(ITEM_METHOD)}. Energy and latency: '
        f"{escape(ROUND_METHOD)}. The recommendation uses these tests.</p>"
    )


def _text_table(columns: tuple[tuple[str, str], ...], rows: list[dict[str, str]]) -> str:
    """An HTML table of text cells: ``columns`` are (key, label) pairs, every cell escaped."""
    head = "<tr>" + "".join(f"<th>{escape(label)}</th>" for _, label in columns) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{escape(r[k])}</td>" for k, _ in columns) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def explain_table(statistics: dict[str, Any]) -> str:
    """Attribution agreement with the baseline (``[explain]``); empty when it was off."""
    from wattcut.report.explain import EXPLAIN_COLUMNS, EXPLAIN_METHOD, explain_rows

    rows = explain_rows(statistics)
    if not rows:
        return ""
    return (
        f"<h2>Did compression change the reasons? (SHAP)</h2>{_text_table(EXPLAIN_COLUMNS, rows)}"
        f'<p class="note">{escape(EXPLAIN_METHOD)}</p>'
    )


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def payback(statistics: dict[str, Any]) -> str:
    """When each variant's one-off energy is paid back by its per-request saving, per grid."""
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


def deployment(statistics: dict[str, Any]) -> str:
    """Deployment CO2e per 1,000 requests and per year, per grid."""
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


def contention(results: Results) -> str:
    """The baseline sentinel's drift per trial, and the rounds it took."""
    seen: dict[int, Contention] = {}
    for t in results.trials:
        if t.contention is not None:
            seen.setdefault(t.trial_index, t.contention)
    if not seen:
        return ""
    parts = []
    for i, c in sorted(seen.items()):
        drift = "n/a" if c.drift_rel is None else f"{100 * c.drift_rel:+.1f}%"
        flag = ' <span class="fail">still drifting: treat this trial\'s energy with care</span>' if c.flagged else ""
        parts.append(f"trial {i}: {c.rounds} round(s), baseline sentinel drift {drift}{flag}")
    return (
        f'<p class="note">Contention check (threshold ±{100 * next(iter(seen.values())).drift_threshold:.0f}%): '
        + "; ".join(parts)
        + ".</p>"
    )
