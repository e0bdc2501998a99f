"""[explain]: SHAP attributions per variant, and how far a variant's moved from the baseline's."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("shap")

from tests.records import trial  # noqa: E402
from wattcut.errors import UserInputError  # noqa: E402
from wattcut.report.explain import explain_rows  # noqa: E402
from wattcut.stats.explain import explain_agreement, item_agreement  # noqa: E402

TEXTS = [
    "a gripping, beautifully acted film with a clever script",
    "the plot is thin and the jokes fall flat every time",
    "not bad at all, really quite charming in places",
    "an utter waste of two hours and a good cast",
]


def _explain_texts(model, tokenizer):
    from wattcut.tasks.explain import explain_texts
    from wattcut.tasks.sequence_classification import encode

    def predict(xs):
        return model.logits(encode(tokenizer, xs, 32))

    return {"items": [0, 1, 2, 3], **explain_texts(predict, tokenizer, TEXTS, [1, 0, 1, 0], 200)}


def _agreement(base, other, top_k=5):
    trials = [
        trial({"variant": v, "task": "t", "tasks": {"t": {"task": "sequence_classification", "explain": e}}})
        for v, e in (("baseline", base), ("variant", other))
    ]
    return explain_agreement(trials, "t", top_k)["variant"]


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from wattcut.runtimes.pytorch import TorchClassifier

    model = TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval())
    return model, AutoTokenizer.from_pretrained(tiny_bert)


def test_a_variant_with_the_baselines_predictions_agrees_fully(tiny):
    """Issue 26, acceptance 5: identical predictions give agreement 1.0 (the explainer is deterministic)."""
    model, tokenizer = tiny
    base, same = _explain_texts(model, tokenizer), _explain_texts(model.clone(), tokenizer)
    assert base["features"] == "tokens" and "".join(base["labels"][0]).startswith("a gripping,")  # the text's tokens
    a = _agreement(base, same)
    assert a["n_items"] == 4 and a["skipped_items"] == 0
    assert a["rank_correlation"]["mean"] == 1.0 and a["top_k_overlap"]["mean"] == 1.0
    assert explain_rows({"explain": {"copy": a}})[0]["sentence"] == "kept 100% of the baseline's top-5 tokens"


def test_a_variant_with_a_permuted_input_embedding_agrees_little(tiny):
    """Issue 26, acceptance 5: the same architecture reading other vectors for each token explains differently."""
    model, tokenizer = tiny
    permuted = model.clone()
    emb = permuted.module.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        emb.copy_(emb[torch.randperm(emb.shape[0], generator=torch.Generator().manual_seed(0))])
    a = _agreement(_explain_texts(model, tokenizer), _explain_texts(permuted, tokenizer))
    same = _agreement(_explain_texts(model, tokenizer), _explain_texts(model.clone(), tokenizer))
    assert a["n_items"] == 4
    assert a["rank_correlation"]["mean"] < 0.5 < same["rank_correlation"]["mean"]
    assert a["top_k_overlap"]["mean"] < same["top_k_overlap"]["mean"]


def test_image_cell_attributions_add_up_to_the_prediction_change():
    """SHAP's efficiency property: a cell grid's values sum to f(image) - f(reference), per item."""
    from wattcut.tasks.explain import explain_images

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    weights = rng.normal(size=(32 * 32 * 3, 3))

    def predict(x):
        return (x.reshape(len(x), -1) / 255) @ weights

    out = explain_images(predict, images, [0, 2], grid=4, max_evals=60)
    assert out["features"] == "image cells (4x4)" and len(out["values"][0]) == 16
    reference = np.full_like(images, images.mean())
    change = predict(images) - predict(reference)
    assert sum(out["values"][0]) == pytest.approx(change[0, 0], rel=1e-4)
    assert sum(out["values"][1]) == pytest.approx(change[1, 2], rel=1e-4)
    assert explain_images(predict, images, [0, 2], grid=4, max_evals=60)["values"] == out["values"]  # seeded


def test_agreement_by_hand_and_features_that_do_not_match():
    assert item_agreement([3, 2, 1, 0], [3, 2, 1, 0], 2) == (1.0, 1.0)
    rho, overlap = item_agreement([4, 3, 2, 1], [1, 2, 3, 4], 2)
    assert rho == pytest.approx(-1.0) and overlap == 0.0
    base = {"items": [0], "features": "tokens", "labels": [["[CLS]", "good"]], "values": [[0.0, 1.0]]}
    other = {"items": [0], "features": "tokens", "labels": [["<s>", "good"]], "values": [[0.0, 1.0]]}  # other tokens
    a = _agreement(base, other)
    assert a["n_items"] == 0 and a["skipped_items"] == 1 and a["top_k_overlap"]["mean"] is None
    assert "not comparable" in explain_rows({"explain": {"compact": a}})[0]["sentence"]


def test_a_sample_larger_than_the_evaluation_items_is_refused():
    from wattcut.settings import ExplainConfig
    from wattcut.tasks.explain import explain_items

    items = explain_items(100, 10, seed=0)
    assert items == sorted(set(items)) and len(items) == 10 and items == explain_items(100, 10, seed=0)
    with pytest.raises(UserInputError, match="samples = 200 is more than the 100 evaluation items"):
        explain_items(100, 200, seed=0)
    with pytest.raises(UserInputError, match="max_evals = 4 is too few"):
        ExplainConfig(samples=8, max_evals=4)
