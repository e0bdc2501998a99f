import pytest
from scipy import stats

from tests.records import trials as as_trials
from wattcut.stats.decide import recommend, study_statistics
from wattcut.stats.summary import describe, holm, non_inferiority, paired, pareto


def test_describe_matches_scipy_t_interval():
    xs = [0.81, 0.83, 0.80]
    d = describe(xs)
    lo, hi = stats.t.interval(0.95, len(xs) - 1, loc=stats.tmean(xs), scale=stats.sem(xs))
    assert d["mean"] == pytest.approx(stats.tmean(xs), abs=1e-12)
    assert d["sd"] == pytest.approx(stats.tstd(xs), abs=1e-12)
    assert (d["ci95_low"], d["ci95_high"]) == (pytest.approx(lo, abs=1e-9), pytest.approx(hi, abs=1e-9))
    assert describe([1.0])["sd"] is None and describe([])["mean"] is None


def test_paired_matches_scipy_ttest_rel_and_pairs_by_trial_index():
    base = {0: 0.80, 1: 0.82, 2: 0.81}
    var = {2: 0.80, 0: 0.78, 1: 0.815}  # order must not matter
    r = paired(base, var)
    ref = stats.ttest_rel([0.78, 0.815, 0.80], [0.80, 0.82, 0.81])
    assert r["t"] == pytest.approx(ref.statistic, abs=1e-9) and r["p_value"] == pytest.approx(ref.pvalue, abs=1e-9)
    assert paired(base, {0: 0.7})["p_value"] is None  # one pair: no test


def test_holm_step_down():
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": None})
    assert adj == {"a": pytest.approx(0.03), "b": pytest.approx(0.06), "c": pytest.approx(0.06), "d": None}


def test_non_inferiority_one_sided():
    base = {0: 0.80, 1: 0.82, 2: 0.81, 3: 0.83}
    close = {0: 0.799, 1: 0.821, 2: 0.808, 3: 0.829}  # differences ~ -0.001
    far = {0: 0.75, 1: 0.78, 2: 0.76, 3: 0.77}
    ok = non_inferiority(base, close, margin=0.01)
    diffs = [close[k] - base[k] for k in range(4)]
    t = (stats.tmean(diffs) + 0.01) / stats.sem(diffs)
    assert ok["p_value"] == pytest.approx(stats.t.sf(t, 3), abs=1e-9) and ok["non_inferior"]
    assert not non_inferiority(base, far, margin=0.01)["non_inferior"]
    assert not non_inferiority({0: 0.8}, {0: 0.8}, margin=0.01)["non_inferior"]  # one pair proves nothing


def test_pareto_front():
    pts = {"base": (0.82, 0.20), "int8": (0.81, 0.05), "bad": (0.80, 0.10), "same": (0.82, 0.25)}
    assert sorted(pareto(pts)) == ["base", "int8"]


def _trial(variant, i, acc, joules):
    return {
        "variant": variant,
        "trial_index": i,
        "metrics": {"accuracy": acc},
        "latency": {"p50_ms": 10.0 + 0.37 * i * i + len(variant)},
        "phases": [{"phase": "infer", "energy_j": joules, "requests": 100, "duration_s": 1.0}],
    }


def test_recommendation_picks_lowest_energy_among_non_inferior():
    config = {"variants": [{"name": "int8"}, {"name": "pruned"}], "evaluate": {"quality_margin": 0.01}}
    trials = []
    for i, a in enumerate([0.80, 0.82, 0.81]):
        trials += [
            _trial("baseline", i, a, 20.0 + i),
            _trial("int8", i, a - 0.001 * (i + 1), 5.0 + 0.3 * i * i),
            _trial("pruned", i, a - 0.08, 2.0),
        ]
    s = study_statistics(config, as_trials(trials))
    rec = s["recommendation"]
    assert rec["variant"] == "int8" and "non-inferior" in rec["reason"]
    assert "pruned" not in rec["eligible"]  # cheapest, but 8 points worse


def test_no_variant_qualifies_keeps_the_baseline_and_says_so():
    per = {"baseline": {"energy_per_request_j": {"mean": 0.2}}, "v": {"energy_per_request_j": {"mean": 0.1}}}
    comps = {"v": {"accuracy_non_inferiority": {"non_inferior": False}}}
    rec = recommend(per, comps, 0.01)
    assert rec["variant"] == "baseline" and "no compressed variant was shown non-inferior" in rec["reason"]


def test_exact_energy_tie_goes_to_the_more_accurate_variant_and_says_so():
    per = {
        "baseline": {"energy_per_request_j": {"mean": 0.2}, "accuracy": {"mean": 0.85}},
        "a": {"energy_per_request_j": {"mean": 0.1}, "accuracy": {"mean": 0.84}},
        "b": {"energy_per_request_j": {"mean": 0.1}, "accuracy": {"mean": 0.849}},
    }
    ni = {"non_inferior": True, "mean_diff": -0.001, "lower_bound": -0.005, "p_value": 0.01}
    comps = {"a": {"accuracy_non_inferiority": ni}, "b": {"accuracy_non_inferiority": ni}}
    rec = recommend(per, comps, 0.01)
    assert rec["variant"] == "b" and rec["tied_with"] == ["a"] and "ties exactly on energy with a" in rec["reason"]


def test_statistical_tie_on_energy_is_named_in_the_reason():
    per = {
        "baseline": {"energy_per_request_j": {"mean": 0.2}, "accuracy": {"mean": 0.85}},
        "a": {"energy_per_request_j": {"mean": 0.10, "ci95_high": 0.13}, "accuracy": {"mean": 0.84}},
        "b": {"energy_per_request_j": {"mean": 0.12}, "accuracy": {"mean": 0.849}},
    }
    ni = {"non_inferior": True, "mean_diff": -0.001, "lower_bound": -0.005, "p_value": 0.01}
    rec = recommend(per, {"a": {"accuracy_non_inferiority": ni}, "b": {"accuracy_non_inferiority": ni}}, 0.01)
    assert rec["variant"] == "a" and rec["tied_with"] == ["b"] and "statistically tied on energy" in rec["reason"]
