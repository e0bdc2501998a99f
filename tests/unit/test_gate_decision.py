"""The gate's decision rule on synthetic paired figures: each boundary, and the rounds estimate."""

import math

import pytest
from scipy import stats

from wattcut.stats.gate import decide, energy_check, quality_check


def paired(mean_log, sd, n):
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return {
        "n_pairs": n, "mean_log_ratio": mean_log, "sd_log_ratio": sd, "ratio": math.exp(mean_log),
        "ci95_low": math.exp(mean_log - half), "ci95_high": math.exp(mean_log + half),
    }  # fmt: skip


def test_energy_not_worse_regression_and_inconclusive():
    assert energy_check(paired(0.0, 0.05, 12), 0.10).verdict == "not worse"
    assert energy_check(paired(math.log(1.5), 0.05, 6), 0.10).verdict == "regression"
    undecided = energy_check(paired(0.0, 0.10, 6), 0.001)
    assert undecided.verdict == "inconclusive" and undecided.more_rounds > 100
    # the estimate: at n = 6 + more rounds the CI's half-width would reach the distance to the margin
    n = 6 + undecided.more_rounds
    assert stats.t.ppf(0.975, n - 1) * 0.10 / math.sqrt(n) <= math.log(1.001) + 1e-9
    assert energy_check(None, 0.1).verdict == "inconclusive"


def test_an_interval_over_trial_means_asks_for_trials_not_rounds():
    e = energy_check({**paired(0.0, 0.10, 6), "basis": "trials", "n_trials": 3}, 0.001)
    assert e.verdict == "inconclusive" and e.more_rounds is None and e.by_trials
    ni = {"mean_diff": 0.0, "lower_bound": -0.001, "margin": 0.01, "n_items": 500, "scale": "absolute"}
    stats_ = {"paired": {"candidate": {"energy_per_request_j": {**paired(0.0, 0.10, 6), "basis": "trials"}}},
              "non_inferiority": {"candidate": ni}}  # fmt: skip
    d = decide(stats_, "candidate", 0.001)
    assert d.verdict == "inconclusive" and any("more trials (not more rounds)" in r for r in d.reasons)


def test_quality_uses_both_one_sided_bounds():
    ni = {"mean_diff": -0.002, "lower_bound": -0.006, "margin": 0.01, "n_items": 500, "scale": "absolute"}
    assert quality_check(ni, "accuracy").verdict == "non-inferior"
    worse = {"mean_diff": -0.05, "lower_bound": -0.07, "margin": 0.01, "n_items": 500, "scale": "absolute"}
    q = quality_check(worse, "accuracy")
    assert q.verdict == "regression" and q.upper_bound == pytest.approx(-0.03)
    unsure = {"mean_diff": -0.01, "lower_bound": -0.03, "margin": 0.01, "n_items": 50, "scale": "absolute"}
    assert quality_check(unsure, "accuracy").verdict == "inconclusive"


def statistics(energy, ni):
    return {"metric_spec": {"label": "accuracy"}, "paired": {"candidate": {"energy_per_request_j": energy}},
            "non_inferiority": {"candidate": ni}}  # fmt: skip


GOOD_NI = {"mean_diff": 0.0, "lower_bound": 0.0, "margin": 0.01, "n_items": 100, "scale": "absolute"}


@pytest.mark.parametrize(
    ("energy", "ni", "verdict", "code"),
    [
        (paired(0.0, 0.05, 12), GOOD_NI, "pass", 0),
        (paired(math.log(1.5), 0.05, 6), GOOD_NI, "regression", 1),
        (paired(0.0, 0.05, 12), {**GOOD_NI, "mean_diff": -0.1, "lower_bound": -0.12}, "regression", 1),
        (paired(0.0, 0.2, 6), GOOD_NI, "inconclusive", 3),
    ],
)
def test_decision_and_exit_codes(energy, ni, verdict, code):
    d = decide(statistics(energy, ni), "candidate", 0.10)
    assert (d.verdict, d.exit_code) == (verdict, code)
    assert d.to_dict()["energy"]["n_pairs"] == energy["n_pairs"]


def test_a_candidate_that_failed_is_a_regression():
    d = decide(statistics(None, None), "candidate", 0.1, failed="build: out of memory")
    assert d.exit_code == 1 and "out of memory" in d.reasons[0]
