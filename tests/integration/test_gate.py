"""wattcut gate on a real reference study: pass, proven regression, inconclusive, and refused inputs."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def wattcut(*args, cwd):
    return subprocess.run([sys.executable, "-m", "wattcut", *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    """A classifier saved as it is (MiniLM with a seeded head), and a finished one-trial study of it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.fakes.tiny_model import minilm_dir

    root = tmp_path_factory.mktemp("gate")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    model.eval().save_pretrained(root / "model")
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(root / "model")
    (root / "ref.toml").write_text(
        f"""
[study]
name = "gate-reference"
trials = 1
threads = 1

[model]
name_or_path = "{root / "model"}"
already_trained = true

[data]
name = "sst2"
train_size = 32
eval_size = 64
max_length = 32

[infer]
requests = 96  # 16 per round and model: windows long enough that CPU time's 10 ms ticks are not the noise
warmup_requests = 2
rounds = 6
cooldown_s = 0.1
sentinel_requests = 4

[[variants]]
name = "control"
techniques = []
"""
    )
    dry = wattcut("run", root / "ref.toml", "--out", root / "ref", "--dry-run", cwd=root)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert not (root / "ref").exists()  # a dry run writes nothing into the output folder
    (root / "dry-run.txt").write_text(dry.stdout)
    # the real run through the Python API (the typed Results come back), in a process of its own
    code = (
        "import wattcut, sys; r = wattcut.run_study(sys.argv[1], out=sys.argv[2]);"
        "print(type(r).__name__, len(r.trials), r.complete)"
    )
    r = subprocess.run([sys.executable, "-c", code, root / "ref.toml", root / "ref"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "Results 2 True", r.stderr[-3000:]
    return root


def test_27_5_dry_run_predicts_and_the_report_states_predicted_vs_actual(reference):
    import json

    said = (reference / "dry-run.txt").read_text()
    assert "predicted wall time:" in said and "basis: a probe" in said
    results = json.loads((reference / "ref" / "results.json").read_text())
    before, after = results["prediction"]["predicted"], results["prediction"]["actual"]
    assert before["basis"] == "probe" and before["wall_low_s"] < before["wall_s"] < before["wall_high_s"]
    assert after["wall_s"] > 0 and isinstance(after["wall_inside"], bool)
    report = (reference / "ref" / "report.md").read_text()
    assert "Predicted before the run (probe" in report and "Actual:" in report


def test_27_3_unchanged_copy_passes(reference):
    # a 20% margin: this machine kind's round-to-round noise (10-18% per round) must not make a copy undecided
    r = wattcut("gate", reference / "ref" / "results.json", "--out", reference / "pass", "--max-rounds", 24,
                "--energy-margin", 0.2, "--summary", reference / "pass.md", cwd=reference)  # fmt: skip
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    text = (reference / "pass.md").read_text()
    assert text.startswith("## wattcut gate: PASS") and "| not worse |" in text and "| non-inferior |" in text
    assert (reference / "pass" / "gate.md").read_text() == text and (reference / "pass" / "results.json").is_file()


def test_27_3_a_second_spinning_thread_at_batch_1_is_a_proven_regression(reference):
    r = wattcut(
        "gate", reference / "ref", "--threads", 2, "--out", reference / "two", "--max-rounds", 24, cwd=reference
    )
    assert r.returncode == 1, (r.stdout[-3000:], r.stderr[-3000:])
    text = (reference / "two" / "gate.md").read_text()
    assert "FAIL: a proven regression" in text and "| regression |" in text and "2 thread(s)" in text


def test_27_3_a_difference_below_the_noise_floor_on_a_small_budget_is_inconclusive(reference):
    r = wattcut("gate", reference / "ref", "--energy-margin", 0.001, "--min-rounds", 6, "--max-rounds", 6,
                "--out", reference / "tiny", cwd=reference)  # fmt: skip
    assert r.returncode == 3, (r.stdout[-3000:], r.stderr[-3000:])
    text = (reference / "tiny" / "gate.md").read_text()
    assert "INCONCLUSIVE" in text and "more paired rounds would likely decide" in text


def test_27_6_gate_refuses_a_reference_of_another_task_or_metric_and_a_candidate_with_other_labels(reference):
    (reference / "taken").mkdir(exist_ok=True)
    (reference / "taken" / "wattcut.sqlite").write_bytes(b"")  # an earlier gate's folder
    for flags, words in (
        (["--task", "perplexity"], 'scored on task "sequence_classification", not "perplexity"'),
        (["--metric", "perplexity"], 'decided on "accuracy", not "perplexity"'),
        (["--variant", "nope"], 'no variant "nope"'),
        (["--out", reference / "taken"], "already holds a study"),
    ):
        r = wattcut("gate", reference / "ref", "--out", reference / "bad", *flags, cwd=reference)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    import json

    other = reference / "other"
    other.mkdir()
    for f in (reference / "model").iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((other / "config.json").read_text())
    cfg["id2label"], cfg["label2id"] = {"0": "neg", "1": "pos"}, {"neg": 0, "pos": 1}
    (other / "config.json").write_text(json.dumps(cfg))
    r = wattcut("gate", reference / "ref", "--model", other, "--out", reference / "bad", cwd=reference)
    assert r.returncode == 2 and "label" in r.stderr and "Traceback" not in r.stderr, r.stderr
