"""The committed language-model example report (docs/example-report-llm, examples/llm.toml) checks out."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.recompute import check
from wattcut.store.records import upgrade_results

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report-llm"


def _results():
    return upgrade_results(json.loads((EXAMPLE / "results.json").read_text()))  # written by record version 2


def test_statistics_recompute_from_the_trials_for_a_lower_is_better_metric():
    res = _results()
    assert res["metric_spec"]["key"] == "perplexity" and res["metric_spec"]["higher_is_better"] is False
    assert check(res) > 10


def test_recommendation_follows_the_rule_with_a_relative_margin():
    res = _results()
    margin = res["config"]["evaluate"]["quality_margin"]
    assert res["config"]["energy_task"] == "chat_replay"  # serving cost decides; perplexity is the quality
    by = {}
    for t in res["trials"]:
        infer = next(p for p in t["phases"] if p["phase"] == "infer" and p["step"] == "chat_replay")
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


RUNTIMES = {
    "baseline": "pytorch",
    "gguf-f16": "llamacpp",
    "gguf-q8_0": "llamacpp",
    "gguf-q4_k_m": "llamacpp",
    "gguf-q4_0": "llamacpp",
    "ov-int8": "openvino-genai",
    "ov-int4-awq": "openvino-genai",
    "ort-genai-int4": "onnxruntime-genai",
    "pt-int8-dynamic": "pytorch",
}


def test_every_runtime_variant_ran_three_trials_on_the_three_tasks():
    res = _results()
    seen = {}
    for t in res["trials"]:
        seen.setdefault(t["variant"], set()).add(t["trial_index"])
        assert t["model"]["runtime"] == RUNTIMES[t["variant"]]
        assert set(t["tasks"]) == {"perplexity", "sst2-0shot", "chat_replay"}
        # an LM variant is built (compress, then load for the fast runtimes) in trial 0 and reused after it
        built = t["build"]["trial_index"] == t["trial_index"]
        assert t["build"]["reused"] is (t["variant"] != "baseline" and t["trial_index"] > 0)
        assert any(p["phase"] == "compress" for p in t["phases"]) == (t["variant"] != "baseline" and built)
        assert any(p["phase"] == "load" for p in t["phases"]) == (RUNTIMES[t["variant"]] != "pytorch" and built)
    assert seen == {v: {0, 1, 2} for v in RUNTIMES}


def test_gguf_variants_were_converted_by_llama_cpps_converter():
    for t in _results()["trials"]:
        if RUNTIMES[t["variant"]] == "llamacpp" and t["trial_index"] == 0:
            assert t["technique_notes"]["converter"] == "llama.cpp convert_hf_to_gguf.py"
            assert [p["phase"] for p in t["phases"]][:2] == ["convert", "compress"]


def test_perplexity_uses_4_windows_of_512_tokens():
    for t in _results()["trials"]:
        m = t["tasks"]["perplexity"]["metrics"]
        assert m["windows"] == 4 and m["max_length"] == m["stride"] == 512 and m["tokens_scored"] == 4 * 511
        assert math.isclose(m["perplexity"], math.exp(m["nll_sum"] / m["tokens_scored"]), rel_tol=1e-9)
        assert m["word_perplexity"] > m["perplexity"]  # the same NLL over fewer words than tokens


def test_prompted_sst2_on_40_items_with_argmax_labels():
    for t in _results()["trials"]:
        m = t["tasks"]["sst2-0shot"]["metrics"]
        items = t["tasks"]["sst2-0shot"]["items"]  # column-wise per-item results, for the item-level paired test
        assert m["shots"] == 0 and m["n"] == 40 and len(items["gold"]) == len(items["pred"]) == 40
        assert sum(map(sum, m["confusion_matrix"])) == 40
        for pred, loglik in zip(items["pred"], items["loglik"], strict=True):
            assert pred == int(np.argmax(loglik))
        assert m["accuracy"] == np.mean([p == g for p, g in zip(items["pred"], items["gold"], strict=True)])


def test_chat_replay_forces_32_tokens_and_splits_each_request_into_prefill_and_decode():
    for t in _results()["trials"]:
        chat = t["tasks"]["chat_replay"]
        assert len(chat["requests"]) == 6 and chat["workload"]["length"] == "fixed"
        for r in chat["requests"]:
            assert r["output_tokens"] == 32 and r["ttft_s"] > 0 and r["energy_j"] > 0
            assert r["prefill_energy_j"] + r["decode_energy_j"] == pytest.approx(r["energy_j"], rel=0.01)
        w = chat["workload"]
        assert w["split_share"] == pytest.approx(1.0, abs=0.01)
        assert w["wh_per_1000_queries"] == pytest.approx(w["energy_per_response_j"] / 3.6)


def test_the_fast_runtimes_serve_more_tokens_per_joule_than_pytorch_fp32():
    by = {}
    for t in _results()["trials"]:
        by.setdefault(t["variant"], []).append(t["tasks"]["chat_replay"]["workload"]["output_tokens_per_j"])
    base = np.mean(by["baseline"])
    for v in ("gguf-q4_k_m", "ort-genai-int4"):
        assert np.mean(by[v]) > 2 * base, (v, np.mean(by[v]), base)


def test_report_names_the_metric_its_direction_and_the_gguf_caveat():
    html = (EXAMPLE / "report.html").read_text()
    assert "perplexity" in html and "lower is better" in html and "GGUF" in html
    assert "perplexity ↓" in (EXAMPLE / "report.md").read_text()
    assert "Language model: quality vs J per output token" in html and "prefill" in html


def test_kl_divergence_from_the_baseline_orders_the_gguf_types_by_their_bits():
    by: dict[str, list[dict]] = {}
    for t in _results()["trials"]:
        by.setdefault(t["variant"], []).append(t["tasks"]["perplexity"]["metrics"])
    assert all("kl_divergence_mean" not in m for m in by["baseline"])  # the reference itself
    kld = {v: np.mean([m["kl_divergence_mean"] for m in ms]) for v, ms in by.items() if v != "baseline"}
    assert kld["gguf-f16"] < 0.001, kld  # the same weights in f16: practically the baseline's distributions
    assert kld["gguf-q8_0"] < kld["gguf-q4_k_m"] < kld["gguf-q4_0"], kld
    for v, ms in by.items():
        for m in ms if v != "baseline" else []:
            assert m["kl_divergence_p999"] >= m["kl_divergence_p99"] >= 0 and 0 < m["same_top_token_rate"] <= 1
            assert m["kl_divergence_tokens"] == m["tokens_scored"]
    md = (EXAMPLE / "report.md").read_text()
    assert "KL divergence (mean)" in md and "same top token" in md


def test_every_variant_has_its_share_of_the_roofline():
    res = _results()
    probe = res["provenance"]["roofline"]
    assert probe["peaks"] and all(p["fp32_gflops"] > 0 and p["bandwidth_gb_s"] > 0 for p in probe["peaks"])
    for row in res["summary"]:
        pct = row["roofline_pct"]["mean"]
        assert pct is not None and 0 < pct < 100, row["variant"]
        assert row["roofline"]["decode"]["limiter"] == "memory"  # one read of the weights per generated token
    assert "% roofline" in (EXAMPLE / "report.md").read_text()
