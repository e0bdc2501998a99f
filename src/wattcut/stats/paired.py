"""Paired tests on the stored per-item and per-round observations (the primary analysis).

Every variant of a trial is scored on the same evaluation items and serves the same
requests, interleaved with the baseline in rounds. Pairing on those observations,
instead of on three per-trial means, is where the statistical power is.

**Quality (item level).** For a metric that is a mean of per-item scores (accuracy:
1 if the item is right), each item's paired difference is averaged over the trials
both variants share: ``D_i = mean_t(score_variant[t, i] - score_baseline[t, i])``, so
``mean(D)`` is exactly the difference of the mean accuracies. Items are the sampling
unit (the same items recur in every trial, so they are clustered, not resampled per
trial): one-sided t on ``D`` with ``n_items - 1`` degrees of freedom, H0: the variant
is worse by the margin or more. With one trial and 0/1 scores this is the Wald
interval for the difference of paired proportions (McNemar's setting). Perplexity is
``exp(sum NLL / tokens)``; its items are windows with fixed token counts, so the log
of the perplexity ratio is ``sum_i mean_t(nll_v - nll_b) / sum T``: the same test
runs on ``D_i = -n (nll_v - nll_b)_i / sum T`` against a margin of ``log(1 + m)``.

**Energy and latency (per round).** Each (trial, round) pairs the variant's window with
the baseline's window of the same round; the log of the ratio of their energy (or mean
latency) per request is the observation, and the ratio and its 95% CI are ``exp`` of
the mean and its bounds. Rounds of one trial share that trial's builds, so they are not
independent of each other when the builds differ: a two-level design (trials, rounds
within them), as in Kalibera and Jones, *Rigorous Benchmarking in Reasonable Time*
(2013). A one-way ANOVA F test asks whether the trials' mean log ratios differ more than
their rounds explain. When they do (p < 0.25, the preliminary-test level of Bozivich,
Bancroft and Hartley's "sometimes pool" rule), the interval is a t over the trial means
(``trials - 1`` degrees of freedom): more trials narrow it, more rounds do not. Otherwise,
and with one trial, the rounds are pooled: a two-sided t over all pairs. With one trial
the interval cannot include build-to-build variation, and the result says so
(``basis``). P-values are Holm-adjusted across variants, per metric.

Every number here is recomputed independently by ``tests/recompute.py`` from
``results.json``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from wattcut.store.records import InferRound, Trial

ALPHA = 0.05
ITEM_METHOD = (
    "item-level paired t: per-item differences averaged over the trials both variants share, items as the "
    "sampling unit, one-sided 95%"
)
ROUND_METHOD = (
    "per-round paired log ratio, two-sided 95% CI, Holm across variants: t over the trials' means when the trials "
    "differ more than their rounds explain (one-way ANOVA F, p < 0.25), else t over all (trial, round) pairs"
)
POOL_ALPHA = 0.25  # the preliminary test's level in the sometimes-pool rule (Bozivich, Bancroft & Hartley 1956)


def item_scores(trial: Trial, task: str, metric: str) -> dict[str, np.ndarray] | None:
    """Per-item observations of ``metric`` in one record (None when the record has none).

    ``{"score": 0/1}`` for accuracy; ``{"nll": ..., "tokens": ...}`` for perplexity; ``{"score": ...}``
    for any metric that is the mean of per-item scores stored as ``{"scores": {metric: [...]}}``
    (lm-eval's ``acc`` and IFEval's prompt-level accuracies).
    """
    entry = trial.tasks.get(task)
    items = None if entry is None else entry.items
    if not items:
        return None
    if metric == "accuracy" and "gold" in items and "pred" in items:
        return {"score": (np.asarray(items["pred"]) == np.asarray(items["gold"])).astype(float)}
    if metric in (items.get("scores") or {}):
        return {"score": np.asarray(items["scores"][metric], dtype=float)}
    if metric == "perplexity" and "nll" in items:
        return {"nll": np.asarray(items["nll"], dtype=float), "tokens": np.asarray(items["tokens"], dtype=float)}
    return None


def one_sided(d: np.ndarray, margin: float) -> dict[str, Any]:
    """One-sided t on per-item differences ``d`` (higher is better), H0: mean <= -margin."""
    from scipy import stats

    n = len(d)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    se = sd / math.sqrt(n) if n > 1 else 0.0
    if se > 0:
        lower = mean - float(stats.t.ppf(1 - ALPHA, n - 1)) * se
        p = float(stats.t.sf((mean + margin) / se, n - 1))
    else:  # every item's difference is the same (an unchanged copy: all zero)
        lower = mean
        p = 0.0 if mean > -margin else 1.0
    return {
        "mean_diff": mean,
        "sd": sd,
        "se": se,
        "df": n - 1,
        "lower_bound": lower,
        "p_value": p,
        "non_inferior": lower > -margin,
        "margin": margin,
        "n_items": n,
    }


def item_non_inferiority(
    base: dict[int, dict[str, np.ndarray]],
    var: dict[int, dict[str, np.ndarray]],
    metric: str,
    margin: float,
    margin_type: str,
    higher_is_better: bool,
) -> dict[str, Any] | None:
    """The item-level non-inferiority test of ``var`` against ``base`` (trial index -> item observations).

    ``margin`` is in the metric's units (for perplexity: ``relative`` = a share of the
    baseline's, turned into ``log(1 + margin)``). None when no trial pairs, or the items differ.
    """
    trials = sorted(set(base) & set(var))
    if not trials:
        return None
    key = "score" if "score" in base[trials[0]] else "nll"
    lengths = {len(base[t][key]) for t in trials} | {len(var[t][key]) for t in trials}
    if len(lengths) != 1:
        return None  # not the same items: no item-level pairing
    diffs = np.mean([var[t][key] - base[t][key] for t in trials], axis=0)
    if key == "score":
        out = one_sided(diffs if higher_is_better else -diffs, margin)
        out.update(scale="absolute")
    else:
        tokens = base[trials[0]]["tokens"]
        d = -len(tokens) * diffs / tokens.sum()  # mean(d) = -log(perplexity ratio): higher is better
        if margin_type == "absolute":  # a perplexity rise in points: relative to the baseline's mean
            ppl = float(np.mean([math.exp(base[t]["nll"].sum() / tokens.sum()) for t in trials]))
            margin = margin / ppl
        log_margin = math.log1p(margin)
        out = one_sided(d, log_margin)
        # in the metric's direction: a relative change of perplexity (+0.01 = 1% higher)
        out.update(
            scale="relative",
            ratio=math.exp(-out["mean_diff"]),
            ratio_upper=math.exp(-out["lower_bound"]),
            relative_margin=margin,
        )
    out.update(method=ITEM_METHOD, n_trials=len(trials), metric=metric)
    return out


ROUND_FIELDS: dict[str, Callable[[InferRound], float | None]] = {
    "energy_per_request_j": lambda r: r.energy_per_request_j,
    "latency_mean_ms": lambda r: r.latency_mean_ms,
}


def round_values(trial: Trial, task: str, field: str) -> dict[int, float]:
    """``field`` (a key of :data:`ROUND_FIELDS`) per round of ``task``'s infer windows."""
    entry = trial.tasks.get(task)
    read = ROUND_FIELDS[field]
    values = {} if entry is None else {r.round: read(r) for r in entry.rounds}
    return {k: float(v) for k, v in values.items() if v is not None and v > 0}


def log_ratio(base: dict[tuple[int, int], float], var: dict[tuple[int, int], float]) -> dict[str, Any] | None:
    """Ratio variant/baseline from paired (trial, round) values, on the log scale, with a 95% CI and p.

    ``basis`` says what the interval's error is: ``"trials"`` (the trials' mean log ratios differ more than their
    rounds explain, so the t runs over the trial means), ``"rounds"`` (pooled over every pair), or ``"one trial"``
    (pooled rounds of one trial: build-to-build variation is not in the interval).
    """
    from scipy import stats

    keys = sorted(set(base) & set(var))
    if not keys:
        return None
    x = np.log([var[k] / base[k] for k in keys])
    groups: dict[int, list[float]] = {}
    for (trial, _), v in zip(keys, x, strict=True):
        groups.setdefault(trial, []).append(float(v))
    n, n_trials = len(x), len(groups)
    trial_p = None
    if n_trials > 1 and n > n_trials:  # some trial has two rounds or more: within-trial spread is estimable
        with warnings.catch_warnings():  # identical rounds (a constant input) are handled below
            warnings.simplefilter("ignore")
            trial_p = float(stats.f_oneway(*[np.array(g) for g in groups.values()]).pvalue)
        if not math.isfinite(trial_p):  # every trial's rounds identical: no within-trial spread to compare with
            trial_p = 0.0 if len({round(float(np.mean(g)), 15) for g in groups.values()}) > 1 else None
    by_trials = trial_p is not None and trial_p < POOL_ALPHA
    sample = np.array([np.mean(g) for g in groups.values()]) if by_trials else x
    mean = float(sample.mean())
    sd = float(x.std(ddof=1)) if n > 1 else None
    out: dict[str, Any] = {
        "n_pairs": n,
        "n_trials": n_trials,
        "basis": "trials" if by_trials else "rounds" if n_trials > 1 else "one trial",
        "trial_effect_p": trial_p,
        "mean_log_ratio": mean,
        "sd_log_ratio": sd,  # the rounds' spread (the noise floor reads it), whatever the basis
        "ratio": math.exp(mean),
        "ci95_low": None,
        "ci95_high": None,
        "p_value": None,
        "method": ROUND_METHOD,
    }
    if len(sample) < 2:
        return out
    df = len(sample) - 1
    se = float(sample.std(ddof=1)) / math.sqrt(len(sample))
    out["df"] = df
    if by_trials:
        out["sd_trial_means"] = float(sample.std(ddof=1))
    if se > 0:
        half = float(stats.t.ppf(0.975, df)) * se
        out.update(
            ci95_low=math.exp(mean - half),
            ci95_high=math.exp(mean + half),
            p_value=float(2 * stats.t.sf(abs(mean) / se, df)),
        )
    else:
        out.update(ci95_low=math.exp(mean), ci95_high=math.exp(mean), p_value=1.0 if mean == 0 else 0.0)
    return out


def pairs_label(r: dict[str, Any], unit: str = "paired round") -> str:
    """What a log-ratio interval rests on, in words: ``15 paired rounds`` or ``3 trial means of 15 paired rounds``."""
    rounds = f"{r['n_pairs']} {unit}{'s' if r['n_pairs'] != 1 else ''}"
    return f"{r['n_trials']} trial means of {rounds}" if r.get("basis") == "trials" else rounds
