"""The real CLI on the smoke study: real model, real data, real runtimes, real store."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

PHASE_FIELDS = {"phase", "duration_s", "samples", "tokens", "requests", "energy", "energy_j", "estimated"}
MODEL_FIELDS = {"parameters", "nonzero_parameters", "file_size_bytes", "runtime", "precision"}


def run_smoke(out, *extra):
    cmd = [sys.executable, "-m", "wattcut", "run", "examples/smoke.toml", "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    r = run_smoke(out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


def test_smoke_writes_the_four_files(smoke):
    out, _ = smoke
    for name in (
        "results.json",
        "results.csv",
        "report.html",
        "wattcut.sqlite",
        "config.resolved.toml",
        "emissions.csv",
        "report.md",
        "figures/quality_vs_energy.png",
    ):
        assert (out / name).is_file(), name


def test_every_record_has_the_contract_fields(smoke):
    out, _ = smoke
    res = json.loads((out / "results.json").read_text())
    assert res["schema_version"] == 2 and res["complete"] is True
    prov = res["provenance"]
    for key in ("wattcut_version", "git", "python", "packages", "cpu", "gpus", "hostname"):
        assert key in prov
    for pkg in ("torch", "transformers", "onnxruntime", "openvino"):
        assert prov["packages"][pkg]
    assert {"avx512_vnni", "amx_int8"} <= set(prov["cpu"]["flags"])
    assert res["config"]["variants"][2]["techniques"][0]["name"] == "prune_ffn_neurons"
    trials = res["trials"]
    assert len(trials) == 2 * 4
    for t in trials:
        assert {"variant", "techniques", "trial_index", "seed", "phases", "metrics", "model"} <= set(t)
        assert set(t["model"]) >= MODEL_FIELDS
        names = [p["phase"] for p in t["phases"]]
        assert names[-2:] == ["evaluate", "infer"]
        assert ("train" in names) == (t["variant"] == "baseline")
        assert ("compress" in names) == (t["variant"] != "baseline")
        # a baseline fine-tuned per trial: every variant, deterministic techniques included, is rebuilt per trial
        assert t["build"] == {"once_per_study": False, "trial_index": t["trial_index"], "reused": False}
        for p in t["phases"]:
            assert set(p) >= PHASE_FIELDS
            assert p["duration_s"] > 0
            assert p["samples"] > 0 or p["phase"] == "compress"  # data-free techniques process no samples
            assert {"cpu", "ram"} <= set(p["energy"])
            for comp in p["energy"].values():
                assert isinstance(comp["method"], str) and comp["method"]
                assert isinstance(comp["estimated"], bool)
                assert comp["energy_j"] is None or comp["energy_j"] >= 0
                assert "net_energy_j" in comp and comp["uncertainty_rel"] > 0 and comp["source"]
            c = p["carbon"]
            assert c["co2e_g"] == pytest.approx(p["energy_kwh"] * c["pue"] * c["intensity_g_per_kwh"])
            assert c["intensity_source"] and c["intensity_year"] and c["intensity_basis"] and c["pue"] >= 1
        idle = t["idle_baseline"]
        assert idle["duration_s"] >= 1.0 and set(idle["power_w"]) >= {"cpu", "ram"}
        assert {
            "accuracy",
            "f1_macro",
            "f1_weighted",
            "precision_macro",
            "recall_macro",
            "roc_auc",
            "confusion_matrix",
        } <= set(t["metrics"])
    seeds = {t["trial_index"]: t["seed"] for t in trials}
    assert seeds == {0: 0, 1: 1}
    int8 = next(t for t in trials if t["variant"] == "ffn-50+ort-int8")
    assert int8["model"]["runtime"] == "onnxruntime"
    steps = [p["step"] for p in int8["phases"] if p["phase"] == "compress"]
    assert steps == ["1:prune_ffn_neurons", "2:ort_int8_dynamic"]


def test_statistics_and_recommendation_are_in_the_results(smoke):
    out, _ = smoke
    res = json.loads((out / "results.json").read_text())
    stats = res["statistics"]
    assert set(stats["per_variant"]) == {"baseline", "l1-unstructured-50", "ffn-neurons-50", "ffn-50+ort-int8"}
    assert stats["per_variant"]["baseline"]["accuracy"]["n"] == 2
    rec, ref = stats["recommendation"], stats["reference_accuracy"]
    assert ref["degenerate"] == (stats["per_variant"]["baseline"]["accuracy"]["mean"] <= ref["majority_class_accuracy"])
    if ref["degenerate"]:  # 128 training rows may teach MiniLM nothing: then nothing is recommended, and it says so
        assert rec["variant"] is None and "majority class" in rec["reason"]
    else:
        assert rec["variant"] in stats["per_variant"] and rec["reason"]
    html = (out / "report.html").read_text()
    assert "Recommendation:" in html


def test_csv_has_one_row_per_trial_and_phase(smoke):
    out, _ = smoke
    res = json.loads((out / "results.json").read_text())
    lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(lines) - 1 == sum(len(t["phases"]) for t in res["trials"])


def test_resolved_config_is_echoed_and_reloads(smoke):
    out, r = smoke
    from wattcut.experiment import load_experiment

    cfg = load_experiment(out / "config.resolved.toml")
    assert cfg.name == "smoke" and cfg.out == str(out)
    assert 'name = "smoke"' in r.stderr


def test_kill_during_second_trial_keeps_finished_trials_then_resumes(tmp_path):
    # the smoke study without its ONNX variant: two compressed variants are enough to be killed between
    smoke = (REPO / "examples" / "smoke.toml").read_text(encoding="utf-8")
    exp = tmp_path / "kill.toml"
    exp.write_text(smoke[: smoke.index('[[variants]]\nname = "ffn-50+ort-int8"')], encoding="utf-8")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "wattcut", "run", str(exp), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "wattcut.sqlite"
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.is_file():
            try:
                with sqlite3.connect(db, timeout=0.1) as c:
                    done = c.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
            except sqlite3.OperationalError:
                continue
        if done >= 3:  # trial 1 committed; trial 2 is fine-tuning now (its records land together, after its round)
            time.sleep(1.0)
            break
    assert proc.poll() is None, "study ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = c.execute("SELECT variant, trial_index, record_json FROM trials").fetchall()
    assert len(rows) >= 3 and all(json.loads(r[2])["phases"] for r in rows)
    assert {(v, t) for v, t, _ in rows if t == 0} == {("baseline", 0), ("l1-unstructured-50", 0), ("ffn-neurons-50", 0)}
    c.close()

    rep = subprocess.run([sys.executable, "-m", "wattcut", "report", str(out)], cwd=REPO, capture_output=True)
    assert rep.returncode == 0
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] is False and len(res["missing_trials"]) == 6 - len(rows)

    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming" in again.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] is True and len(res["trials"]) == 6


def test_every_statistic_recomputes_from_results_json(smoke):
    from tests.recompute import check

    out, _ = smoke
    results = json.loads((out / "results.json").read_text())
    assert check(results) > 10  # means, SDs, CI bounds and p-values were actually compared


def test_24_21_every_estimated_energy_in_results_json_carries_its_range(smoke):
    out, _ = smoke
    res = json.loads((out / "results.json").read_text())
    estimated, missing = 0, []

    def walk(node, where):
        nonlocal estimated
        if isinstance(node, dict):
            if node.get("estimated") is True and node.get("energy_j") is not None:
                estimated += 1
                if node.get("low_j") is None or node.get("high_j") is None:
                    missing.append(where)
                elif not node["low_j"] <= node["energy_j"] <= node["high_j"]:
                    missing.append(f"{where} (outside its range)")
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(res["trials"], "trials")
    assert estimated > 0 and not missing, f"{len(missing)} of {estimated}: {missing[:5]}"


def test_27_4_smoke_study_is_logged_to_mlflow_and_read_back(smoke, tmp_path):
    pytest.importorskip("mlflow")
    from tests.unit.test_mlflow_log import check_logged

    out, _ = smoke
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "mlflow", str(out), "--tracking-uri", uri, "--experiment", "smoke"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    check_logged(out, uri, "smoke")
    assert not (tmp_path / "mlruns").exists()
