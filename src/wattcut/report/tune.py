"""``wattcut tune``'s outputs: the settings table, the chosen setting's saving with its CI, and the frontier figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def markdown(result: dict[str, Any], about: dict[str, Any]) -> str:
    """The tune report: what was swept, the table (frontier marked), the choice and its saving vs the default."""
    unit = about["unit"]
    targets = result["targets_ms"]
    served = any(s["concurrency"] is not None for s in result["settings"])
    want = [f"p95 {'TTFT' if served else 'latency'} <= {targets['latency']:g} ms"] if targets.get("latency") else []
    want += [f"p95 TPOT <= {targets['tpot']:g} ms"] if targets.get("tpot") else []
    lines = [
        f"# wattcut tune: {about['study']} / {about['variant']}",
        "",
        f"{about['variant']} ({about['runtime']} · {about['precision']}) on {about['cpu']}: {len(result['settings'])} "
        f"deployment settings, {about['rounds']} interleaved paired rounds, target: {' and '.join(want) or 'none'}."
        + (" Batches above 1 group texts of similar length ([infer] bucket)." if about.get("bucket") else ""),
        "",
    ]
    by = {s["setting"]: s for s in result["settings"]}
    chosen, default = result["chosen"], by[result["default"]]
    if chosen is None:
        fastest = by.get(result["fastest"] or "")
        lines.append(
            f"**No setting meets the target.** The fastest, {result['fastest']}, has p95 "
            f"{'TTFT' if served else 'latency'} {_ms(fastest and fastest['p95_latency_ms'])} ms"
            + (f" and p95 TPOT {_ms(fastest['p95_tpot_ms'])} ms" if fastest and served else "")
            + ". Relax the target, or try more threads or a cheaper variant."
        )
    else:
        c = by[chosen]
        v = c["vs_default"]
        if v is None:
            saving = "it is the default setting: nothing to change"
        else:
            lo, hi = v.get("ci95_low"), v.get("ci95_high")
            ci = "" if lo is None else f" (95% CI {1 / hi:.2f}-{1 / lo:.2f}x, {v['n_pairs']} paired rounds)"
            saving = f"{1 / v['ratio']:.2f}x less energy per {unit} than the default {result['default']}{ci}"
        lines.append(
            f"**Chosen: {chosen}** ({c['threads']} thread(s), "
            + (f"{c['concurrency']} concurrent clients" if served else f"batch {c['batch_size']}")
            + (f", {c['hint']} hint" if c.get("hint") else "")
            + f"): {c['energy_per_unit_j'] * 1000:.3f} mJ per {unit}"
            + (" (estimated)" if c["estimated"] else "")
            + f", p95 {'TTFT' if served else 'latency'} {_ms(c['p95_latency_ms'])} ms; {saving}."
        )
    hinted = any(s.get("hint") for s in result["settings"])  # older results have no hint
    lines += [
        "",
        f"| setting | threads | {'clients' if served else 'batch'} |"
        + (" hint |" if hinted else "")
        + f" mJ / {unit} | vs default [95% CI] | "
        f"p95 {'TTFT' if served else 'latency'} ms |"
        + (" p95 TPOT ms |" if served else "")
        + " meets target | frontier |",
        "|---|---:|---:|" + ("---|" if hinted else "") + "---:|---:|---:|" + ("---:|" if served else "") + "---|---|",
    ]
    for s in result["settings"]:
        v = s["vs_default"]
        vs = "default" if s["setting"] == default["setting"] else "n/a"
        if v is not None:
            vs = f"{v['ratio']:.3f}x" + (
                "" if v.get("ci95_low") is None else f" [{v['ci95_low']:.3f}-{v['ci95_high']:.3f}]"
            )
        e = s["energy_per_unit_j"]
        lines.append(
            f"| {s['setting']} | {s['threads']} | {s['concurrency'] if served else s['batch_size']} |"
            + (f" {s.get('hint') or ''} |" if hinted else "")
            + f" {'n/a' if e is None else f'{e * 1000:.3f}'} | {vs} | {_ms(s['p95_latency_ms'])} |"
            + (f" {_ms(s['p95_tpot_ms'])} |" if served else "")
            + f" {'yes' if s['meets_target'] else 'no'} | {'yes' if s['on_frontier'] else ''} |"
        )
    lines += ["", f"Method: {result['method']}. Energy: {about['energy_method']}.", ""]
    return "\n".join(lines)


def frontier_figure(result: dict[str, Any], about: dict[str, Any], path: Path) -> Path:
    """Energy per unit against p95 latency, the frontier joined, the target drawn (SVG)."""
    from wattcut.report.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [s for s in result["settings"] if s["energy_per_unit_j"] is not None and s["p95_latency_ms"] is not None]
    for s in pts:
        ax.scatter(s["p95_latency_ms"], s["energy_per_unit_j"] * 1000, color="C0" if s["on_frontier"] else "C7")
        ax.annotate(s["setting"], (s["p95_latency_ms"], s["energy_per_unit_j"] * 1000), fontsize=8)
    front = sorted((s for s in pts if s["on_frontier"]), key=lambda s: s["p95_latency_ms"])
    ax.plot([s["p95_latency_ms"] for s in front], [s["energy_per_unit_j"] * 1000 for s in front], color="C0")
    if result["targets_ms"].get("latency"):
        ax.axvline(result["targets_ms"]["latency"], color="C3", linestyle="--", label="target")
        ax.legend()
    served = any(s["concurrency"] is not None for s in pts)
    ax.set_xlabel(f"p95 {'time to first token' if served else 'latency'} (ms)")
    ax.set_ylabel(f"energy (mJ / {about['unit']})")
    ax.set_title(f"{about['variant']}: deployment settings", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
