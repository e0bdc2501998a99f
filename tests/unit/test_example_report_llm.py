"""The committed language-model example report (docs/example-report-llm, examples/llm.toml) checks out."""

import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from tests.recompute import check

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report-llm"


def _results():
    return json.loads((EXAMPLE / "results.json").read_text())


def test_statistics_recompute_from_the_trials_for_a_lower_is_better_metric():
    res = _results()
    assert res["metric_spec"]["key"] == "perplexity" and res["metric_spec"]["higher_is_better"] is False
    assert check(res) > 10


def test_recommendation_follows_the_rule_with_a_relative_margin():
    res = _results()
    margin = res["config"]["evaluate"]["quality_margin"]
    by = {}
    for t in res["trials"]:
        infer = next(p for p in t["phases"] if p["phase"] == "infer" and p["step"] == "perplexity")
        by.setdefault(t["variant"], {})[t["trial_index"]] = (
            t["metrics"]["perplexity"],
            infer["energy_j"] / infer["requests"],
        )
    base_mean = np.mean([v[0] for v in by["baseline"].values()])
    eligible = ["baseline"]
    for name, rows in by.items():
        if name == "baseline":
            continue
        d = np.array([by["baseline"][i][0] - rows[i][0] for i in sorted(rows)])  # positive = lower perplexity
        m = margin * base_mean
        if d.std(ddof=1) == 0:
            ok = d.mean() > -m
        else:
            ok = stats.t.sf((d.mean() + m) / (d.std(ddof=1) / math.sqrt(len(d))), len(d) - 1) < 0.05
        if ok:
            eligible.append(name)
    energy = {n: np.mean([v[1] for v in rows.values()]) for n, rows in by.items()}
    assert res["statistics"]["recommendation"]["variant"] == min(eligible, key=energy.get)


def test_perplexity_uses_20_windows_of_512_tokens():
    for t in _results()["trials"]:
        m = t["tasks"]["perplexity"]["metrics"]
        assert m["windows"] == 20 and m["max_length"] == m["stride"] == 512 and m["tokens_scored"] == 20 * 511
        assert math.isclose(m["perplexity"], math.exp(m["nll_sum"] / m["tokens_scored"]), rel_tol=1e-9)
        assert m["word_perplexity"] > m["perplexity"]  # the same NLL over fewer words than tokens
        lm_eval = t["tasks"]["lm_eval"]["metrics"]["wikitext2_local.word_perplexity"]
        assert math.isfinite(lm_eval) and lm_eval > 1  # lm-eval's own, on the same loaded model, stored beside


def test_prompted_sst2_0_and_4_shot_on_200_items_with_argmax_labels():
    for t in _results()["trials"]:
        for key, shots in (("sst2-0shot", 0), ("sst2-4shot", 4)):
            m = t["tasks"][key]["metrics"]
            assert m["shots"] == shots and m["n"] == 200 and len(m["items"]) == 200
            assert {"accuracy", "f1_macro", "precision_macro", "recall_macro"} <= set(m)
            assert sum(map(sum, m["confusion_matrix"])) == 200
            for item in m["items"]:
                assert item["pred"] == int(np.argmax(item["loglik"]))
            assert m["accuracy"] == np.mean([i["pred"] == i["gold"] for i in m["items"]])


def test_chat_replay_of_30_prompts_in_real_time_accounts_for_the_phase():
    for t in _results()["trials"]:
        chat = t["tasks"]["chat_replay"]
        assert len(chat["requests"]) == 30 and chat["workload"]["mode"] == "realtime"
        for r in chat["requests"]:
            assert r["ttft_s"] > 0 and r["input_tokens"] > 0 and r["output_tokens"] > 0 and r["energy_j"] > 0
        assert abs(chat["workload"]["accounted_share"] - 1) <= 0.01


def test_report_names_the_metric_its_direction_and_the_gguf_caveat():
    html = (EXAMPLE / "report.html").read_text()
    assert "perplexity" in html and "lower is better" in html and "GGUF" in html
    assert "perplexity ↓" in (EXAMPLE / "report.md").read_text()
