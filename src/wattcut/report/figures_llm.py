"""Figures of language-model studies: quality vs energy per token, prefill vs decode, CO2e per 1,000 responses."""

from __future__ import annotations

from typing import Any

from wattcut.report.plotting import pyplot, statistics_of
from wattcut.store.records import Results
from wattcut.units import J_PER_KWH


def _chat_workloads(results: Results) -> tuple[str | None, dict[str, list[dict[str, Any]]]]:
    """The first chat-replay task's workload summaries per variant (``(None, {})`` when there is none)."""
    key = next(
        (k for t in results.trials for k, e in t.tasks.items() if e.task == "chat_replay"),
        None,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    if key is None:
        return None, out
    for t in results.trials:
        entry = t.tasks.get(key)
        if entry is not None and entry.workload:
            out.setdefault(t.variant, []).append(entry.workload)
    return key, out


def _mean(xs: list[Any]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None


def llm_quality_vs_token_energy(results: Results) -> Any:
    """Language models: the primary metric vs J per output token in chat replay, with the Pareto front."""
    from wattcut.metric import MetricSpec

    key, work = _chat_workloads(results)
    spec = MetricSpec.from_dict(statistics_of(results).get("metric_spec"))
    per = statistics_of(results).get("per_variant", {})
    pts = {}
    for name, ws in work.items():
        j = _mean([w.get("energy_per_output_token_j") for w in ws])
        if j is not None and name in per and per[name][spec.key]["mean"] is not None:
            pts[name] = (j, per[name][spec.key]["mean"])
    if len(pts) < 2:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")

    def better(a: float, b: float) -> bool:
        return a >= b if spec.higher_is_better else a <= b

    front = [
        n
        for n, (e, q) in pts.items()
        if not any((e2 <= e and better(q2, q)) and (e2, q2) != (e, q) for m, (e2, q2) in pts.items() if m != n)
    ]
    for name, (e, q) in pts.items():
        ax.plot(e, q, "o", color="#c44e52" if name in front else "#8c8c8c")
        ax.annotate(name, (e, q), textcoords="offset points", xytext=(6, 4), fontsize=8)
    line = sorted(pts[n] for n in front)
    if len(line) > 1:
        ax.plot(*zip(*line, strict=True), "--", color="#c44e52", lw=1, label="Pareto front")
        ax.legend(loc="best")
    ax.set_xscale("log")
    ax.set_xlabel(f"J per output token ({key}, log scale)")
    arrow = "↑" if spec.higher_is_better else "↓"
    ax.set_ylabel(f"{spec.label} — {spec.direction} {arrow}")
    ax.set_title("Quality vs energy per generated token (mean over trials)")
    return fig


def llm_prefill_decode(results: Results) -> Any:
    """Language models: energy per response split into prefill and decode, and TTFT / time per output token."""
    key, work = _chat_workloads(results)
    if not work:
        return None
    names = list(work)
    n_req = {n: _mean([w["requests"] for w in ws]) or 1.0 for n, ws in work.items()}
    prefill = [(_mean([w.get("prefill_energy_j") for w in work[n]]) or 0.0) / n_req[n] for n in names]
    decode = [(_mean([w.get("decode_energy_j") for w in work[n]]) or 0.0) / n_req[n] for n in names]
    if not any(prefill) and not any(decode):
        return None
    ttft = [1000 * (_mean([w.get("ttft_p50_s") for w in work[n]]) or 0.0) for n in names]
    tpot = [1000 * (_mean([w.get("tpot_mean_s") for w in work[n]]) or 0.0) for n in names]
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 3.8), layout="constrained")
    a1.bar(names, prefill, color="#4c72b0", label="prefill")
    a1.bar(names, decode, bottom=prefill, color="#dd8452", label="decode")
    a1.set_ylabel("J per response (mean)")
    a1.set_title("Energy per response: prefill + decode")
    a1.legend(fontsize=8)
    x = range(len(names))
    a2.bar([i - 0.2 for i in x], ttft, 0.4, label="TTFT p50 (ms)", color="#55a868")
    a2.bar([i + 0.2 for i in x], tpot, 0.4, label="time per output token (ms)", color="#8172b3")
    a2.set_xticks(list(x))
    a2.set_xticklabels(names)
    a2.set_ylabel("ms")
    a2.set_title("Latency, from the streamed tokens")
    a2.legend(fontsize=8)
    for ax in (a1, a2):
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.suptitle(f"Chat replay ({key})")
    return fig


def llm_co2e_per_1k_responses(results: Results) -> Any:
    """Language models: CO2e per 1,000 chat responses for each variant on each deployment grid."""
    key, work = _chat_workloads(results)
    pb = statistics_of(results).get("payback") or {}
    grids = pb.get("grids", [])
    if not work or not grids:
        return None
    means = {n: _mean([w.get("energy_per_response_j") for w in ws]) for n, ws in work.items()}
    per_response = {n: j for n, j in means.items() if j is not None}
    if not per_response:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    width = 0.8 / len(per_response)
    pue = float(pb.get("pue") or 1.0)
    for i, (name, j) in enumerate(per_response.items()):
        xs = [g + i * width for g in range(len(grids))]
        ax.bar(xs, [j * 1000 / J_PER_KWH * pue * grid["g_per_kwh"] for grid in grids], width, label=name)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(grids))])
    ax.set_xticklabels([f"{g['location']}\n{g['g_per_kwh']:.0f} g/kWh ({g['year']})" for g in grids], fontsize=7)
    ax.set_ylabel("gCO2e per 1,000 responses")
    ax.set_title(f"Chat replay ({key}): CO2e per 1,000 responses per grid (PUE {pue:g})")
    ax.legend(fontsize=7)
    return fig
