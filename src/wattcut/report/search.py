"""The search history in reports: proxy figures beside the full study's (``wattcut search``)."""

from __future__ import annotations

from typing import Any


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
        out["median_abs_accuracy_error_points"] = float(
            np.median(
                [
                    100 * abs(r["full"]["accuracy_delta"] - r["proxy_accuracy_delta"])
                    for r in rows
                    if r["full"]["accuracy_delta"] is not None
                ]
            )
        )
    return out


def history_lines(history: dict[str, Any]) -> list[str]:
    """Markdown lines: the re-measured front, proxy beside full study, and the agreement."""
    rows = [r for r in history["trials"] if r.get("selected")]
    a = agreement(history)
    lines = [
        f"Search: {len(history['trials'])} proxy trials in {history['spent_s'] / 60:.1f} of "
        f"{history['budget_s'] / 60:g} minutes ({history['sampler']}); proxy = {history['proxy_items']} "
        f"evaluation items and a {history['probe_requests']}-request CPU-time probe. The front within the margin was "
        "re-measured in the full study.",
        "",
        "| variant | pipeline | threads | proxy Δ accuracy | full Δ accuracy | proxy CPU-time ratio "
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
        delta = f.get("accuracy_delta")
        lines.append(
            f"| {r['variant']} | {' → '.join(s['name'] for s in r['pipeline'])} | {r['threads']} | "
            f"{100 * r['proxy_accuracy_delta']:+.2f} pts | {'n/a' if delta is None else f'{100 * delta:+.2f} pts'} | "
            f"{r['proxy_cpu_ratio']:.3f} | {energy} | {f.get('non_inferior', 'n/a')} |"
        )
    if a.get("n"):
        lines += [
            "",
            f"Proxy vs full study over {a['n']} variant(s): median |full energy ratio ÷ proxy CPU ratio − 1| "
            f"= {100 * a['median_abs_rel_error_energy']:.0f}%, median accuracy error "
            f"{a['median_abs_accuracy_error_points']:.2f} points"
            + (
                f", Pearson r of the log ratios {a['log_energy_pearson_r']:.2f}."
                if "log_energy_pearson_r" in a
                else "."
            ),
        ]
    return lines
