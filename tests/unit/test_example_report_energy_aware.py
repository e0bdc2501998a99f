"""The committed energy-aware example (docs/example-report-energy-aware, examples/energy_aware.toml) checks out."""

import json
from pathlib import Path

import pytest

from tests.recompute import check

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report-energy-aware"


def _results():
    return json.loads((EXAMPLE / "results.json").read_text())


def test_statistics_recompute_from_the_trials():
    assert check(_results()) > 20


def test_every_variant_ran_and_has_its_share_of_the_roofline():
    res = _results()
    assert res["complete"] and not res["failures"]
    names = {v["name"] for v in res["config"]["variants"]} | {"baseline"}
    assert {row["variant"] for row in res["summary"]} == names
    for row in res["summary"]:
        assert 0 < row["roofline_pct"]["mean"] < 100, row["variant"]
        assert row["roofline"]["limiter"] == "compute"
    assert res["provenance"]["roofline"]["peaks"]
    md = (EXAMPLE / "report.md").read_text()
    assert "% roofline" in md and "Roofline of this machine" in md


def test_the_early_exit_variants_roofline_counts_the_layers_its_requests_ran():
    res = _results()
    trial = next(t for t in res["trials"] if t["variant"] == "early-exit-90")
    exits = next(r["exits"] for r in trial["tasks"].values() if r.get("exits"))
    counts = exits["infer_depth_counts"]
    depth = sum(int(d) * k for d, k in counts.items()) / sum(counts.values())
    assert depth < exits["layers"]  # requests left early, so the full-depth FLOPs would overstate the work
    infer = next(p for p in trial["phases"] if p["phase"] == "infer")
    m = trial["model"]
    expected = m["flops_per_sequence"] * infer["tokens"] / infer["samples"] / m["flops_seq_len"]
    expected *= depth / exits["layers"]
    stored = [r["roofline"]["ops_per_unit"] for r in res["summary"] if r["variant"] == "early-exit-90"]
    assert stored and stored[0] == pytest.approx(expected, rel=1e-9)


def test_the_report_shows_the_energy_aware_sections():
    md = (EXAMPLE / "report.md").read_text()
    for heading in (
        "## Cost model: predicted vs measured energy per request",
        "## Kept FLOPs vs throughput (PyTorch variants)",
        "## Early exit: early-exit-90 (threshold 0.9",
    ):
        assert heading in md
