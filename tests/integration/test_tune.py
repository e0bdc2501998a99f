"""wattcut tune on the smoke study's INT8 variant: settings swept in paired rounds, a choice or exit 3, bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import assert_user_error, wattcut

pytestmark = pytest.mark.integration


def test_tune_sweeps_threads_and_batch_sizes_and_picks_under_the_target(tmp_path):
    out = tmp_path / "tune"
    args = ["tune", "examples/smoke.toml", "--variant", "ffn-50+ort-int8", "--threads", "1,2", "--batch-sizes", "1,4"]
    r = wattcut(*args, "--rounds", "3", "--texts", "8", "--p95-ms", "10000", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads((out / "tune.json").read_text())
    names = [s["setting"] for s in result["settings"]]
    assert names[0] == result["default"] and set(names) >= {"t1-b1", "t2-b1", "t1-b4", "t2-b4"}
    chosen = next(s for s in result["settings"] if s["setting"] == result["chosen"])
    # a generous target: every setting meets it, so the choice is the one of lowest energy per text
    assert chosen["energy_per_unit_j"] == min(s["energy_per_unit_j"] for s in result["settings"])
    for s in result["settings"]:
        assert s["rounds"] == 3 and s["requests"] > 0 and s["p95_latency_ms"] > 0
        if s["setting"] != result["default"]:
            v = s["vs_default"]
            assert v["n_pairs"] == 3 and v["ci95_low"] <= v["ratio"] <= v["ci95_high"]
    assert (out / "tune_frontier.svg").read_text().startswith("<?xml")
    assert "Chosen:" in (out / "tune.md").read_text()


def test_bad_tune_flags_are_exit_2(tmp_path):
    assert_user_error(wattcut("tune", "examples/smoke.toml", "--variant", "nope", "--out", str(tmp_path)), "no variant")
    assert_user_error(
        wattcut("tune", "examples/smoke.toml", "--variant", "baseline", "--threads", "0,x", "--out", str(tmp_path)),
        "--threads",
    )
    assert_user_error(
        wattcut("tune", "examples/smoke.toml", "--variant", "baseline", "--concurrency", "2", "--out", str(tmp_path)),
        "served by llama-server",
    )


def test_tune_sweeps_openvinos_performance_hint_and_refuses_it_elsewhere(tmp_path):
    ov = '[[variants]]\nname = "ov-int8"\ntechniques = [{ name = "ov_int8_static", calibration_samples = 16 }]\n'
    exp = tmp_path / "ov.toml"
    exp.write_text(Path("examples/smoke.toml").read_text() + "\n" + ov)
    out = tmp_path / "tune"
    args = ["tune", str(exp), "--variant", "ov-int8", "--threads", "2", "--hints", "latency,THROUGHPUT"]
    r = wattcut(*args, "--rounds", "2", "--texts", "8", "--p95-ms", "10000", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads((out / "tune.json").read_text())
    # the study's own deployment (2 threads, LATENCY as built) is served once, first
    assert [s["setting"] for s in result["settings"]] == ["t2-b1-latency", "t2-b1-throughput"]
    assert [s["hint"] for s in result["settings"]] == ["LATENCY", "THROUGHPUT"]
    assert "| hint |" in (out / "tune.md").read_text()
    refused = wattcut("tune", str(exp), "--variant", "ffn-50+ort-int8", "--hints", "LATENCY", "--out", str(out))
    assert_user_error(refused, "no performance hint")
    assert_user_error(wattcut("tune", str(exp), "--variant", "ov-int8", "--hints", "FAST", "--out", str(out)), "FAST")
