"""The noise floor from metered sentinel runs, and the CodeCarbon cross-check over the same windows."""

import math
import time

import pytest
from scipy import stats

from tests.fakes.meters import ReplayMeter
from wattcut.measure.base import PhaseRecord, merge
from wattcut.measure.crosscheck import CodeCarbonCrosscheck
from wattcut.measure.session import EnergySession
from wattcut.report.estimates import crosscheck_rows, method_lines
from wattcut.stats.noise import noise_floor


def trial(variant, sentinel):
    return {"variant": variant, "contention": {"sentinel_energy_per_request_j": sentinel}}


def test_noise_floor_recomputes_from_the_sentinel_pairs():
    runs = [[1.00, 1.10], [0.50, 0.48], [2.0, 2.0, 2.0, 2.2]]  # the third trial repeated its round once
    trials = [trial("baseline", r) for r in runs] + [trial("v", [1.0, 9.0])]  # other variants do not count
    nf = noise_floor(trials, n_rounds=10)
    d = [math.log(1.10), math.log(0.48 / 0.50), 0.0, math.log(1.1)]
    sigma = math.sqrt(sum(x * x for x in d) / (2 * len(d)))
    assert nf["pairs"] == 4 and nf["sigma_log"] == pytest.approx(sigma)
    assert nf["spread_pct"] == pytest.approx(100 * math.expm1(sigma))
    lo = sigma * math.sqrt(4 / stats.chi2.ppf(0.975, 4))
    assert nf["spread_ci95_pct"][0] == pytest.approx(100 * math.expm1(lo))
    half = stats.t.ppf(0.975, 9) * sigma * math.sqrt(2 / 10)
    assert nf["resolvable_pct"] == pytest.approx(100 * math.expm1(half))
    text = " ".join(method_lines({"statistics": {"noise_floor": nf}, "trials": trials}))
    assert f"differences below {nf['resolvable_pct']:.1f}%" in text and "cannot be resolved" in text
    assert noise_floor([trial("baseline", [])], 5) is None


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
    rows = crosscheck_rows({"trials": [{"phases": [phase, phase]}]})
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
