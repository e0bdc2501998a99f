"""Did compression change the reasons? Agreement of each variant's SHAP attributions with the baseline's.

For every explained item (the same seeded items and the gold class's logit in every variant,
``wattcut.tasks.explain``), a variant's attributions are compared with the baseline's of the same
trial, feature by feature:

- rank correlation: Spearman's rho of the two attribution vectors (1 = the same ordering);
- top-k overlap: the share of the baseline's k most influential features (by absolute
  attribution) that are also among the variant's k most influential ("kept 94% of the
  baseline's top-5 tokens").

Each is a mean over items (pooled across trials) with a 95% t interval over items. Items
whose features differ (a compact model with another tokenizer) are not comparable and are
counted as skipped, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from wattcut.store.records import Trial


def _mean_ci(xs: list[float], low_bound: float) -> dict[str, float | None]:
    from scipy import stats

    if not xs:
        return {"mean": None, "ci95_low": None, "ci95_high": None}
    mean = float(np.mean(xs))
    if len(xs) < 2 or float(np.std(xs)) == 0.0:
        return {"mean": mean, "ci95_low": mean if len(xs) > 1 else None, "ci95_high": mean if len(xs) > 1 else None}
    low, high = stats.t.interval(0.95, len(xs) - 1, loc=mean, scale=stats.sem(xs))
    return {"mean": mean, "ci95_low": float(max(low, low_bound)), "ci95_high": float(min(high, 1.0))}


def item_agreement(base: Sequence[float], other: Sequence[float], k: int) -> tuple[float | None, float]:
    """(Spearman's rho, top-k overlap) of two attribution vectors over the same features (rho None: undefined)."""
    from scipy import stats

    b, o = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    k = min(k, len(b))
    top_b = set(np.argsort(-np.abs(b), kind="stable")[:k].tolist())
    top_o = set(np.argsort(-np.abs(o), kind="stable")[:k].tolist())
    overlap = len(top_b & top_o) / k if k else 1.0
    if np.array_equal(b, o):
        return 1.0, overlap
    rho = stats.spearmanr(b, o).statistic
    return (None if rho is None or math.isnan(rho) else float(rho)), overlap


def explain_agreement(trials: Sequence[Trial], task: str, top_k: int) -> dict[str, Any] | None:
    """Per variant, its attributions' agreement with the baseline's on ``task`` (None: nothing was explained)."""
    explained: dict[tuple[str, int], dict[str, Any]] = {}
    for t in trials:
        entry = t.tasks.get(task)
        if entry is not None and entry.explain is not None:
            explained[(t.variant, t.trial_index)] = entry.explain
    if not explained:
        return None
    out: dict[str, Any] = {}
    for (name, index), mine in explained.items():
        if name == "baseline":
            continue
        row = out.setdefault(name, {"rho": [], "overlap": [], "skipped": 0, "features": mine.get("features")})
        base = explained.get(("baseline", index))
        if base is None:
            continue
        pairs = zip(base["items"], base["labels"], base["values"], strict=True)
        theirs = {i: (labels, values) for i, labels, values in pairs}
        for i, labels, values in zip(mine["items"], mine["labels"], mine["values"], strict=True):
            if i not in theirs or theirs[i][0] != labels:
                row["skipped"] += 1  # not the same features (another tokenizer): not comparable
                continue
            rho, overlap = item_agreement(theirs[i][1], values, top_k)
            row["overlap"].append(overlap)
            if rho is not None:
                row["rho"].append(rho)
    return {
        name: {
            "features": row["features"],
            "k": top_k,
            "n_items": len(row["overlap"]),
            "skipped_items": row["skipped"],
            "rank_correlation": _mean_ci(row["rho"], -1.0),  # rho and a share: clipped to their ranges
            "top_k_overlap": _mean_ci(row["overlap"], 0.0),
        }
        for name, row in out.items()
    }
