"""The committed MMLU and IFEval run (docs/example-report-llm/benchmarks, examples/llm_benchmarks.toml) checks out.

Issue 23, acceptance 4: all 57 MMLU subjects (the first 5 test questions of each, 5-shot) and
all 541 IFEval prompts, for the PyTorch baseline and llama.cpp's Q8_0 and Q4_K_M, offline.
"""

import json
from pathlib import Path

import pytest

from tests.recompute import check

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report-llm" / "benchmarks"
SUBJECTS = 57


@pytest.fixture(scope="module")
def res():
    return json.loads((EXAMPLE / "results.json").read_text())


def test_every_variant_ran_all_subjects_and_all_ifeval_prompts(res):
    assert res["complete"] and {t["variant"] for t in res["trials"]} == {"baseline", "gguf-q8_0", "gguf-q4_k_m"}
    limit = next(t for t in res["config"]["tasks"] if t.get("id") == "mmlu")["limit"]
    for t in res["trials"]:
        mmlu, ifeval = t["tasks"]["mmlu"], t["tasks"]["ifeval"]
        subjects = [k for k in mmlu["metrics"] if k.startswith("mmlu_local_") and k.endswith(".acc")]
        assert len(subjects) == SUBJECTS
        assert len(mmlu["items"]["scores"]["mmlu_local.acc"]) == SUBJECTS * limit  # per-subject limit, all subjects
        assert 0.2 < mmlu["metrics"]["mmlu_local.acc"] < 0.6  # a 135M model: near chance (0.25), never perfect
        assert len(ifeval["items"]["scores"]["ifeval_local.prompt_level_strict_acc"]) == 541
        assert 0 < ifeval["metrics"]["ifeval_local.prompt_level_strict_acc"] < 1
    assert check(res) > 0  # every statistic recomputes from the stored trials


def test_the_report_states_the_limits_and_the_quantized_runtimes(res):
    md = (EXAMPLE / "report.md").read_text().replace("\\_", "_")
    assert "5 documents each" in md and "at most 128 new tokens per generation" in md
    assert "mmlu_local.acc" in md and "ifeval_local.prompt_level_strict_acc" in md
    runtimes = {t["variant"]: t["model"]["runtime"] for t in res["trials"]}
    assert runtimes == {"baseline": "pytorch", "gguf-q8_0": "llamacpp", "gguf-q4_k_m": "llamacpp"}
    paired = res["statistics"]["paired"]
    assert all(paired[v]["quality"]["n_items"] == SUBJECTS * 5 for v in ("gguf-q8_0", "gguf-q4_k_m"))
