"""The committed vision example report (docs/example-report-vision, examples/vision.toml) checks out."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.recompute import check
from wattcut.stats.explain import explain_agreement
from wattcut.store.records import Results

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report-vision"


def _results():
    return json.loads((EXAMPLE / "results.json").read_text())


def test_statistics_recompute_from_the_trials():
    assert check(_results()) > 30


def test_three_trials_ran_in_under_fifteen_minutes_with_every_variant():
    res = _results()
    assert res["complete"] and not res["failures"] and res["config"]["trials"] == 3
    start = min(datetime.fromisoformat(t["started_at"]) for t in res["trials"])
    end = max(datetime.fromisoformat(t["finished_at"]) for t in res["trials"])
    assert (end - start).total_seconds() < 15 * 60  # issue 26, acceptance 1
    names = {t["variant"] for t in res["trials"]}
    assert {"pruned-30", "pruned-50", "ort-int8", "ov-int8", "efficientnet-lite0"} <= names


def test_channel_pruned_variants_are_physically_smaller():
    by = {t["variant"]: t["model"] for t in _results()["trials"] if t["trial_index"] == 0}
    for name in ("pruned-30", "pruned-50"):
        for fact in ("parameters", "file_size_bytes", "flops_per_sequence"):
            assert by[name][fact] < 0.8 * by["baseline"][fact], (name, fact)
    assert by["pruned-50"]["flops_per_sequence"] < by["pruned-30"]["flops_per_sequence"]


def test_the_compact_model_is_its_own_pretrained_model_trained_here():
    res = _results()
    lite = [t for t in res["trials"] if t["variant"] == "efficientnet-lite0"]
    assert all(t["derived_from"]["model"] == "efficientnet_lite0" and t["phases"][0]["phase"] == "train" for t in lite)
    report = (EXAMPLE / "report.md").read_text()
    assert "efficientnet\\_lite0 (fine-tuned, its own pretrained model)" in report
    assert "MobileNetV2 (3.5 M, torchvision's ImageNet weights) stands in for it" in report


def test_attribution_agreement_recomputes_from_the_stored_attributions():
    res = _results()
    stored = res["statistics"]["explain"]
    again = explain_agreement(Results.from_dict(res).trials, "image_classification", res["config"]["explain"]["top_k"])
    assert set(stored) == set(again)
    for name, a in again.items():
        for key in ("rank_correlation", "top_k_overlap"):
            assert stored[name][key]["mean"] == pytest.approx(a[key]["mean"])
    assert stored["copy"]["top_k_overlap"]["mean"] == 1.0  # the unchanged copy explains exactly as the baseline
    assert (EXAMPLE / "figures" / "attributions.png").is_file()
