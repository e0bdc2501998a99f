import numpy as np
import pytest

from wattcut.tasks.classification import score


def test_binary_metrics_match_hand_computation():
    # gold 1,1,0,0 ; predicted 1,0,0,0 (logit of class 1 minus class 0 = 2, -1, -2, -3)
    logits = np.array([[0, 2], [0, -1], [0, -2], [0, -3]], dtype=np.float32)
    m = score(logits, [1, 1, 0, 0], ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    # pos: P=1, R=.5, F1=2/3 ; neg: P=2/3, R=1, F1=.8
    assert m["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["recall_macro"] == pytest.approx(0.75)
    assert m["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)
    # ranking is perfect (both positives score above both negatives)
    assert m["roc_auc"] == pytest.approx(1.0)


def test_multiclass_auc_and_absent_class():
    logits = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    m = score(logits, [0, 1, 2, 2], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.75) and m["roc_auc"] is not None
    m2 = score(logits, [0, 1, 1, 1], ["a", "b", "c"])
    assert m2["roc_auc"] is None  # class "c" never occurs: AUC undefined, not invented
