"""The committed `wattcut tune` results (docs/example-tune/): the choice follows the rule from the stored figures."""

import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-tune"


@pytest.mark.parametrize("name", ["default", "llm"])
def test_the_chosen_setting_is_the_cheapest_that_meets_every_target(name):
    r = json.loads((EXAMPLE / name / "tune.json").read_text())
    targets = r["targets_ms"]

    def meets(s):
        ok = s["p95_latency_ms"] is not None and (
            targets["latency"] is None or s["p95_latency_ms"] <= targets["latency"]
        )
        if targets.get("tpot") is not None:
            ok = ok and s["p95_tpot_ms"] is not None and s["p95_tpot_ms"] <= targets["tpot"]
        return ok

    meeting = [s for s in r["settings"] if meets(s)]
    assert [s["meets_target"] for s in r["settings"]] == [meets(s) for s in r["settings"]]
    if meeting:
        assert r["chosen"] == min(meeting, key=lambda s: s["energy_per_unit_j"])["setting"]
    else:
        assert r["chosen"] is None
    assert r["settings"][0]["setting"] == r["default"] and r["settings"][0]["vs_default"] is None
    for s in r["settings"][1:]:
        v = s["vs_default"]
        assert v["n_pairs"] == s["rounds"] and v["ci95_low"] <= v["ratio"] <= v["ci95_high"]
    md = (EXAMPLE / name / "tune.md").read_text()
    assert r["about"]["variant"] in md and (EXAMPLE / name / "tune_frontier.svg").exists()


def test_the_llm_sweep_is_served_at_several_concurrencies():
    r = json.loads((EXAMPLE / "llm" / "tune.json").read_text())
    assert {s["concurrency"] for s in r["settings"]} >= {1, 4, 8} and r["about"]["unit"] == "output token"
    assert all(s["p95_tpot_ms"] is not None for s in r["settings"])
