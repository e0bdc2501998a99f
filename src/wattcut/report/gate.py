"""The gate's Markdown summary, made to be posted as a pull-request comment."""

from __future__ import annotations

import math
from typing import Any

from wattcut.stats.gate import GateDecision
from wattcut.store.records import Results

HEADLINE = {
    "pass": "PASS: not worse",
    "regression": "FAIL: a proven regression",
    "inconclusive": "INCONCLUSIVE within the round budget",
}


def _quality_text(d: GateDecision, bounded: bool, unit: str) -> tuple[str, str]:
    q = d.quality
    if q.mean_diff is None or q.lower_bound is None or q.upper_bound is None:
        return "n/a", "n/a"
    if q.scale == "relative":  # perplexity: mean log ratio, higher is better -> a change of perplexity in %

        def show(x: float) -> str:
            return f"{100 * (math.exp(-x) - 1):+.2f}%"

        return f"{show(q.mean_diff)} (95% bound {show(q.lower_bound)})", f"perplexity rise < {show(-q.margin)}"
    scale, suffix = (100.0, " points") if bounded else (1.0, f" {unit}".rstrip())
    bounds = f"{scale * q.lower_bound:+.2f} / {scale * q.upper_bound:+.2f}"
    shown = f"{scale * q.mean_diff:+.2f}{suffix} (one-sided 95% bounds {bounds})"
    margin = f"{scale * q.margin:g}{suffix}"
    return shown, margin[:-1] if margin == "1 points" else margin


def summary_markdown(d: GateDecision, results: Results, reference: str, candidate: str) -> str:
    """The pull-request comment: verdict, the two checks with CIs and margins, reasons, noise floor, method."""
    spec: dict[str, Any] = results.metric_spec or {}
    cpu = (results.provenance.get("cpu") or {}).get("model", "unknown CPU")
    e = d.energy
    energy = "n/a" if e.ratio is None else f"{e.ratio:.3f}x"
    if e.ci95_low is not None and e.ci95_high is not None:
        energy += f" (95% CI {e.ci95_low:.3f}-{e.ci95_high:.3f})"
    quality, q_margin = _quality_text(d, bool(spec.get("bounded", True)), str(spec.get("unit", "")))
    lines = [
        f"## wattcut gate: {HEADLINE[d.verdict]}",
        "",
        f"**Candidate** {candidate} against **reference** {reference}, measured on {cpu} in {e.n_pairs} interleaved "
        "paired rounds.",
        "",
        "| check | candidate vs reference | margin | verdict |",
        "|---|---|---|---|",
        f"| energy per request | {energy} | at most +{100 * e.margin:g}% | {e.verdict} |",
        f"| {d.quality.metric} (item-level, {d.quality.n_items} items) | {quality} | {q_margin} "
        f"| {d.quality.verdict} |",
        "",
    ]
    if d.reasons:
        lines += [f"- {r}" for r in d.reasons] + [""]
    floor = results.statistics.get("noise_floor")
    if isinstance(floor, dict) and floor.get("spread_pct") is not None:
        lines.append(
            f"Noise floor on this machine: round-to-round spread {floor['spread_pct']:.1f}% of energy per request; "
            f"with {floor.get('rounds')} paired rounds the smallest resolvable difference is about "
            f"{floor.get('resolvable_pct', float('nan')):.1f}%. A margin below that needs more rounds (or a quieter "
            "runner) to decide."
        )
        lines.append("")
    est = any(p.estimated for t in results.trials for p in t.phases if p.phase == "infer")
    lines.append(
        "Method: energy per request from paired rounds (log-ratio t CI over rounds, each round serving the same "
        "requests with the order rotated); quality from the item-level paired non-inferiority test; "
        + (
            "energy **estimated** from CPU time and resident memory (no hardware counters)."
            if est
            else "energy measured by hardware counters."
        )
        + f" Exit code {d.exit_code}."
    )
    return "\n".join(lines) + "\n"
