"""A classifier the user already trained, used as it is: no train phase, its own labels, built once per study."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _sst2(data_dir: Path, split: str) -> tuple[list[str], list[int]]:
    with open(data_dir / "sst2" / f"{split}.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """MiniLM with a head trained on 1,024 SST-2 rows by plain transformers, labels NEGATIVE/POSITIVE, saved.

    The backbone is frozen (a minute of training would not move it much on 2 cores); what matters is
    that the folder is a trained classifier whose predictions mean something.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.fakes.tiny_model import minilm_dir

    torch.manual_seed(0)
    labels_ = {0: "NEGATIVE", 1: "POSITIVE"}
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=2, id2label=labels_, label2id={v: k for k, v in labels_.items()}
    )
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    texts, labels = _sst2(data_dir, "train")
    head = [p for n, p in model.named_parameters() if n.startswith(("classifier", "bert.pooler"))]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(head, lr=3e-3)
    model.train()
    for start in range(0, 1024, 32):
        enc = tokenizer(texts[start : start + 32], truncation=True, max_length=32, padding=True, return_tensors="pt")
        loss = model(**enc, labels=torch.tensor(labels[start : start + 32])).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    folder = tmp_path_factory.mktemp("my-sentiment")
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _experiment(path: Path, model: Path, label_map: str | None, trials: int = 2) -> Path:
    mapping = f"label_map = {label_map}\n" if label_map else ""
    path.write_text(
        f"""
[study]
name = "your-model"
trials = {trials}

[model]
name_or_path = "{model}"
already_trained = true
{mapping}
[data]
name = "sst2"
train_size = 64
max_length = 32

[infer]
requests = 6
warmup_requests = 1
rounds = 2
sentinel_requests = 2
cooldown_s = 0

[measure]
idle_s = 0

[deploy]
grids = ["WORLD"]

[[variants]]
name = "ort-int8"
techniques = [{{ name = "ort_int8_dynamic" }}]

[[variants]]
name = "heads-25"
techniques = [{{ name = "prune_heads", amount = 0.25 }}]
""",
        encoding="utf-8",
    )
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wattcut", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def study(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    exp = _experiment(out.parent / "your_model.toml", trained, '{ "0" = "NEGATIVE", "1" = "POSITIVE" }')
    r = _cli("run", str(exp), "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out


def test_no_train_phase_and_the_baselines_accuracy_is_plain_transformers(study, trained, data_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    res, _ = study
    for t in res["trials"]:
        assert "train" not in [p["phase"] for p in t["phases"]], t["variant"]
    model = AutoModelForSequenceClassification.from_pretrained(trained).eval()
    tokenizer = AutoTokenizer.from_pretrained(trained)
    texts, labels = _sst2(data_dir, "dev")
    correct = 0
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            enc = tokenizer(
                texts[start : start + 64], truncation=True, max_length=32, padding=True, return_tensors="pt"
            )
            pred = model(**enc).logits.argmax(-1)
            # the model's id 0 is NEGATIVE, SST-2's "0" is negative: the mapping keeps the ids here
            correct += int((pred == torch.tensor(labels[start : start + 64])).sum())
    expected = correct / len(texts)
    base = [t for t in res["trials"] if t["variant"] == "baseline"]
    assert len(base) == 2
    for t in base:
        assert t["metrics"]["accuracy"] == pytest.approx(expected, abs=1.5 / len(texts))  # one item may tie-flip
    assert abs(expected - 0.5) > 0.05, "the tiny model learnt nothing: the check would be vacuous"


def test_deterministic_variants_are_built_once_and_seeded_ones_per_trial(study):
    res, _ = study
    by = {(t["variant"], t["trial_index"]): t for t in res["trials"]}

    def compress(t):
        return [p for p in t["phases"] if p["phase"] == "compress"]

    # ONNX Runtime INT8 of the same model: built in trial 0, reused in trial 1
    assert compress(by["ort-int8", 0]) and not compress(by["ort-int8", 1])
    assert by["ort-int8", 1]["build"] == {"once_per_study": True, "trial_index": 0, "reused": True}
    # head pruning ranks heads on seeded calibration batches: rebuilt per trial
    assert compress(by["heads-25", 0]) and compress(by["heads-25", 1])
    assert by["heads-25", 1]["build"]["reused"] is False
    # the build energy is stated once: the summary's compress energy is the building trial's
    row = next(r for r in res["summary"] if r["variant"] == "ort-int8")
    assert row["compress_energy_j"]["n"] == 1


def test_report_says_the_model_was_used_as_given(study):
    _, out = study
    md = (out / "report.md").read_text()
    assert "your model as given, not fine-tuned here" in md
    assert "differ only in measurement" in md
    assert "Built once per study" in md and "ort-int8" in md
    assert "your model as given, not fine-tuned here" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("label_map", "expect"),
    [
        ('{ "0" = "NEG", "1" = "POSITIVE" }', "names model labels that do not exist ('NEG')"),
        ('{ "0" = "NEGATIVE", "2" = "POSITIVE" }', "names dataset labels that do not exist ('2')"),
        (None, 'label_map = { "0" = "NEGATIVE", "1" = "POSITIVE" }'),  # no automatic match: the line to write
    ],
)
def test_a_wrong_or_missing_mapping_is_exit_2_from_validate_and_run(trained, tmp_path, label_map, expect):
    exp = _experiment(tmp_path / "bad.toml", trained, label_map)
    for args in (("validate", str(exp)), ("run", str(exp), "--out", str(tmp_path / "out"))):
        r = _cli(*args)
        assert r.returncode == 2, r.stderr[-2000:]
        assert expect in r.stderr and "Traceback" not in r.stderr
        assert "['0', '1']" in r.stderr and "NEGATIVE" in r.stderr  # both label sets are named


def test_a_classifier_with_another_label_count_is_exit_2(tmp_path):
    from tests.fakes.tiny_model import make_tiny_bert

    folder = make_tiny_bert(tmp_path / "three", num_labels=3)
    r = _cli("validate", str(_experiment(tmp_path / "three.toml", folder, None)))
    assert r.returncode == 2 and "The model has 3 labels (num_labels) but the dataset has 2" in r.stderr


def test_a_folder_without_a_classification_head_is_exit_2(tmp_path):
    from tests.fakes.tiny_model import minilm_dir

    r = _cli("validate", str(_experiment(tmp_path / "base.toml", minilm_dir(), None)))
    assert r.returncode == 2 and "is not a trained sequence classifier" in r.stderr, r.stderr[-1500:]
