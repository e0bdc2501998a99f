"""Statistics, payback and deployment carbon computed from stored trials."""

import math

import pytest

from tests.recompute import check
from tests.records import trials as as_trials
from wattcut.measure import carbon
from wattcut.stats.decide import study_statistics
from wattcut.stats.payback import payback

CONFIG = {
    "variants": [{"name": "int8"}, {"name": "pruned"}],
    "evaluate": {"quality_margin": 0.01},
    "carbon": {"pue": 1.2},
    "deploy": {"requests_per_day": 50_000.0, "grids": ["electricitymaps-2024:FRA", "WORLD"]},
}


def _trial(variant, i, acc, infer_j, compress_j=None, calibrate_j=None, duration=None):
    phases = []
    if variant == "baseline":
        phases.append({"phase": "train", "parent": None, "energy_j": 500.0, "requests": 0, "duration_s": 10.0})
    if calibrate_j is not None:  # nested inside compress: part of it, never added
        phases.append({"phase": "calibrate", "parent": "compress", "energy_j": calibrate_j, "duration_s": 1.0})
    if compress_j is not None:
        phases.append({"phase": "compress", "parent": None, "energy_j": compress_j, "duration_s": 2.0})
    phases += [
        {"phase": "evaluate", "parent": None, "energy_j": 30.0, "requests": 0, "duration_s": 3.0},
        {"phase": "infer", "parent": None, "energy_j": infer_j, "requests": 200, "duration_s": duration or infer_j / 8},
    ]
    return {
        "variant": variant,
        "trial_index": i,
        "metrics": {"accuracy": acc},
        "latency": {"p50_ms": 5.0 + infer_j / 10 + 0.1 * i},
        "phases": phases,
    }


def _study(n=3):
    trials = []
    for i in range(n):
        a = 0.80 + 0.01 * (i % 3) + 0.001 * i
        trials += [
            _trial("baseline", i, a, 40.0 + i),
            _trial("int8", i, a - 0.002 + 0.001 * (i % 2), 10.0 + 0.5 * i, compress_j=120.0 + i, calibrate_j=60.0),
            _trial("pruned", i, a - 0.05, 20.0 + 0.2 * i * i, compress_j=30.0),
        ]
    return trials


def test_statistics_recompute_independently_with_scipy():
    trials = _study(8)
    s = study_statistics(CONFIG, as_trials(trials))
    boot = s["per_variant"]["baseline"]["accuracy"]["bootstrap"]
    assert boot["ci95_low"] is not None and 0 <= boot["ci95_low"] <= boot["ci95_high"] <= 1
    n = check({"statistics": s, "trials": trials})
    assert n > 40


def test_few_trials_get_no_bootstrap_and_say_why():
    s = study_statistics(CONFIG, as_trials(_study(3)))
    boot = s["per_variant"]["int8"]["accuracy"]["bootstrap"]
    assert boot["ci95_low"] is None and "at least 8" in boot["note"]


def test_missing_trial_falls_back_to_welch_and_still_recomputes():
    trials = [t for t in _study(4) if not (t["variant"] == "pruned" and t["trial_index"] == 1)]
    s = study_statistics(CONFIG, as_trials(trials))
    c = s["vs_baseline"]["pruned"]["energy_per_request_j"]
    assert c["test"].startswith("Welch") and "unpaired" in c["note"] and c["effect_size_hedges_g"] is not None
    assert s["vs_baseline"]["int8"]["energy_per_request_j"]["test"].startswith("paired")
    check({"statistics": s, "trials": trials})


def test_energy_vs_runtime_fit_and_efficiency_ratio():
    trials = _study(3)
    s = study_statistics(CONFIG, as_trials(trials))
    fit = s["energy_vs_runtime"]
    assert fit["n"] == 9 and fit["slope"] == pytest.approx(8.0) and fit["r"] == pytest.approx(1.0)
    eff = s["per_variant"]["int8"]["accuracy_per_j"]["mean"]
    expected = sum(
        t["metrics"]["accuracy"] / (t["phases"][-1]["energy_j"] / 200) for t in trials if t["variant"] == "int8"
    )
    assert eff == pytest.approx(expected / 3)


def test_payback_reproduces_from_stored_phase_energies():
    trials = _study(3)
    pb = payback(CONFIG, as_trials(trials))
    int8 = pb["variants"]["int8"]
    base_req = sum(40.0 + i for i in range(3)) / 3 / 200
    var_req = sum(10.0 + 0.5 * i for i in range(3)) / 3 / 200
    one_off = sum(120.0 + i for i in range(3)) / 3  # compress only: calibrate is inside it, train is shared
    assert int8["one_off_energy_j"] == pytest.approx(one_off)
    assert int8["saving_per_request_j"] == pytest.approx(base_req - var_req)
    assert int8["break_even_requests"] == pytest.approx(one_off / (base_req - var_req))
    assert int8["break_even_days"] == pytest.approx(int8["break_even_requests"] / 50_000)
    kwh = (base_req - var_req) * 50_000 * 365 / 3.6e6
    assert int8["saving_per_year_kwh"] == pytest.approx(kwh)
    fra = carbon.grid("electricitymaps-2024:FRA").g_per_kwh
    assert fra == 33.44
    assert int8["saving_per_year_kg_co2e"]["electricitymaps-2024:FRA"] == pytest.approx(kwh * fra * 1.2 / 1000)


def test_deployment_co2e_per_grid_with_source_and_year():
    pb = payback(CONFIG, as_trials(_study(3)))
    world = next(g for g in pb["grids"] if g["grid"] == "WORLD")
    assert world["year"] and "IEA" in world["source"]
    base = pb["variants"]["baseline"]
    e = base["energy_per_request_j"]
    row = next(d for d in base["deployment"] if d["grid"] == "WORLD")
    assert row["co2e_per_1k_requests_g"] == pytest.approx(1000 * e / 3.6e6 * world["g_per_kwh"] * 1.2)
    assert row["co2e_per_year_kg"] == pytest.approx(e * 50_000 * 365 / 3.6e6 * world["g_per_kwh"] * 1.2 / 1000)


def test_a_variant_that_saves_nothing_never_pays_back():
    trials = _study(3)
    for t in trials:
        if t["variant"] == "pruned":
            t["phases"][-1]["energy_j"] = 60.0
    pruned = payback(CONFIG, as_trials(trials))["variants"]["pruned"]
    assert pruned["break_even_requests"] is None and "never paid back" in pruned["note"]
    assert not math.isnan(pruned["saving_per_request_j"]) and pruned["saving_per_request_j"] < 0


def test_old_store_without_deploy_is_priced_at_defaults_and_labelled():
    config = {k: v for k, v in CONFIG.items() if k != "deploy"}
    pb = payback(config, as_trials(_study(3)))
    assert pb["requests_per_day"] == 100_000 and "default" in pb["requests_per_day_source"]
    assert [g["grid"] for g in pb["grids"]][-1] == "WORLD" and len(pb["grids"]) == 5


def test_payback_built_on_estimated_energy_says_so_and_by_which_method():
    trials = _study(3)
    assert not payback(CONFIG, as_trials(trials))["estimated"]  # no phase is an estimate here
    for t in trials:
        for p in t["phases"]:
            if p["phase"] == "infer" and t["variant"] == "int8":
                p["estimated"] = True
                p["energy"] = {"cpu": {"method": "cpu-time-model"}, "ram": None}
    pb = payback(CONFIG, as_trials(trials))
    assert pb["estimated"] and pb["variants"]["int8"]["estimated"]
    assert pb["variants"]["int8"]["methods"] == ["cpu-time-model"] and not pb["variants"]["pruned"]["estimated"]


def test_a_variant_started_from_its_own_model_is_charged_its_own_training():
    """The baseline's fine-tuning is shared by the variants derived from it; a compact model's is its own cost."""
    trials = _study(3)
    for t in trials:
        if t["variant"] == "pruned":
            t["phases"].insert(0, {"phase": "train", "parent": None, "energy_j": 200.0, "duration_s": 5.0})
            t["derived_from"] = {"model": "efficientnet_lite0", "trial_index": t["trial_index"]}
        if t["variant"] == "int8":  # derived from the baseline: a train window would not be charged
            t["phases"].insert(0, {"phase": "train", "parent": None, "energy_j": 999.0, "duration_s": 5.0})
            t["derived_from"] = {"variant": "baseline", "trial_index": t["trial_index"]}
    pb = payback(CONFIG, as_trials(trials))["variants"]
    assert pb["pruned"]["one_off_energy_j"] == pytest.approx(200.0 + 30.0)  # its training and its compression
    assert pb["int8"]["one_off_energy_j"] == pytest.approx(sum(120.0 + i for i in range(3)) / 3)
