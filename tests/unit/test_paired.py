"""Item-level and per-round paired tests: decisions, edge cases, and an independent recomputation."""

import math

import numpy as np
import pytest

from tests.recompute import check
from tests.records import trials as as_trials
from wattcut.stats.decide import study_statistics
from wattcut.stats.paired import item_non_inferiority, log_ratio

CONFIG = {
    "variants": [{"name": "copy"}, {"name": "int8"}, {"name": "worse"}],
    "evaluate": {"quality_margin": 0.01},
    "carbon": {"pue": 1.0},
    "deploy": {"requests_per_day": 1000.0, "grids": ["WORLD"]},
}
ITEMS, ROUNDS = 872, 5


def _record(variant, trial, pred, gold, energy_per_request):
    rounds = [
        {
            "round": r,
            "position": 0,
            "requests": 40,
            "duration_s": 1.0,
            "cpu_time_s": 1.0,
            "energy_j": 40 * e,
            "energy_per_request_j": e,
            "latency_mean_ms": 1000 * e / 8,
            "latency_p50_ms": 1.0,
        }
        for r, e in enumerate(energy_per_request)
    ]
    total = sum(r["energy_j"] for r in rounds)
    acc = float(np.mean(np.asarray(pred) == np.asarray(gold)))
    return {
        "variant": variant,
        "trial_index": trial,
        "task": "sequence_classification",
        "energy_task": "sequence_classification",
        "metrics": {"accuracy": acc},
        "latency": {"p50_ms": 1.0},
        "phases": [
            {
                "phase": "infer",
                "step": "sequence_classification",
                "parent": None,
                "energy_j": total,
                "requests": 40 * len(rounds),
                "duration_s": float(len(rounds)),
            }
        ],
        "tasks": {
            "sequence_classification": {
                "items": {"gold": list(gold), "pred": list(pred)},
                "rounds": rounds,
            }
        },
    }


def _study(seed=0, trials=3):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, ITEMS)
    out = []
    for t in range(trials):
        base = np.where(rng.random(ITEMS) < 0.88, gold, 1 - gold)  # 88% right
        drift = 1 + 0.02 * rng.standard_normal(ROUNDS)  # the machine's round-to-round drift hits everyone
        e_base = 0.010 * drift * (1 + 0.01 * rng.standard_normal(ROUNDS))
        out.append(_record("baseline", t, base, gold, e_base))
        # an unchanged copy: same predictions, same energy up to noise
        out.append(_record("copy", t, base, gold, 0.010 * drift * (1 + 0.01 * rng.standard_normal(ROUNDS))))
        flips = rng.random(ITEMS) < 0.01  # INT8: 1% of items flip, either way
        out.append(
            _record(
                "int8",
                t,
                np.where(flips, 1 - base, base),
                gold,
                0.003 * drift * (1 + 0.01 * rng.standard_normal(ROUNDS)),
            )
        )
        worse = np.where(rng.random(ITEMS) < 0.06, 1 - gold, base)  # ~5 points worse
        out.append(_record("worse", t, worse, gold, 0.002 * drift))
    return out


def test_copy_is_non_inferior_with_an_energy_ratio_ci_containing_one():
    trials = _study()
    st = study_statistics(CONFIG, as_trials(trials))
    copy = st["paired"]["copy"]
    assert copy["quality"]["non_inferior"] and copy["quality"]["mean_diff"] == 0.0
    assert copy["quality"]["n_items"] == ITEMS and copy["quality"]["n_trials"] == 3
    e = copy["energy_per_request_j"]
    assert e["n_pairs"] == 3 * ROUNDS and e["ci95_low"] < 1 < e["ci95_high"]
    assert check({"statistics": st, "trials": trials}) > 20


def test_int8_is_proven_non_inferior_and_cheaper_where_three_trial_means_cannot():
    trials = _study()
    st = study_statistics(CONFIG, as_trials(trials))
    int8 = st["paired"]["int8"]
    assert int8["quality"]["non_inferior"]
    assert 0.28 < int8["energy_per_request_j"]["ratio"] < 0.32 and int8["energy_per_request_j"]["p_holm"] < 1e-6
    assert not st["paired"]["worse"]["quality"]["non_inferior"]
    rec = st["recommendation"]
    assert rec["variant"] == "int8" and "item-level paired t" in rec["reason"] and "95% CI" in rec["reason"]
    assert st["non_inferiority"]["int8"]["test"] == "item-level"
    # the per-trial analysis is kept beside it
    assert "accuracy_non_inferiority" in st["vs_baseline"]["int8"]


def test_one_trial_item_test_is_the_paired_proportions_wald_interval():
    rng = np.random.default_rng(1)
    b, v = rng.integers(0, 2, 500).astype(float), rng.integers(0, 2, 500).astype(float)
    out = item_non_inferiority({0: {"score": b}}, {0: {"score": v}}, "accuracy", 0.01, "absolute", True)
    d = v - b
    n10, n01 = int((d > 0).sum()), int((d < 0).sum())
    # mean and variance of the paired difference from the discordant counts (McNemar's table)
    mean = (n10 - n01) / 500
    var = ((n10 + n01) / 500 - mean**2) * 500 / 499
    assert out["mean_diff"] == pytest.approx(mean)
    assert out["se"] == pytest.approx(math.sqrt(var / 500))


def test_perplexity_items_use_the_log_ratio_against_a_relative_margin():
    rng = np.random.default_rng(2)
    tokens = np.full(20, 512.0)
    nll = rng.uniform(1000, 1200, 20)
    base = {0: {"nll": nll, "tokens": tokens}}
    same = item_non_inferiority(base, {0: {"nll": nll + 1.0, "tokens": tokens}}, "perplexity", 0.02, "relative", False)
    assert same["ratio"] == pytest.approx(math.exp(20 * 1.0 / tokens.sum())) and same["non_inferior"]
    worse = item_non_inferiority(
        base, {0: {"nll": nll * 1.05, "tokens": tokens}}, "perplexity", 0.02, "relative", False
    )
    assert not worse["non_inferior"] and worse["ratio"] > 1.02


def test_items_of_different_lengths_do_not_pair():
    a, b = {0: {"score": np.ones(5)}}, {0: {"score": np.ones(6)}}
    assert item_non_inferiority(a, b, "accuracy", 0.01, "absolute", True) is None


def test_log_ratio_of_identical_rounds_is_exactly_one():
    r = log_ratio({(0, 0): 2.0, (0, 1): 3.0}, {(0, 0): 2.0, (0, 1): 3.0})
    assert r["ratio"] == 1.0 and r["ci95_low"] == r["ci95_high"] == 1.0 and r["p_value"] == 1.0


def _two_level(trial_sd, round_sd=0.02, trials=4, rounds=6, ratio=0.5, seed=0):
    """Per-round energies whose log ratio varies by trial (each trial's builds) and by round."""
    rng = np.random.default_rng(seed)
    base, var = {}, {}
    for t in range(trials):
        offset = trial_sd * rng.standard_normal()
        for r in range(rounds):
            base[(t, r)] = 0.01 * (1 + 0.05 * rng.standard_normal())
            var[(t, r)] = base[(t, r)] * ratio * math.exp(offset + round_sd * rng.standard_normal())
    return base, var


def test_trials_that_differ_more_than_their_rounds_get_an_interval_from_the_trial_means():
    base, var = _two_level(trial_sd=0.15)
    r = log_ratio(base, var)
    assert r["basis"] == "trials" and r["trial_effect_p"] < 0.25 and r["n_trials"] == 4 and r["df"] == 3
    means = [np.mean([math.log(var[(t, k)] / base[(t, k)]) for k in range(6)]) for t in range(4)]
    half = float(__import__("scipy").stats.t.ppf(0.975, 3)) * np.std(means, ddof=1) / 2
    assert r["ci95_high"] == pytest.approx(math.exp(np.mean(means) + half))
    # pooling the 24 rounds as if independent would have claimed an interval several times narrower
    logs = [math.log(var[k] / base[k]) for k in sorted(base)]
    pooled = float(__import__("scipy").stats.t.ppf(0.975, 23)) * np.std(logs, ddof=1) / math.sqrt(24)
    assert half > 2 * pooled


def test_trials_alike_pool_their_rounds_and_one_trial_says_so():
    base, var = _two_level(trial_sd=0.0)
    r = log_ratio(base, var)
    assert r["basis"] == "rounds" and r["trial_effect_p"] >= 0.25 and r["df"] == 23
    one = log_ratio({k: v for k, v in base.items() if k[0] == 0}, var)
    assert one["basis"] == "one trial" and one["trial_effect_p"] is None and one["df"] == 5


def test_a_study_whose_trials_differ_names_them_in_the_noise_floor_and_the_reason():
    trials = _study()
    for rec in trials:  # the int8 builds of trials 1 and 2 cost 20% and 40% more than trial 0's
        if rec["variant"] == "int8":
            scale = 1 + 0.2 * rec["trial_index"]
            for rd in rec["tasks"]["sequence_classification"]["rounds"]:
                rd["energy_per_request_j"] *= scale
    st = study_statistics(CONFIG, as_trials(trials))
    e = st["paired"]["int8"]["energy_per_request_j"]
    assert e["basis"] == "trials" and st["noise_floor"]["trial_basis_variants"] == ["int8"]
    assert "3 trial means of 15 paired rounds" in st["recommendation"]["reason"]
    assert check({"statistics": st, "trials": trials}) > 20
