"""[infer] bucket: batches of texts grouped by length (the same texts, less padding), and where it is refused."""

import tomllib
from collections import Counter
from pathlib import Path

import pytest

from wattcut.errors import UserInputError
from wattcut.experiment import parse_experiment
from wattcut.settings import DataConfig, InferConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def dev_and_tokenizer(data_dir):
    from transformers import AutoTokenizer

    from tests.fakes.tiny_model import minilm_dir
    from wattcut.data import load_splits

    _, dev = load_splits(DataConfig(name="sst2", train_size=32))
    return dev, AutoTokenizer.from_pretrained(minilm_dir())


def _rows(requests):
    """Every text of every batch as its unpadded token ids, and the padded positions computed in all."""
    pairs = [(ids, mask) for r in requests for ids, mask in zip(r["input_ids"], r["attention_mask"], strict=True)]
    rows = [tuple(ids[mask == 1]) for ids, mask in pairs]
    return Counter(rows), sum(r["input_ids"].size for r in requests)


def test_bucketed_batches_serve_the_same_texts_with_less_padding(dev_and_tokenizer):
    from wattcut.tasks.sequence_classification import make_requests

    dev, tok = dev_and_tokenizer
    plain = make_requests(tok, dev, InferConfig(requests=40, batch_size=8, warmup_requests=2), 64, seed=3)
    bucketed = make_requests(tok, dev, InferConfig(requests=40, batch_size=8, warmup_requests=2, bucket=True), 64, 3)
    assert len(bucketed) == len(plain) == 42 and all(len(r["input_ids"]) == 8 for r in bucketed)
    texts, padded = _rows(plain)
    texts_b, padded_b = _rows(bucketed)
    assert texts_b == texts  # the same texts, each once as often as before
    real = sum(len(t) * n for t, n in texts.items())
    assert real < padded_b < padded  # bucketing pads less; SST-2's lengths vary, so some padding stays
    # the batches are shuffled after grouping: the rounds (contiguous parts) do not get the short texts first
    widths = [r["input_ids"].shape[1] for r in bucketed]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)
    again = make_requests(tok, dev, InferConfig(requests=40, batch_size=8, warmup_requests=2, bucket=True), 64, 3)
    assert all((a["input_ids"] == b["input_ids"]).all() for a, b in zip(again, bucketed, strict=True))  # seeded


def test_bucket_at_batch_one_is_refused_with_its_fix():
    with pytest.raises(UserInputError, match="batch_size = 1") as e:
        InferConfig(bucket=True)
    assert "batch_size above 1" in e.value.fix


def test_bucket_is_refused_before_any_work_for_a_task_that_does_not_batch_texts():
    from wattcut.runner.execute import check_inputs

    doc = tomllib.loads((EXAMPLES / "vision_smoke.toml").read_text())
    doc["infer"] = {**doc.get("infer", {}), "batch_size": 4, "bucket": True}
    with pytest.raises(UserInputError, match="image_classification") as e:
        check_inputs(parse_experiment(doc))
    assert "Remove bucket" in e.value.fix
