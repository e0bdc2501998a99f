"""What stands behind each estimated joule, for the report: models, sources, intervals, noise floor, cross-check.

Defined once here and rendered by both the HTML page and the Markdown report.
"""

from __future__ import annotations

from typing import Any

from wattcut.store.records import Results


def time_text(days: float | None) -> str:
    """A break-even time people read at a glance: minutes or hours under a day, days beyond (never 0.000104 days)."""
    if days is None:
        return "—"
    minutes = days * 1440
    if minutes < 1:
        return f"{minutes * 60:.2g} s"
    if minutes < 60:
        return f"{minutes:.2g} min"
    if days < 1:
        return f"{minutes / 60:.2g} h"
    return f"{days:,.3g} days" if days < 1000 else f"{days / 365.25:,.3g} years"


def range_text(interval: list[float] | tuple[float, float] | None, fmt: str = ".1f", scale: float = 1.0) -> str:
    """``"12.3–45.6"`` for an estimate's interval, ``""`` when there is none."""
    if not interval or interval[0] is None:
        return ""
    return f"{scale * interval[0]:{fmt}}–{scale * interval[1]:{fmt}}"


def roofline_lines(results: Results) -> list[str]:
    """The roofline probe's figures and method, and how "% of roofline" is computed."""
    probe = results.provenance.get("roofline")
    if not probe:
        return []
    peaks = "; ".join(
        f"{p['threads']} thread{'s' if p['threads'] > 1 else ''}: fp32 {p['fp32_gflops']:.0f} GFLOP/s"
        + (f", bf16 {p['bf16_gflops']:.0f}" if p.get("bf16_gflops") else "")
        + f", int8 {p['int8_gops']:.0f} GOP/s, memory {p['bandwidth_gb_s']:.1f} GB/s"
        for p in probe["peaks"]
    )
    contended = probe.get("contended_share") or 0.0
    warn = (
        f" Other processes used {contended:.0%} of the CPU during the probe: its peaks read low, so the shares "
        "of roofline read high."
        if contended > 0.10
        else ""
    )
    return [
        f"Roofline of this machine ({probe['cpu']}, {probe['logical_cores']} logical cores): {peaks}. Method: "
        f'{probe["method"]}. A variant\'s "% of roofline" is its attainable time per request at its threads and '
        "precision (the longer of operations / peak rate and weight bytes / bandwidth; decoders: prefill at 2 x "
        "parameters per prompt token, decode one read of the weights per generated token) over its measured time "
        "in the inference phase." + warn
    ]


def method_lines(results: Results) -> list[str]:
    """Sentences naming each power model in force, its source and range, and the noise floor."""
    lines: list[str] = []
    pm = results.provenance.get("power_models")
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
    lines += thermal_lines(results)
    lines += roofline_lines(results)
    nf = results.statistics.get("noise_floor") or {}
    if nf.get("design") == "paired rounds":
        lo, hi = nf["spread_ci95_pct"]
        lines.append(
            f"Noise floor: the per-round paired energy ratios (variant / baseline, the unit of the energy tests) "
            f"varied {nf['spread_pct']:.1f}% from round to round (pooled over {nf['variants']} variants, 95% CI "
            f"{lo:.1f}-{hi:.1f}%); with {nf['rounds']} paired rounds, ratios within {nf['resolvable_pct']:.1f}% of 1 "
            "cannot be resolved on this machine. This is the CI half-width of each variant whose interval pools its "
            "rounds, so it agrees with those CIs."
        )
        if nf.get("trial_basis_variants"):
            lines.append(
                f"Trials differed: the energy ratios of {', '.join(nf['trial_basis_variants'])} varied from trial to "
                "trial more than their rounds explain (one-way ANOVA, p below 0.25), so their CIs come from the trial "
                "means and are wider than this floor; more trials, not more rounds, would narrow them."
            )
    s_nf = nf.get("sentinel")
    if s_nf:
        lines.append(
            f"Drift check: the baseline sentinel (the same few requests before and after each trial's rounds) moved "
            f"{s_nf['spread_pct']:.1f}% ({s_nf['pairs']} pairs). It spans minutes of whatever else the machine did; "
            "the interleaved rounds cancel that drift, so it is not the error of the ratios above."
        )
    if not nf and results.trials:
        lines.append("Noise floor: not available (no paired rounds or sentinel runs in this store).")
    return lines


CROSSCHECK_REASONS = (
    "CPU: wattcut bills this process's CPU seconds (the kernel's CPU clock) x the microarchitecture's load curve "
    "(Cloud Carbon Footprint, from SPECpower); CodeCarbon, without RAPL and in process mode, bills the CPU's TDP "
    "(from its table, or its default when the model is unknown) x the process's share of all cores, over wall time.",
    "RAM: wattcut bills this process's resident memory x W/GB; CodeCarbon 3 bills a constant for the whole machine "
    "(5 W per guessed DIMM, at least 10 W) over wall time, however little memory the process uses.",
    "Both are models: neither side is a measurement, so their ratio shows how far two public methods disagree, "
    "not which is right.",
)


def crosscheck_rows(results: Results) -> list[dict[str, Any]]:
    """Per phase kind: wattcut's and the cross-check's CPU and RAM joules, summed over trials, and their ratios."""
    sums: dict[str, dict[str, float]] = {}
    tool = ""
    for t in results.trials:
        for p in t.phases:
            cc = p.crosscheck
            if not cc or p.parent:
                continue
            tool = cc["tool"]
            s = sums.setdefault(p.phase, {"w_cpu": 0.0, "w_ram": 0.0, "c_cpu": 0.0, "c_ram": 0.0, "n": 0.0})
            s["w_cpu"] += (p.energy.get("cpu") or {}).get("energy_j") or 0.0
            s["w_ram"] += (p.energy.get("ram") or {}).get("energy_j") or 0.0
            s["c_cpu"] += cc["cpu_j"]
            s["c_ram"] += cc["ram_j"]
            s["n"] += 1
    rows = []
    for phase, s in sums.items():
        rows.append(
            {
                "phase": phase,
                "windows": int(s["n"]),
                "tool": tool,
                "wattcut_cpu_j": s["w_cpu"],
                "crosscheck_cpu_j": s["c_cpu"],
                "cpu_ratio": s["c_cpu"] / s["w_cpu"] if s["w_cpu"] else None,
                "wattcut_ram_j": s["w_ram"],
                "crosscheck_ram_j": s["c_ram"],
                "ram_ratio": s["c_ram"] / s["w_ram"] if s["w_ram"] else None,
            }
        )
    return rows


CROSSCHECK_COLUMNS = (
    ("phase", "phase"),
    ("windows", "windows"),
    ("wattcut_cpu_j", "wattcut CPU J"),
    ("crosscheck_cpu_j", "CodeCarbon CPU J"),
    ("cpu_ratio", "CPU ratio (CodeCarbon / wattcut)"),
    ("wattcut_ram_j", "wattcut RAM J"),
    ("crosscheck_ram_j", "CodeCarbon RAM J"),
    ("ram_ratio", "RAM ratio"),
)


def cell(value: Any) -> str:
    """A cross-check table cell."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def thermal_lines(results: Results) -> list[str]:
    """CPU temperature min/mean/max per phase kind, or that the machine does not expose it."""
    by: dict[str, list[dict[str, float]]] = {}
    seen = False
    for t in results.trials:
        for p in t.phases:
            th = p.thermal
            if th is None or p.parent:
                continue
            seen = True
            if th.get("cpu_temp_c"):
                by.setdefault(p.phase, []).append(th["cpu_temp_c"])
    if not seen:
        return []
    if not by:
        return ["CPU temperature: not exposed by this machine (no hwmon or thermal-zone sensor)."]
    parts = []
    for phase, v in by.items():
        low, mean, high = min(x["min"] for x in v), sum(x["mean"] for x in v) / len(v), max(x["max"] for x in v)
        parts.append(f"{phase} {low:.0f}/{mean:.0f}/{high:.0f}")
    return ["CPU temperature (°C, min/mean/max per phase): " + "; ".join(parts) + "."]
