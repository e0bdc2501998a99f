import csv
import json
import re

import pytest

from tests.unit.test_store import record
from wattcut.metric import ACCURACY, MetricSpec
from wattcut.report.build import build_results, write_reports
from wattcut.store import STORE_NAME, Store

PERPLEXITY = MetricSpec("perplexity", "perplexity", higher_is_better=False, bounded=False)

CONFIG = {
    "name": "r",
    "trials": 2,
    "variants": [{"name": "<b>evil</b>", "techniques": []}],
    "model": {"name_or_path": "m"},
    "data": {"name": "sst2", "max_length": 16},
    "infer": {"requests": 10, "batch_size": 1, "warmup_requests": 1},
}
PROV = {
    "wattcut_version": "0",
    "cpu": {"model": "cpu", "flags": {"avx2": True}, "cores_available": 2},
    "memory_gb": 1,
    "gpus": [],
    "packages": {"torch": "t", "transformers": "t", "onnxruntime": "o"},
}


def full(variant, trial, energy, acc):
    r = record(variant, trial, energy)
    r["techniques"] = [] if variant == "baseline" else [{"name": "x", "version": 1}]
    r["metrics"] = {"accuracy": acc, "f1_macro": acc, "roc_auc": None}
    r["latency"] = {"requests": 10, "batch_size": 1, "p50_ms": 1.0}
    r["model"] = {
        "file_size_bytes": 1000,
        "parameters": 10,
        "nonzero_parameters": 5,
        "runtime": "pytorch",
        "precision": "fp32",
    }
    r["phases"][0]["energy_per_sample_j"] = None
    r["phases"][0]["energy_per_token_j"] = None
    r["phases"][0]["energy_per_1k_requests_j"] = 1000 * energy / 10
    r["phases"][0]["energy_kwh"] = energy / 3.6e6
    r["phases"][0]["carbon"] = {
        "co2e_g": energy / 3.6e6 * 56.0,
        "pue": 1.0,
        "intensity_g_per_kwh": 56.0,
        "intensity_location": "France (FRA)",
        "intensity_source": "OWID",
        "intensity_year": 2023,
        "intensity_basis": "life-cycle",
        "intensity_kind": "country",
    }
    return r


def make_store(tmp_path, trials):
    tmp_path.mkdir(parents=True, exist_ok=True)
    s = Store.open(tmp_path / STORE_NAME)
    s.begin_study("r", CONFIG, PROV)
    for t in trials:
        s.append_trial(t)
    return s


def test_summary_and_missing_trials(tmp_path):
    s = make_store(
        tmp_path,
        [full("baseline", 0, 10.0, 0.8), full("baseline", 1, 14.0, 0.9), full("<b>evil</b>", 0, 5.0, 0.7)],
    )
    res = build_results(s)
    base = res.summary[0]
    assert base["accuracy"]["mean"] == pytest.approx(0.85) and base["accuracy"]["n"] == 2
    assert base["infer_energy_per_1k_requests_j"]["mean"] == 1200.0
    assert res.complete is False and res.missing_trials == [{"variant": "<b>evil</b>", "trial_index": 1}]


def test_files_are_written_and_user_strings_escaped(tmp_path):
    s = make_store(tmp_path, [full("baseline", 0, 10.0, 0.8), full("<b>evil</b>", 0, 5.0, 0.7)])
    paths = write_reports(s, tmp_path)
    assert [p.name for p in paths] == ["results.json", "results.csv", "report.html", "report.md", "emissions.csv"]
    html = (tmp_path / "report.html").read_text()
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt;" in html  # tables and figures' SVG text
    no_namespaces = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", html)
    assert "<script" not in html and "http" not in no_namespaces  # self-contained, no network
    assert sorted(f.name for f in (tmp_path / "figures").iterdir()) == sorted(
        f"{k}.png" for k in re.findall(r'<figure id="fig-([a-z0-9_]+)"', html)
    )
    md = (tmp_path / "report.md").read_text()
    assert "figures/quality_vs_energy.png" in md and "\\<b>" not in md
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 2 and rows[0]["cpu_method"] == "m" and float(rows[0]["energy_kwh"]) == 10.0 / 3.6e6
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == 2


def test_emissions_csv_has_codecarbon_columns_and_units(tmp_path):
    from wattcut.measure.emissions import CODECARBON_COLUMNS

    s = make_store(tmp_path, [full("baseline", 0, 36.0, 0.8)])
    write_reports(s, tmp_path)
    rows = list(csv.DictReader((tmp_path / "emissions.csv").open()))
    assert list(rows[0])[: len(CODECARBON_COLUMNS)] == CODECARBON_COLUMNS
    row = rows[0]
    assert float(row["cpu_energy"]) == pytest.approx(36.0 / 3.6e6)  # kWh, as CodeCarbon
    assert float(row["emissions"]) == pytest.approx(36.0 / 3.6e6 * 56.0 / 1000)  # kg
    assert float(row["cpu_power"]) == pytest.approx(36.0)  # 36 J over 1 s
    assert row["wattcut_cpu_method"] == "m" and row["wattcut_intensity_source"] == "OWID"
    assert row["experiment_id"] == "baseline/0/infer"


def test_24_17_the_quality_gate_is_the_non_inferiority_verdict_and_says_why():
    from wattcut.report.build import quality_gate

    summary = [
        {"variant": "baseline", "accuracy": {"mean": 0.85}},
        {"variant": "close", "accuracy": {"mean": 0.845}},  # mean inside a 1-point margin ...
        {"variant": "far", "accuracy": {"mean": 0.80}},
    ]
    decisive = {
        "close": {"non_inferior": False, "p_value": 0.2, "test": "item-level"},  # ... but not shown non-inferior
        "far": {"non_inferior": False, "p_value": 0.9, "test": "item-level"},
    }
    quality_gate(summary, margin=0.01, spec=ACCURACY, decisive=decisive)
    assert [r["quality_gate"]["status"] for r in summary] == ["baseline", "fail", "fail"]
    assert summary[1]["quality_delta"] == pytest.approx(-0.005)
    reason = summary[1]["quality_gate"]["reason"]
    assert "-0.50 points" in reason and "not shown non-inferior" in reason and "item-level paired, p = 0.2" in reason
    quality_gate(summary, margin=0.01, spec=ACCURACY, decisive={**decisive, "close": {"non_inferior": True}})
    assert summary[1]["quality_gate"]["status"] == "pass"


def test_quality_gate_for_a_lower_is_better_metric_names_the_relative_margin():
    from wattcut.report.build import quality_gate

    summary = [{"variant": "baseline", "perplexity": {"mean": 20.0}}, {"variant": "far", "perplexity": {"mean": 20.5}}]
    quality_gate(summary, margin=0.02, spec=PERPLEXITY, decisive={"far": {"non_inferior": False, "test": "per-trial"}})
    assert summary[1]["quality_gate"]["status"] == "fail"
    assert "2% rise in perplexity" in summary[1]["quality_gate"]["reason"]
    quality_gate(summary, margin=0.02, spec=PERPLEXITY)  # no test stored: unknown, never a pass
    assert summary[1]["quality_gate"]["status"] == "unknown"


def test_compare_two_stores_side_by_side(tmp_path, capsys):
    from wattcut.cli import main

    a = make_store(tmp_path / "a", [full("baseline", i, 10.0 + i, 0.8) for i in range(2)])
    b = make_store(tmp_path / "b", [full("baseline", i, 20.0 + 2 * i, 0.8) for i in range(2)])
    a.close(), b.close()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")]) == 0
    cmp = json.loads((tmp_path / "c" / "compare.json").read_text())
    energy = next(r for r in cmp["rows"] if r["metric"] == "energy_per_request_j")
    assert energy["ratio_b_over_a"] == pytest.approx(21.0 / 10.5)
    assert energy["test"]["test"].startswith("Welch") and energy["test"]["p_value"] is not None
    assert "mJ / request" in capsys.readouterr().out


def test_compare_refuses_a_folder_without_a_store(tmp_path):
    from wattcut.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2


def test_report_reprices_payback_for_another_traffic_and_grid(tmp_path):
    from wattcut.cli import main

    s = make_store(tmp_path, [full("baseline", 0, 10.0, 0.8), full("<b>evil</b>", 0, 5.0, 0.8)])
    s.close()
    assert main(["report", str(tmp_path), "--requests-per-day", "2000", "--grid", "FRA"]) == 0
    pb = json.loads((tmp_path / "results.json").read_text())["statistics"]["payback"]
    assert pb["requests_per_day"] == 2000 and "wattcut report" in pb["requests_per_day_source"]
    assert [g["grid"] for g in pb["grids"]] == ["FRA"]
    evil = pb["variants"]["<b>evil</b>"]
    assert evil["saving_per_year_kwh"] == pytest.approx((1.0 - 0.5) * 2000 * 365 / 3.6e6)  # 10 J vs 5 J per 10 req
    assert main(["report", str(tmp_path), "--grid", "Atlantis"]) == 2  # named, with the accepted forms


def test_report_rebuilds_a_study_shared_as_its_results_json_alone(tmp_path):
    """A results.json without its store: the store is rebuilt from its records, the files rewritten beside it."""
    import shutil
    from pathlib import Path

    from tests.recompute import check
    from wattcut.cli import main

    example = Path(__file__).resolve().parents[2] / "docs" / "example-report-llm-served" / "results.json"
    shutil.copy(example, tmp_path / "results.json")
    before = json.loads(example.read_text())
    assert main(["report", str(tmp_path)]) == 0  # a folder holding only results.json
    after = json.loads((tmp_path / "results.json").read_text())
    assert after["trials"] == before["trials"] and after["started_at"] == before["started_at"]
    assert after["config"] == before["config"] and after["provenance"] == before["provenance"]
    assert check(after) > 5 and (tmp_path / "report.md").is_file() and not (tmp_path / STORE_NAME).exists()
    (tmp_path / "bad.json").write_text('{"study": "x"}')
    assert main(["report", str(tmp_path / "bad.json")]) == 2  # not a wattcut results.json: named, exit 2
    damaged = dict(before, trials=[{k: v for k, v in t.items() if k != "variant"} for t in before["trials"]])
    (tmp_path / "damaged.json").write_text(json.dumps(damaged))
    assert main(["report", str(tmp_path / "damaged.json")]) == 2  # a record missing a field: exit 2, no traceback
    assert json.loads((tmp_path / "results.json").read_text()) == after  # the rebuilt files are left as they were
