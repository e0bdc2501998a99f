"""The noise floor from metered sentinel runs, and the CodeCarbon cross-check over the same windows."""

import math
import time

import pytest
from scipy import stats

from tests.fakes.meters import ReplayMeter
from tests.records import results as as_results
from tests.records import trials as as_trials
from wattcut.measure.base import PhaseRecord, merge
from wattcut.measure.crosscheck import CodeCarbonCrosscheck
from wattcut.measure.session import EnergySession
from wattcut.report.estimates import crosscheck_rows, method_lines
from wattcut.stats.noise import noise_floor


def trial(variant, sentinel):
    contention = {"sentinel_requests": 4, "drift_rel": None, "drift_threshold": 0.1, "rounds": 1}
    return {"variant": variant, "contention": {**contention, "sentinel_energy_per_request_j": sentinel}}


def test_24_16_noise_floor_is_the_paired_round_spread_and_agrees_with_each_ci():
    from wattcut.stats.paired import log_ratio

    rng = __import__("random").Random(0)
    base = {(0, r): 1.0 + 0.3 * rng.random() for r in range(10)}  # the machine drifts between rounds ...
    paired = {
        v: {"energy_per_request_j": log_ratio(base, {k: x * f * (1 + 0.05 * rng.random()) for k, x in base.items()})}
        for v, f in (("a", 0.25), ("b", 0.5))  # ... and each variant's ratio to the baseline moves only a little
    }
    runs = [[1.00, 2.40], [0.50, 0.48]]  # the sentinel moved a lot: a drift check, not the ratios' error
    trials = [trial("baseline", r) for r in runs] + [trial("v", [1.0, 9.0])]
    nf = noise_floor(as_trials(trials), paired)
    sds = [p["energy_per_request_j"]["sd_log_ratio"] for p in paired.values()]
    pooled = math.sqrt(sum(s * s for s in sds) / 2)
    assert nf["design"] == "paired rounds" and nf["sigma_log"] == pytest.approx(pooled) and nf["rounds"] == 10
    lo = pooled * math.sqrt(18 / stats.chi2.ppf(0.975, 18))
    assert nf["spread_ci95_pct"][0] == pytest.approx(100 * math.expm1(lo))
    half = stats.t.ppf(0.975, 9) * pooled / math.sqrt(10)
    assert nf["resolvable_pct"] == pytest.approx(100 * math.expm1(half))
    for p in paired.values():  # the sentence's half-width is each CI's, up to the pooling of the SDs
        r = p["energy_per_request_j"]
        own = stats.t.ppf(0.975, 9) * r["sd_log_ratio"] / math.sqrt(10)
        assert math.log(r["ci95_high"] / r["ratio"]) == pytest.approx(own)
    assert nf["sentinel"]["pairs"] == 2 and nf["sentinel"]["spread_pct"] > nf["spread_pct"]
    text = " ".join(method_lines(as_results({"statistics": {"noise_floor": nf}, "trials": trials})))
    assert f"ratios within {nf['resolvable_pct']:.1f}% of 1 cannot be resolved" in text
    assert "Drift check" in text and "not the error of the ratios" in text
    assert noise_floor(as_trials([trial("baseline", [])]), {}) is None


def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_codecarbon_sees_the_same_top_level_windows():
    cc = CodeCarbonCrosscheck()
    session = EnergySession([ReplayMeter("cpu", [1.0, 2.0, 3.0, 4.0], estimated=True)], crosscheck=cc)
    try:
        with session.phase("compress"):
            busy(0.2)
            with session.phase("calibrate"):  # nested: CodeCarbon tasks do not nest, so not cross-checked
                busy(0.1)
        for _ in range(2):
            with session.phase("infer"):
                busy(0.1)
    finally:
        session.close()
    calibrate, compress, *rounds = session.take()  # a nested window closes first
    assert calibrate.phase == "calibrate" and calibrate.crosscheck is None
    assert compress.crosscheck["tool"].startswith("codecarbon 3.")
    assert compress.crosscheck["cpu_j"] > 0 and compress.crosscheck["ram_j"] > 0
    assert compress.crosscheck["duration_s"] == pytest.approx(compress.duration_s, abs=0.05)
    infer = merge(rounds)  # the rounds' cross-check figures add up like the meters'
    assert infer.crosscheck["cpu_j"] == pytest.approx(sum(r.crosscheck["cpu_j"] for r in rounds))
    assert merge([PhaseRecord("infer", 1.0), *rounds]).crosscheck is None  # one window without: no sum


def test_crosscheck_rows_put_both_tools_side_by_side():
    phase = {
        "phase": "infer",
        "parent": None,
        "energy": {"cpu": {"energy_j": 2.0}, "ram": {"energy_j": 0.5}},
        "crosscheck": {"tool": "codecarbon 3.3.2", "cpu_j": 3.0, "ram_j": 5.0},
    }
    rows = crosscheck_rows(as_results({"trials": [{"phases": [phase, phase]}]}))
    assert rows == [
        {
            "phase": "infer",
            "windows": 2,
            "tool": "codecarbon 3.3.2",
            "wattcut_cpu_j": 4.0,
            "crosscheck_cpu_j": 6.0,
            "cpu_ratio": 1.5,
            "wattcut_ram_j": 1.0,
            "crosscheck_ram_j": 10.0,
            "ram_ratio": 10.0,
        }
    ]
