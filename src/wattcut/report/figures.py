"""The report's figures, drawn from ``results.json`` alone.

Each figure function takes the results document and returns a matplotlib Figure (or
None when the store has nothing to draw). :func:`render_all` turns them into inline SVG
for the self-contained HTML page and, optionally, PNG files for ``report.md`` and docs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattcut.metric import infer_phase
from wattcut.report.figures_llm import llm_co2e_per_1k_responses, llm_prefill_decode, llm_quality_vs_token_energy
from wattcut.report.plotting import pyplot, statistics_of
from wattcut.store.records import Results

COMPONENTS = ("cpu", "gpu", "ram")
PHASES = ("train", "compress", "load", "evaluate", "infer")
COLORS = {"cpu": "#4c72b0", "gpu": "#dd8452", "ram": "#55a868"}


def quality_vs_energy(results: Results) -> Any:
    """The primary quality metric vs inference energy per request, with 95% CIs and the Pareto front."""
    from wattcut.metric import MetricSpec

    spec = MetricSpec.from_dict(statistics_of(results).get("metric_spec"))
    per = statistics_of(results).get("per_variant", {})
    pts = {
        n: (s["energy_per_request_j"], s[spec.key])
        for n, s in per.items()
        if s["energy_per_request_j"]["mean"] is not None
    }
    if not pts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    front = set(statistics_of(results).get("pareto_front", []))
    rec = (statistics_of(results).get("recommendation") or {}).get("variant")
    for name, (e, a) in pts.items():
        xerr = None if e["sd"] is None else [[e["mean"] - e["ci95_low"]], [e["ci95_high"] - e["mean"]]]
        yerr = None if a["sd"] is None else [[a["mean"] - a["ci95_low"]], [a["ci95_high"] - a["mean"]]]
        ax.errorbar(
            e["mean"],
            a["mean"],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            capsize=3,
            color="#c44e52" if name in front else "#8c8c8c",
            mec="black" if name == rec else None,
        )
        ax.annotate(
            name + (" ★" if name == rec else ""), (e["mean"], a["mean"]), textcoords="offset points", xytext=(6, 4)
        )
    line = sorted((pts[n][0]["mean"], pts[n][1]["mean"]) for n in front if n in pts)
    if len(line) > 1:
        ax.plot(*zip(*line, strict=True), "--", color="#c44e52", lw=1, label="Pareto front")
        ax.legend(loc="lower right")
    ax.set_xlabel("inference energy per request (J)")
    arrow = "↑" if spec.higher_is_better else "↓"
    ax.set_ylabel(f"{spec.label}{' (' + spec.unit + ')' if spec.unit else ''} — {spec.direction} {arrow}")
    ax.set_title("Quality vs energy (mean, 95% CI; red = Pareto front, ★ = recommended)")
    return fig


def energy_by_phase(results: Results) -> Any:
    """Per-component energy per phase and variant (mean over trials); training separate."""
    trials = results.trials
    names = list(dict.fromkeys(t.variant for t in trials))
    if not names:
        return None
    plt = pyplot()
    phases = [p for p in PHASES if any(ph.phase == p and not ph.parent for t in trials for ph in t.phases)]
    fig, axes = plt.subplots(
        1, len(phases), figsize=(3.0 * len(phases) + 0.6, 3.6), squeeze=False, layout="constrained"
    )
    for ax, phase in zip(axes[0], phases, strict=True):
        bottoms = [0.0] * len(names)
        for comp in COMPONENTS:
            vals = []
            for n in names:
                xs = [
                    ph.energy[comp]["energy_j"]
                    for t in trials
                    if t.variant == n
                    for ph in t.phases
                    if ph.phase == phase
                    and not ph.parent
                    and comp in ph.energy
                    and ph.energy[comp]["energy_j"] is not None
                ]
                vals.append(sum(xs) / len(results.of(n)) if xs else 0.0)
            if any(vals):
                ax.bar(names, vals, bottom=bottoms, color=COLORS[comp], label=comp)
                bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
        ax.set_title(phase)
        ax.set_ylabel("J per trial (mean)")
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right")
    fig.suptitle("Energy per component and phase (training is the shared baseline fine-tune)")
    return fig


def co2e_per_grid(results: Results) -> Any:
    """CO2e per 1,000 requests for each variant on each deployment grid."""
    pb = statistics_of(results).get("payback") or {}
    variants, grids = pb.get("variants", {}), pb.get("grids", [])
    if not variants or not grids:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    width = 0.8 / len(variants)
    for i, (name, row) in enumerate(variants.items()):
        xs = [j + i * width for j in range(len(grids))]
        ax.bar(xs, [d["co2e_per_1k_requests_g"] for d in row["deployment"]], width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(grids))])
    ax.set_xticklabels([f"{g['location']}\n{g['g_per_kwh']:.0f} g/kWh ({g['year']})" for g in grids], fontsize=7)
    ax.set_ylabel("gCO2e per 1,000 requests")
    est = ", estimated energy" if pb.get("estimated") else ""
    ax.set_title(f"Deployment CO2e per grid (PUE {pb['pue']:g}{est})")
    ax.legend(fontsize=7)
    return fig


def runtime_vs_energy(results: Results) -> Any:
    """Inference energy against duration, one point per trial, with the least-squares line."""
    fit = statistics_of(results).get("energy_vs_runtime") or {}
    pts = [
        (t.variant, p.duration_s, p.energy_j)
        for t in results.trials
        if (p := infer_phase(t)) is not None and p.energy_j is not None
    ]
    if not pts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for name in dict.fromkeys(n for n, _, _ in pts):
        mine = [(x, y) for n, x, y in pts if n == name]
        ax.scatter(*zip(*mine, strict=True), label=name, s=18)
    if fit.get("slope") is not None:
        lo, hi = min(x for _, x, _ in pts), max(x for _, x, _ in pts)
        ax.plot(
            [lo, hi],
            [fit["slope"] * lo + fit["intercept"], fit["slope"] * hi + fit["intercept"]],
            "k--",
            lw=1,
            label=f"fit: {fit['slope']:.2f} J/s, r = {fit['r']:.3f}",
        )
    ax.set_xlabel("inference phase duration (s)")
    ax.set_ylabel("inference phase energy (J)")
    ax.set_title("Runtime vs energy (inference phase, every trial)")
    ax.legend(fontsize=7)
    return fig


def confusion_matrices(results: Results) -> Any:
    """Confusion matrix of each variant, summed over trials (rows = gold)."""
    trials = [t for t in results.trials if t.metrics.get("confusion_matrix")]
    names = list(dict.fromkeys(t.variant for t in trials))
    if not names:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(2.4 * len(names) + 0.4, 2.8), squeeze=False, layout="constrained")
    labels = trials[0].metrics.get("labels") or []
    for ax, name in zip(axes[0], names, strict=True):
        mats = [t.metrics["confusion_matrix"] for t in trials if t.variant == name]
        total = [[sum(m[i][j] for m in mats) for j in range(len(mats[0]))] for i in range(len(mats[0]))]
        ax.imshow(total, cmap="Blues")
        for i, row in enumerate(total):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_title(name, fontsize=8)
        ax.set_xticks(range(len(total)), labels[: len(total)] or None, fontsize=7)
        ax.set_yticks(range(len(total)), labels[: len(total)] or None, fontsize=7)
        ax.set_xlabel("predicted", fontsize=7)
    axes[0][0].set_ylabel("gold")
    fig.suptitle("Confusion matrices (summed over trials)")
    return fig


def attributions(results: Results) -> Any:
    """A few explained items of the first trial: the baseline's attributions beside the recommended variant's.

    Image cells as heatmaps (red: towards the gold class, blue: against); tokens as bars.
    """
    st = statistics_of(results)
    if not st.get("explain"):
        return None
    other = (st.get("recommendation") or {}).get("variant")
    why = "recommended"
    if other not in st["explain"]:  # none recommended: the explained variant that spends least per request
        per = st.get("per_variant") or {}

        def energy(name: str) -> float:
            mean = ((per.get(name) or {}).get("energy_per_request_j") or {}).get("mean")
            return float("inf") if mean is None else float(mean)

        other, why = min(st["explain"], key=energy), "least energy per request"
    first = {t.variant: t for t in results.trials if t.trial_index == min(x.trial_index for x in results.trials)}
    entries = [first[n].tasks[first[n].task or ""].explain if n in first else None for n in ("baseline", other)]
    if any(e is None for e in entries):
        return None
    base, var = entries
    n = min(3, len(base["items"]))  # type: ignore[index]
    plt = pyplot()
    images = str(base["features"]).startswith("image")  # type: ignore[index]
    fig, axes = plt.subplots(n, 2, figsize=(6.4, 2.2 * n) if images else (7.2, 1.8 * n), squeeze=False)
    for row in range(n):
        for col, (name, e) in enumerate((("baseline", base), (other, var))):
            ax, values = axes[row][col], e["values"][row]  # type: ignore[index]
            if images:
                side = int(round(len(values) ** 0.5))
                lim = max(abs(v) for v in values) or 1.0
                ax.imshow([values[r * side : (r + 1) * side] for r in range(side)], cmap="bwr", vmin=-lim, vmax=lim)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                labels = e["labels"][row]  # type: ignore[index]
                ax.bar(range(len(values)), values, color=["#c44e52" if v > 0 else "#4c72b0" for v in values])
                ax.set_xticks(range(len(values)), labels, rotation=90, fontsize=6)
            ax.set_title(f"{name}, item {e['items'][row]}", fontsize=8)  # type: ignore[index]
    fig.suptitle(f"SHAP attributions of the gold class: baseline vs {other} ({why})")
    fig.tight_layout()
    return fig


def payback_chart(results: Results) -> Any:
    """Cumulative energy (one-off + inference) against requests served, baseline vs variants."""
    pb = statistics_of(results).get("payback") or {}
    rows = pb.get("variants", {})
    base = rows.get("baseline")
    if not base or len(rows) < 2:
        return None
    horizon = max([r.get("break_even_requests") or 0 for r in rows.values()] + [1e4]) * 2
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    xs = [horizon * k / 50 for k in range(51)]
    ax.plot(xs, [x * base["energy_per_request_j"] / 3600 for x in xs], "k-", lw=1.5, label="baseline")
    for name, r in rows.items():
        if name == "baseline" or r.get("one_off_energy_j") is None:
            continue
        ax.plot(xs, [(r["one_off_energy_j"] + x * r["energy_per_request_j"]) / 3600 for x in xs], label=name)
        if r.get("break_even_requests"):
            ax.axvline(r["break_even_requests"], ls=":", lw=0.8, color="grey")
    ax.set_xlabel("requests served")
    ax.set_ylabel("cumulative energy (Wh)")
    est = " — estimated energy" if pb.get("estimated") else ""
    ax.set_title(f"Payback: compression energy vs inference savings (dotted = break-even){est}")
    ax.legend(fontsize=7)
    return fig


def _scatter_fit(points: list[dict[str, Any]], x: str, y: str, xlabel: str, ylabel: str, title: str) -> Any:
    from wattcut.report.energy_aware import fit

    f = fit(points, x, y)
    if f is None:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    xs, ys = [p[x] for p in points], [p[y] for p in points]
    ax.scatter(xs, ys, color="#4c72b0")
    for p in points:
        ax.annotate(p["variant"], (p[x], p[y]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    lo, hi = min(xs), max(xs)
    ax.plot([lo, hi], [f["slope"] * lo + f["intercept"], f["slope"] * hi + f["intercept"]], "--", color="#c44e52")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title} (r = {f['r']:.3f}, n = {f['n']})")
    return fig


def predicted_vs_measured(results: Results) -> Any:
    """The cost model's predicted energy ratio against the measured (paired) one, per variant."""
    from wattcut.report.energy_aware import prediction_points

    return _scatter_fit(
        prediction_points(results),
        "predicted",
        "measured",
        "predicted energy per request (x baseline)",
        "measured (x baseline, paired rounds)",
        "Cost model: predicted vs measured",
    )


def flops_vs_throughput(results: Results) -> Any:
    """Kept FLOPs against throughput (seed 004's sparsity-throughput regression)."""
    from wattcut.report.energy_aware import flops_points

    return _scatter_fit(
        flops_points(results),
        "kept_flops",
        "throughput",
        "kept FLOPs (fraction of the baseline's)",
        "throughput (x baseline)",
        "Kept FLOPs vs throughput",
    )


FIGURES: dict[str, tuple[str, Callable[[Results], Any]]] = {
    "predicted_vs_measured": ("Cost model: predicted vs measured energy per request", predicted_vs_measured),
    "flops_vs_throughput": ("Kept FLOPs vs throughput, with the fitted line", flops_vs_throughput),
    "quality_vs_energy": ("Quality vs energy per inference, with the Pareto front", quality_vs_energy),
    "energy_by_phase": ("Energy per component and phase", energy_by_phase),
    "co2e_per_grid": ("CO2e per variant and grid", co2e_per_grid),
    "runtime_vs_energy": ("Runtime vs energy, with the fitted line", runtime_vs_energy),
    "confusion_matrices": ("Confusion matrices", confusion_matrices),
    "payback": ("Carbon payback", payback_chart),
    "attributions": ("SHAP attributions, baseline vs recommended variant", attributions),
    "llm_quality_vs_token_energy": ("Language model: quality vs J per output token", llm_quality_vs_token_energy),
    "llm_prefill_decode": ("Language model: prefill and decode energy, TTFT and time per token", llm_prefill_decode),
    "llm_co2e": ("Language model: CO2e per 1,000 responses per grid", llm_co2e_per_1k_responses),
}


def render_all(results: Results, png_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """``{key: {"title", "svg", "png"}}`` for every figure there is data for."""
    plt = pyplot()
    out: dict[str, dict[str, str]] = {}
    for key, (title, draw) in FIGURES.items():
        fig = draw(results)
        if fig is None:
            continue
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})  # no timestamp: same store, same page
        svg = buf.getvalue()
        svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML
        svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)  # RDF block with external namespace URLs
        png = ""
        if png_dir is not None:
            png_dir.mkdir(parents=True, exist_ok=True)
            fig.savefig(png_dir / f"{key}.png", dpi=130, metadata={"Software": None})
            png = f"{png_dir.name}/{key}.png"
        plt.close(fig)
        out[key] = {"title": title, "svg": svg, "png": png}
    return out
