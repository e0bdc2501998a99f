"""An independent recomputation of results.json statistics from its per-trial values.

Written against the definitions in docs (not wattcut.stats): numpy for moments, SciPy
for distributions and tests. Used by unit and integration tests (acceptance: 1e-6).
"""

import math

import numpy as np
from scipy import stats

TOL = 1e-6


def _value(metric, trial):
    # the energy task's infer window ([study] energy_task, else the primary task; records before tasks have one)
    step = trial.get("energy_task") or trial.get("task")
    infer = next((p for p in trial["phases"] if p["phase"] == "infer" and p.get("step") in (None, step)), None)
    e = (
        None
        if infer is None or infer["energy_j"] is None or not infer["requests"]
        else infer["energy_j"] / infer["requests"]
    )
    if metric == "energy_per_request_j":
        return e
    if metric == "latency_p50_ms":
        return trial["latency"]["p50_ms"]
    if metric.endswith("_per_j"):
        q = trial["metrics"][metric[: -len("_per_j")]]
        return None if not e else q / e
    return trial["metrics"][metric]


def _close(a, b, what):
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a} vs {b}"
        return
    assert math.isclose(a, b, rel_tol=TOL, abs_tol=TOL), f"{what}: reported {a}, recomputed {b}"


def check(results):
    """Assert every mean, SD, CI bound and p-value in ``results["statistics"]`` recomputes."""
    st = results["statistics"]
    by = {}
    for t in results["trials"]:
        by.setdefault(t["variant"], {})[t["trial_index"]] = t
    checked = 0
    for name, metrics in st["per_variant"].items():
        for metric, d in metrics.items():
            xs = np.array([v for t in by[name].values() if (v := _value(metric, t)) is not None], dtype=float)
            assert d["n"] == len(xs)
            _close(d["mean"], float(xs.mean()), f"{name} {metric} mean")
            if len(xs) > 1:
                sd = float(xs.std(ddof=1))
                half = stats.t.ppf(0.975, len(xs) - 1) * sd / math.sqrt(len(xs))
                _close(d["sd"], sd, f"{name} {metric} sd")
                _close(d["ci95_low"], float(xs.mean()) - half, f"{name} {metric} ci low")
                _close(d["ci95_high"], float(xs.mean()) + half, f"{name} {metric} ci high")
                checked += 3
            boot = d.get("bootstrap")
            if boot and boot["ci95_low"] is not None:
                res = stats.bootstrap(
                    (xs,), np.mean, n_resamples=boot["n_resamples"], method=boot["method"], rng=boot["seed"]
                )
                # same seed, same resamples: equal up to the statistic's vectorised vs scalar rounding
                _close(boot["ci95_low"], float(res.confidence_interval.low), f"{name} {metric} boot low")
                _close(boot["ci95_high"], float(res.confidence_interval.high), f"{name} {metric} boot high")
    spec = st.get("metric_spec") or {"key": "accuracy", "higher_is_better": True}
    q, sign = spec["key"], 1.0 if spec["higher_is_better"] else -1.0
    for name, comps in st["vs_baseline"].items():
        for metric, c in comps.items():
            if metric.endswith("_non_inferiority"):
                assert metric == f"{q}_non_inferiority"
                base = {i: t["metrics"][q] for i, t in by["baseline"].items()}
                var = {i: t["metrics"][q] for i, t in by[name].items()}
                # H0: the variant is worse by the margin or more, in the metric's direction
                d = np.array([sign * (var[i] - base[i]) for i in sorted(set(base) & set(var))])
                if c["p_value"] is not None and d.std(ddof=1) > 0:
                    se = d.std(ddof=1) / math.sqrt(len(d))
                    _close(c["p_value"], float(stats.t.sf((d.mean() + c["margin"]) / se, len(d) - 1)), f"{name} NI p")
                    _close(c["lower_bound"], float(d.mean() - stats.t.ppf(0.95, len(d) - 1) * se), f"{name} NI lb")
                    checked += 2
                continue
            base = {i: _value(metric, t) for i, t in by["baseline"].items()}
            var = {i: _value(metric, t) for i, t in by[name].items()}
            base = {i: v for i, v in base.items() if v is not None}
            var = {i: v for i, v in var.items() if v is not None}
            if c["p_value"] is None:
                continue
            if c["test"].startswith("paired"):
                keys = sorted(set(base) & set(var))
                p = stats.ttest_rel([var[k] for k in keys], [base[k] for k in keys]).pvalue
            else:
                p = stats.ttest_ind(list(var.values()), list(base.values()), equal_var=False).pvalue
            _close(c["p_value"], float(p), f"{name} {metric} p")
            checked += 1
    checked += _check_paired(results, by)
    # Holm across variants, per metric
    for metric in next(iter(st["vs_baseline"].values()), {}):
        if metric.endswith("_non_inferiority"):
            continue
        ps = {n: c[metric]["p_value"] for n, c in st["vs_baseline"].items() if c[metric]["p_value"] is not None}
        order = sorted(ps, key=ps.get)
        running = 0.0
        for i, n in enumerate(order):
            running = max(running, min(1.0, (len(order) - i) * ps[n]))
            _close(st["vs_baseline"][n][metric]["p_holm"], running, f"{n} {metric} holm")
    return checked


def _holm(ps):
    order = sorted(ps, key=ps.get)
    out, running = {}, 0.0
    for i, n in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * ps[n]))
        out[n] = running
    return out


def _check_paired(results, by):
    """The item-level quality tests and per-round log-ratio tests (docs/statistics.md), from the stored items."""
    st = results["statistics"]
    paired = st.get("paired") or {}
    if not paired:
        return 0
    spec = st.get("metric_spec") or {"key": "accuracy", "higher_is_better": True, "bounded": True}
    q = spec["key"]
    any_trial = next(iter(by["baseline"].values()))
    task = any_trial.get("task") or ""
    etask = any_trial.get("energy_task") or task
    checked = 0
    for name, p in paired.items():
        qt = p.get("quality")
        if qt is not None:
            common = sorted(set(by["baseline"]) & set(by[name]))
            items0 = by["baseline"][common[0]]["tasks"][task]["items"]
            if "scores" in items0:  # lm-eval: per-item scores of each mean metric, oriented so higher is better
                sign = 1.0 if spec.get("higher_is_better", True) else -1.0
                d = np.mean(
                    [
                        sign
                        * (
                            np.array(by[name][t]["tasks"][task]["items"]["scores"][q], dtype=float)
                            - np.array(by["baseline"][t]["tasks"][task]["items"]["scores"][q], dtype=float)
                        )
                        for t in common
                    ],
                    axis=0,
                )
                margin = qt["margin"]
            elif q == "accuracy":
                d = np.mean(
                    [
                        np.equal(
                            by[name][t]["tasks"][task]["items"]["pred"], by[name][t]["tasks"][task]["items"]["gold"]
                        )
                        - np.equal(
                            by["baseline"][t]["tasks"][task]["items"]["pred"],
                            by["baseline"][t]["tasks"][task]["items"]["gold"],
                        ).astype(float)
                        for t in common
                    ],
                    axis=0,
                )
                margin = qt["margin"]
            else:
                tokens = np.array(by["baseline"][common[0]]["tasks"][task]["items"]["tokens"], dtype=float)
                nll = np.mean(
                    [
                        np.array(by[name][t]["tasks"][task]["items"]["nll"])
                        - np.array(by["baseline"][t]["tasks"][task]["items"]["nll"])
                        for t in common
                    ],
                    axis=0,
                )
                d = -len(tokens) * nll / tokens.sum()
                margin = math.log1p(qt["relative_margin"])
            n = len(d)
            _close(qt["mean_diff"], float(d.mean()), f"{name} item mean")
            se = d.std(ddof=1) / math.sqrt(n)
            if se > 0:
                _close(qt["lower_bound"], float(d.mean() - stats.t.ppf(0.95, n - 1) * se), f"{name} item bound")
                _close(qt["p_value"], float(stats.t.sf((d.mean() + margin) / se, n - 1)), f"{name} item p")
            else:
                assert qt["p_value"] == (0.0 if d.mean() > -margin else 1.0)
            assert qt["non_inferior"] == (qt["lower_bound"] > -margin)
            checked += 3
        for field in ("energy_per_request_j", "latency_mean_ms"):
            r = p.get(field)
            if r is None or r["p_value"] is None:
                continue

            def rounds(trials, field=field):
                return {
                    (i, x["round"]): x[field]
                    for i, t in trials.items()
                    for x in t["tasks"][etask]["rounds"]
                    if x[field]
                }

            base, var = rounds(by["baseline"]), rounds(by[name])
            keys = sorted(set(base) & set(var))
            logs = np.log([var[k] / base[k] for k in keys])
            assert r["n_pairs"] == len(keys)
            if "basis" in r:  # since the two-level interval: trial means when the trials differ (ANOVA p < 0.25)
                per_trial = [logs[[k[0] == i for k in keys]] for i in sorted({k[0] for k in keys})]
                assert r["n_trials"] == len(per_trial)
                if len(per_trial) > 1 and len(keys) > len(per_trial):
                    f_p = stats.f_oneway(*per_trial).pvalue
                    _close(r["trial_effect_p"], float(f_p), f"{name} {field} trial effect p")
                    assert r["basis"] == ("trials" if f_p < 0.25 else "rounds"), (name, field, f_p)
                if r["basis"] == "trials":
                    logs = np.array([g.mean() for g in per_trial])
            _close(r["ratio"], float(np.exp(logs.mean())), f"{name} {field} ratio")
            res = stats.ttest_1samp(logs, 0.0)
            ci = res.confidence_interval(0.95)
            _close(r["ci95_low"], float(np.exp(ci.low)), f"{name} {field} ci low")
            _close(r["ci95_high"], float(np.exp(ci.high)), f"{name} {field} ci high")
            _close(r["p_value"], float(res.pvalue), f"{name} {field} p")
            checked += 4
    for field in ("energy_per_request_j", "latency_mean_ms"):
        ps = {n: p[field]["p_value"] for n, p in paired.items() if p.get(field) and p[field]["p_value"] is not None}
        for n, h in _holm(ps).items():
            _close(paired[n][field]["p_holm"], h, f"{n} {field} holm")
            checked += 1
    return checked
