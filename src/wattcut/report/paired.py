"""The primary paired tests as display rows: defined once, rendered by the HTML and Markdown reports."""

from __future__ import annotations

from typing import Any

from wattcut.metric import MetricSpec


def paired_rows(statistics: dict[str, Any]) -> list[dict[str, str]]:
    """The primary (item-level and per-round paired) tests, one row per variant, as display strings.

    Defined once here and rendered by both the HTML and the Markdown report.
    """
    from wattcut.stats.paired import pairs_label

    spec = MetricSpec.from_dict(statistics.get("metric_spec"))
    rows = []
    for name, p in (statistics.get("paired") or {}).items():
        qt = p.get("quality")
        if qt is None:
            quality, verdict = "no per-item results stored", "—"
        elif qt.get("scale") == "relative":
            quality = (
                f"ratio {qt['ratio']:.4f} (upper bound {qt['ratio_upper']:.4f}, "
                f"margin +{100 * qt['relative_margin']:.2g}%)"
                f"; p = {qt['p_value']:.3g}; {qt['n_items']} items × {qt['n_trials']} trial(s)"
            )
            verdict = "non-inferior" if qt["non_inferior"] else "not shown"
        else:
            sign, scale = (1 if spec.higher_is_better else -1), (100 if spec.bounded else 1)
            unit = " pts" if spec.bounded else ""
            quality = (
                f"{scale * sign * qt['mean_diff']:+.2f}{unit} (bound {scale * sign * qt['lower_bound']:+.2f}{unit}, "
                f"margin {scale * qt['margin']:.2g}{unit}); p = {qt['p_value']:.3g}; {qt['n_items']} items × "
                f"{qt['n_trials']} trial(s)"
            )
            verdict = "non-inferior" if qt["non_inferior"] else "not shown"

        def ratio(r: dict[str, Any] | None) -> str:
            if not r:
                return "no per-round data"
            if r.get("ci95_low") is None:
                return f"{r['ratio']:.3f}x ({r['n_pairs']} pair)"
            holm = r.get("p_holm")
            return (
                f"{r['ratio']:.3f}x [{r['ci95_low']:.3f}–{r['ci95_high']:.3f}], Holm p = "
                f"{'n/a' if holm is None else f'{holm:.2g}'}, {pairs_label(r, unit='round')}"
            )

        rows.append(
            {
                "variant": name,
                "quality": quality,
                "verdict": verdict,
                "energy": ratio(p.get("energy_per_request_j")),
                "latency": ratio(p.get("latency_mean_ms")),
            }
        )
    return rows


PAIRED_COLUMNS = (
    ("variant", "variant"),
    ("quality", "quality vs baseline (item-level, one-sided 95%)"),
    ("verdict", "non-inferiority"),
    ("energy", "energy per request, ratio [95% CI] (per-round paired)"),
    ("latency", "mean latency, ratio [95% CI] (per-round paired)"),
)
