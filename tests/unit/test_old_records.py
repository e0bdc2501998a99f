"""A store and a results.json written by an earlier wattcut (trial record version 2) still load and report."""

import json
import shutil
from pathlib import Path

from wattcut.report import markdown
from wattcut.report.build import build_results, write_reports
from wattcut.store import Store
from wattcut.store.records import RECORD_VERSION, Results, upgrade, upgrade_results

OLD = Path(__file__).resolve().parents[1] / "data" / "record_v2"  # examples/llm_smoke.toml, record version 2


def test_an_old_store_loads_with_every_trial_upgraded_and_reports(tmp_path):
    shutil.copy(OLD / "wattcut.sqlite", tmp_path / "wattcut.sqlite")
    old = json.loads((OLD / "results.json").read_text(encoding="utf-8"))
    store = Store.open(tmp_path / "wattcut.sqlite", create=False)
    try:
        trials = store.trials()
        assert len(trials) == len(old["trials"]) and {t["record_version"] for t in trials} == {RECORD_VERSION}
        results = build_results(store)
        written = write_reports(store, tmp_path)
    finally:
        store.close()
    assert {p.name for p in written} >= {"results.json", "report.md", "report.html"}
    # the statistics recompute from the old records as they were computed then
    assert results.statistics["recommendation"] == old["statistics"]["recommendation"]
    for name, figures in old["statistics"]["per_variant"].items():
        assert results.statistics["per_variant"][name]["perplexity"] == figures["perplexity"]


def test_an_old_results_json_reads_as_today_and_renders():
    raw = json.loads((OLD / "results.json").read_text(encoding="utf-8"))
    assert {t["record_version"] for t in upgrade_results(raw)["trials"]} == {RECORD_VERSION}
    results = Results.read(OLD / "results.json")  # typed, every record upgraded on the way
    assert {t.record_version for t in results.trials} == {RECORD_VERSION} and len(results.trials) == len(raw["trials"])
    text = markdown.render(results, {})
    assert "| variant |" in text and all(r["variant"] in text for r in results.summary)


def test_an_openvino_genai_model_recorded_under_the_old_name_is_renamed():
    old = {"record_version": 2, "techniques": [{"name": "ov_weight_compress"}], "model": {"runtime": "openvino"}}
    assert upgrade(old)["model"]["runtime"] == "openvino-genai"
    classifier = {"record_version": 2, "techniques": [{"name": "ov_int8_static"}], "model": {"runtime": "openvino"}}
    assert upgrade(classifier)["model"]["runtime"] == "openvino"  # OpenVINO for classifiers keeps its name
    current = {"record_version": RECORD_VERSION, "techniques": [], "model": {"runtime": "pytorch"}}
    assert upgrade(dict(current)) == current
