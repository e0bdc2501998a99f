"""Sequence classification metrics, computed with scikit-learn."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from wattcut.metric import ACCURACY

TASK_VERSION = 1
# Accuracy decides; the variant table shows F1 macro and ROC AUC beside it (both computed by :func:`score`).
CLASSIFICATION = replace(ACCURACY, secondary=(("f1_macro", "F1 macro"), ("roc_auc", "ROC AUC")))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def score(logits: np.ndarray, labels: list[int] | np.ndarray, label_names: list[str]) -> dict[str, Any]:
    """Quality metrics for class ``logits`` (``[n, k]``) against gold ``labels``.

    Returns:
        A dict with ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``,
        the ``*_weighted`` versions, ``roc_auc`` (binary: positive class = index 1;
        multiclass: one-vs-rest macro; None when a class is absent from ``labels``),
        ``confusion_matrix`` (rows = gold, columns = predicted), ``labels`` and ``n``.
    """
    from sklearn import metrics

    y = np.asarray(labels)
    pred = logits.argmax(axis=1)
    probs = softmax(logits.astype(np.float64))
    k = len(label_names)
    out: dict[str, Any] = {"n": int(len(y)), "accuracy": float(metrics.accuracy_score(y, pred))}
    for avg in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y, pred, average=avg, labels=list(range(k)), zero_division=0
        )
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = float(p), float(r), float(f)
    out["roc_auc"] = None
    if len(set(y.tolist())) == k:  # AUC is undefined when a class never occurs
        if k == 2:
            out["roc_auc"] = float(metrics.roc_auc_score(y, probs[:, 1]))
        else:
            out["roc_auc"] = float(metrics.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    out["confusion_matrix"] = metrics.confusion_matrix(y, pred, labels=list(range(k))).tolist()
    out["labels"] = list(label_names)
    return out


def items(scores: np.ndarray, labels: list[int] | np.ndarray, field: str = "probs") -> dict[str, Any]:
    """Per-item results, column-wise: gold label, predicted label and the class probabilities (6 decimals).

    ``field = "loglik"`` stores ``scores`` as they are (prompted classification's label
    log-likelihoods) instead of a softmax.
    """
    values = softmax(scores.astype(np.float64)) if field == "probs" else scores.astype(np.float64)
    return {
        "gold": [int(y) for y in labels],
        "pred": [int(p) for p in scores.argmax(axis=1)],
        field: [[round(float(x), 6) for x in row] for row in values],
    }
