"""The attribution-agreement table (``[explain]``): defined once here, rendered by the HTML and Markdown pages."""

from __future__ import annotations

from typing import Any

EXPLAIN_COLUMNS = (
    ("variant", "variant"),
    ("items", "items"),
    ("rank_correlation", "rank correlation with the baseline [95% CI]"),
    ("top_k_overlap", "baseline's top-k features kept [95% CI]"),
    ("sentence", "in words"),
)
EXPLAIN_METHOD = (
    "SHAP attributions (tokens: Partition explainer; image cells: seeded Permutation explainer) of the gold "
    "class's logit on the same seeded evaluation items for every variant, computed in their own metered explain "
    "window (not counted as inference). Rank correlation: "
    "Spearman's rho of a variant's attributions with the baseline's, per item. Top-k kept: the share of the "
    "baseline's k most influential features (by absolute attribution) among the variant's k. Means over items "
    "(all trials), 95% t intervals over items."
)


def _interval(m: dict[str, Any], percent: bool) -> str:
    if m.get("mean") is None:
        return "n/a"

    def f(x: float) -> str:
        return f"{100 * x:.0f}%" if percent else f"{x:.2f}"

    ci = "" if m.get("ci95_low") is None else f" [{f(m['ci95_low'])}–{f(m['ci95_high'])}]"
    return f(m["mean"]) + ci


def explain_rows(statistics: dict[str, Any] | None) -> list[dict[str, str]]:
    """One row of text cells per variant with attributions (none when ``[explain]`` was off)."""
    rows = []
    for name, a in ((statistics or {}).get("explain") or {}).items():
        feature = str(a.get("features") or "features").split(" (")[0]
        kept = a["top_k_overlap"].get("mean")
        sentence = (
            f"not comparable: {a['skipped_items']} item(s) have other {feature} than the baseline's"
            if kept is None
            else f"kept {100 * kept:.0f}% of the baseline's top-{a['k']} {feature}"
        )
        rows.append(
            {
                "variant": name,
                "items": str(a["n_items"]),
                "rank_correlation": _interval(a["rank_correlation"], False),
                "top_k_overlap": _interval(a["top_k_overlap"], True),
                "sentence": sentence,
            }
        )
    return rows
