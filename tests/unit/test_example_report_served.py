"""The committed served example (docs/example-report-llm-served, examples/llm_served.toml) checks out."""

import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report-llm-served"


def _results():
    return json.loads((EXAMPLE / "results.json").read_text())


def test_each_variant_was_served_by_llama_server_at_1_4_and_8_clients():
    levels = {"served-c1": 1, "served-c4": 4, "served-c8": 8}
    for t in _results()["trials"]:
        for key, n in levels.items():
            w = t["tasks"][key]["workload"]
            assert w["serve"] == "llama_server" and w["concurrency"] == n == w["parallel"]
            assert w["served_by"].startswith("llama-server on")
            assert w["output_tokens"] == 32 * w["requests"]  # fixed-length replies


def test_per_request_energies_sum_to_the_served_window_within_1_percent():
    for t in _results()["trials"]:
        for key in ("served-c1", "served-c4", "served-c8"):
            task = t["tasks"][key]
            window = task["workload"]["window_energy_j"]
            assert sum(r["energy_j"] for r in task["requests"]) == pytest.approx(window, rel=0.01)
            for r in task["requests"]:
                assert r["ttft_s"] > 0 and r["tpot_s"] > 0
                assert r["prefill_energy_j"] + r["decode_energy_j"] == pytest.approx(r["energy_j"], rel=1e-6)


def test_the_report_shows_energy_per_output_token_against_concurrency():
    md = (EXAMPLE / "report.md").read_text()
    assert "served: J per output token vs concurrency" in md
    assert "J / output token at 8 clients" in md
