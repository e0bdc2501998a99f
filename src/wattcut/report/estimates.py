"""What stands behind each estimated joule, for the report: models, sources, intervals, noise floor, cross-check.

Defined once here and rendered by both the HTML page and the Markdown report.
"""

from __future__ import annotations

from typing import Any


def range_text(interval: list[float] | tuple[float, float] | None, fmt: str = ".1f", scale: float = 1.0) -> str:
    """``"12.3–45.6"`` for an estimate's interval, ``""`` when there is none."""
    if not interval or interval[0] is None:
        return ""
    return f"{scale * interval[0]:{fmt}}–{scale * interval[1]:{fmt}}"


def method_lines(results: dict[str, Any]) -> list[str]:
    """Sentences naming each power model in force, its source and range, and the noise floor."""
    lines: list[str] = []
    pm = (results.get("provenance") or {}).get("power_models")
    if pm:
        march = pm["microarchitecture"]
        lines.append(
            f"CPU microarchitecture: {march['label']} ({march['evidence']}"
            f"{'; a virtual machine' if march.get('virtual') else ''})."
        )
        cpu = pm["cpu"]
        m = cpu.get("model")
        if m:
            lines.append(
                f"CPU power model: {m['name']}, {m['architecture']}: {m['min_w_per_vcpu']:.3f} W (idle) to "
                f"{m['max_w_per_vcpu']:.3f} W (full load) per vCPU, {m['year']} ({m['licence']}); "
                f"source: {m['source']}. "
                "A window's CPU energy is CPU-s x (min + u x (max - min)) at its utilisation u; its interval is "
                "CPU-s x min to CPU-s x max."
            )
        else:
            lines.append(f"CPU power: {cpu['w_per_core']:.3g} W per busy core ({cpu['origin']}), interval ±50%.")
        r = pm["ram"]
        lines.append(
            f"RAM power model: {r['w_per_gb']:.3f} W/GB of resident memory, interval {r['low_w_per_gb']:.3f}-"
            f"{r['high_w_per_gb']:.3f} W/GB ({r['memory_type']}). Central: {r['sources']['central']}. Low: "
            f"{r['sources']['low']}. High: {r['sources']['high']}."
        )
    nf = (results.get("statistics") or {}).get("noise_floor")
    if nf:
        lo, hi = nf["spread_ci95_pct"]
        text = (
            f"Noise floor: the baseline sentinel's energy per request varied {nf['spread_pct']:.1f}% from run to run "
            f"(95% CI {lo:.1f}-{hi:.1f}%, {nf['pairs']} before/after pairs)"
        )
        if nf.get("resolvable_pct") is not None:
            text += (
                f"; with {nf['rounds']} paired rounds, differences below {nf['resolvable_pct']:.1f}% in energy per "
                "request cannot be resolved on this machine"
            )
        lines.append(text + ".")
    elif results.get("trials"):
        lines.append("Noise floor: not available (no metered sentinel runs in this store).")
    return lines
