import json

import pytest

from wattcut.data import load_splits
from wattcut.errors import UserInputError
from wattcut.settings import DataConfig


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_sst2_by_name_has_the_official_dev_set(data_dir):
    train, dev = load_splits(DataConfig(name="sst2", train_size=100))
    assert len(dev) == 872 and len(train) == 100
    assert dev.label_names == ["0", "1"]
    assert sum(dev.labels) == 444  # positives in the official dev set


def test_subsets_are_reproducible_by_seed(data_dir):
    a, _ = load_splits(DataConfig(name="sst2", train_size=50), seed=3)
    b, _ = load_splits(DataConfig(name="sst2", train_size=50), seed=3)
    c, _ = load_splits(DataConfig(name="sst2", train_size=50), seed=4)
    assert a.texts == b.texts and a.texts != c.texts


def test_unsplit_dataset_gets_a_stratified_deterministic_split(data_dir):
    train, dev = load_splits(DataConfig(name="financial_phrasebank"))
    assert train.label_names == ["negative", "neutral", "positive"]
    assert 0.79 < len(train) / 4846 < 0.81 and 0.09 < len(dev) / 4846 < 0.11
    again, _ = load_splits(DataConfig(name="financial_phrasebank"))
    assert again.texts == train.texts


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "fasttext"])
def test_each_file_format_reads(tmp_path, fmt):
    rows = [("good film", "pos"), ("bad, sad film", "neg"), ("fine", "pos")]
    if fmt == "jsonl":
        body = "\n".join(json.dumps({"review": t, "y": y}) for t, y in rows)
    elif fmt == "fasttext":
        body = "\n".join(f"__label__{y} {t}" for t, y in rows)
    else:
        sep = "," if fmt == "csv" else "\t"
        body = f"review{sep}y\n" + "\n".join(f'"{t}"{sep}{y}' for t, y in rows)
    f = write(tmp_path / f"d.{ {'fasttext': 'txt'}.get(fmt, fmt) }", body)
    cfg = DataConfig(train_file=str(f), eval_file=str(f), text_column="review", label_column="y")
    train, ev = load_splits(cfg)
    assert train.texts == [t for t, _ in rows]
    assert train.label_names == ["neg", "pos"] and train.labels == [1, 0, 1]


def test_missing_label_column_names_the_columns_and_the_fix(tmp_path):
    f = write(tmp_path / "d.csv", "text,sentiment\nnice,1\nbad,0\n")
    with pytest.raises(UserInputError) as e:
        load_splits(DataConfig(train_file=str(f), eval_file=str(f)))
    assert 'no label column "label"' in e.value.problem and "text, sentiment" in e.value.problem
    assert "label_column" in e.value.fix


def test_subset_larger_than_dataset_is_refused(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\nnice,1\nbad,0\n")
    with pytest.raises(UserInputError, match="train_size = 5 is larger than the dataset, which has 2 rows"):
        load_splits(DataConfig(train_file=str(f), eval_file=str(f), train_size=5))


def test_named_dataset_not_found_says_where_and_offers_the_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTCUT_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError) as e:
        load_splits(DataConfig(name="sst2"))
    assert str(tmp_path / "sst2") in e.value.problem
    assert "WATTCUT_DATA_DIR" in e.value.fix and "stanfordnlp/sst2" in e.value.fix


def test_unknown_split_lists_the_available_ones(data_dir):
    with pytest.raises(UserInputError, match="Splits available: dev, test, train"):
        load_splits(DataConfig(name="sst2", eval_split="validation"))


def test_eval_labels_unseen_in_training_are_refused(tmp_path):
    tr = write(tmp_path / "tr.csv", "text,label\na,x\nb,y\n")
    ev = write(tmp_path / "ev.csv", "text,label\na,x\nb,z\n")
    with pytest.raises(UserInputError, match="labels \\['z'\\]"):
        load_splits(DataConfig(train_file=str(tr), eval_file=str(ev)))
