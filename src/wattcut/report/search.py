"""The search history in reports: proxy figures beside the full study's (``wattcut search``).

Quality is the study's primary metric (the history's ``metric_spec``); histories written
before searches served any task (accuracy only) still read.
"""

from __future__ import annotations

from typing import Any

from wattcut.metric import MetricSpec


def _spec(history: dict[str, Any]) -> MetricSpec:
    return MetricSpec.from_dict(history.get("metric_spec"))  # none stored: accuracy (version 1 searches)


def _proxy_delta(row: dict[str, Any]) -> float:
    return float(row["proxy_quality_delta"] if "proxy_quality_delta" in row else row["proxy_accuracy_delta"])


def _full_delta(row: dict[str, Any]) -> float | None:
    full = row.get("full") or {}
    value = full.get("quality_delta", full.get("accuracy_delta"))
    return None if value is None else float(value)


def _delta_text(spec: MetricSpec, delta: float | None) -> str:
    """A difference in the metric: points for a bounded metric (accuracy), its own units otherwise."""
    if delta is None:
        return "n/a"
    return f"{100 * delta:+.2f} pts" if spec.bounded else f"{delta:+{spec.format}}"


def agreement(history: dict[str, Any]) -> dict[str, Any]:
    """How well the proxy predicted the full study: paired figures and their correlation."""
    import numpy as np

    rows = [r for r in history["trials"] if r.get("full") and r["full"]["energy_ratio"] is not None]
    out: dict[str, Any] = {"n": len(rows)}
    if len(rows) >= 3:
        x = np.log([r["proxy_cpu_ratio"] for r in rows])
        y = np.log([r["full"]["energy_ratio"] for r in rows])
        out["log_energy_pearson_r"] = float(np.corrcoef(x, y)[0, 1])
    if rows:
        errs = [abs(r["full"]["energy_ratio"] / r["proxy_cpu_ratio"] - 1) for r in rows]
        out["median_abs_rel_error_energy"] = float(np.median(errs))
        quality = [abs(d - _proxy_delta(r)) for r in rows if (d := _full_delta(r)) is not None]
        out["median_abs_quality_error"] = float(np.median(quality)) if quality else None
    return out


def history_lines(history: dict[str, Any]) -> list[str]:
    """Markdown lines: the re-measured front, proxy beside full study, and the agreement."""
    spec = _spec(history)
    rows = [r for r in history["trials"] if r.get("selected")]
    a = agreement(history)
    items = history.get("proxy_items")
    lines = [
        f"Search: {len(history['trials'])} proxy trials in {history['spent_s'] / 60:.1f} of "
        f"{history['budget_s'] / 60:g} minutes ({history['sampler']}); proxy = "
        f"{'all' if items is None else items} evaluation items and a {history['probe_requests']}-request CPU-time "
        "probe. The front within the margin was re-measured in the full study.",
        "",
        f"| variant | pipeline | threads | proxy Δ {spec.label} | full Δ {spec.label} | proxy CPU-time ratio "
        "| full energy ratio [95% CI] | non-inferior (full) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        f = r.get("full") or {}
        ci = f.get("energy_ratio_ci95") or [None, None]
        energy = (
            "n/a"
            if f.get("energy_ratio") is None
            else (f"{f['energy_ratio']:.3f}" + (f" [{ci[0]:.3f}–{ci[1]:.3f}]" if ci[0] is not None else ""))
        )
        lines.append(
            f"| {r['variant']} | {' → '.join(s['name'] for s in r['pipeline']) or 'baseline copy'} | {r['threads']} | "
            f"{_delta_text(spec, _proxy_delta(r))} | {_delta_text(spec, _full_delta(r))} | "
            f"{r['proxy_cpu_ratio']:.3f} | {energy} | {f.get('non_inferior', 'n/a')} |"
        )
    if a.get("n"):
        err = a.get("median_abs_quality_error", a.get("median_abs_accuracy_error_points"))
        err_text = "n/a" if err is None else _delta_text(spec, err).lstrip("+")
        if "median_abs_accuracy_error_points" in a and "median_abs_quality_error" not in a:
            err_text = f"{err:.2f} pts"  # stored by a version 1 search, already in points
        lines += [
            "",
            f"Proxy vs full study over {a['n']} variant(s): median |full energy ratio ÷ proxy CPU ratio − 1| "
            f"= {100 * a['median_abs_rel_error_energy']:.0f}%, median {spec.label} error {err_text}"
            + (
                f", Pearson r of the log ratios {a['log_energy_pearson_r']:.2f}."
                if "log_energy_pearson_r" in a
                else "."
            ),
        ]
    return lines
