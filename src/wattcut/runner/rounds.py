"""The inference round: every variant serves each task's requests in interleaved, metered windows.

A baseline latency sentinel brackets the round; when the machine drifts, the round is repeated.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from wattcut.runner.checks import task_key
from wattcut.runner.order import round_order
from wattcut.settings import BASELINE, StudyConfig
from wattcut.ui import console


def inference_round(
    cfg: StudyConfig,
    session: Any,
    tasks: list[Any],
    base: Any,
    requests: dict[str, list[Any]],
    ready: dict[str, Any],
    own: dict[str, dict[str, list[Any]]] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, BaseException]]:
    """Serve every variant's workloads in interleaved rounds, bracketed by a baseline latency sentinel.

    Each task's timed requests are cut into ``[infer] rounds`` contiguous parts (one part
    for tasks that do not interleave); in round r every variant serves part r in its own
    window, in an order that changes each round (a Williams design: every position and every
    predecessor equally often), so that slow drifts of the machine and what the previous
    window left behind hit every variant alike, and each variant's round pairs with the
    baseline's. Returns, per
    variant and task, the merged infer phase, latencies, per-round figures and per-request
    details; and the contention check: the sentinel's relative drift (on the primary
    task's requests), how many attempts ran, and whether the last one was still drifting
    (then it is kept, and flagged); and the variants that failed while serving (left out of
    the later rounds; the baseline's failure ends the study). ``own``: per variant, the same
    items as its own model's inputs (a variant that starts from another pretrained model has
    its own tokenizer); the others serve ``requests``.
    """
    from wattcut.measure.base import merge

    ic = cfg.infer
    primary = tasks[0]
    first = requests[task_key(primary)]
    warm0 = primary.warmup_requests()
    sentinel = first[warm0 : warm0 + ic.sentinel_requests]
    names = list(ready)
    own = own or {}
    workload = {name: own.get(name, requests) for name in names}
    parts_of = {
        name: {
            task_key(t): _parts(workload[name][task_key(t)][t.warmup_requests() :], ic.rounds if t.interleaves else 1)
            for t in tasks
        }
        for name in names
    }
    n_rounds = max((len(p) for parts in parts_of.values() for p in parts.values()), default=0)
    failed: dict[str, BaseException] = {}
    drifts: list[float] = []
    sentinel_energy: list[float | None] = []  # J per request of each metered sentinel run: before, after, ...
    if sentinel:  # the baseline sat idle while variants were built: warm it first, or "before" reads cold
        primary.serve(base, sentinel[:1], _scratch(), desc="sentinel warm-up")
    for attempt in range(ic.max_repeats + 1):
        before = _sentinel(session, primary, base, sentinel, sentinel_energy)
        served: dict[str, dict[str, dict[str, Any]]] = {
            n: {task_key(t): {"phases": [], "latencies": [], "rounds": [], "details": None} for t in tasks}
            for n in names
        }
        for r in range(n_rounds):
            order = round_order(names, r)  # every position, and every predecessor, equally often (runner.order)
            for position, name in enumerate(order):
                model, parts = ready[name], parts_of[name]
                for t in tasks:
                    k = task_key(t)
                    if r >= len(parts[k]) or name in failed:
                        continue  # a task with no request workload (lm_eval: its energy is in "evaluate")
                    reqs, warm = workload[name][k], t.warmup_requests()
                    # The whole warm-up before a variant's first round; one request (shortened where the task says
                    # it may be) before later rounds, to bring its weights back into cache after the others ran.
                    again = t.rewarm(reqs[: min(warm, 1)])
                    label = f"infer {name}" + (f" {r + 1}/{len(parts[k])}" if len(parts[k]) > 1 else "")
                    try:
                        t.serve(model, reqs[:warm] if r == 0 else again, _scratch(), desc=f"warm-up {name}")
                        time.sleep(ic.cooldown_s)  # rest between windows; also lets runtime worker threads settle
                        with session.phase("infer", step=k) as rec:
                            latencies = t.serve(model, parts[k][r], rec, desc=label, window=session.window)
                    except Exception as e:  # noqa: BLE001  (one variant's failure must not lose the study)
                        if name == BASELINE:
                            raise
                        session.take()
                        failed[name] = e
                        continue
                    slot = served[name][k]
                    slot["phases"] += session.take()
                    slot["latencies"] += latencies
                    slot["rounds"].append(_round_figures(r, position, rec, latencies))
                    slot["details"] = t.request_details()
        after = _sentinel(session, primary, base, sentinel, sentinel_energy)
        drift = None if before is None or after is None else after / before - 1
        drifts.append(drift if drift is not None else 0.0)
        if drift is None or abs(drift) <= ic.drift_threshold:
            break
        if attempt < ic.max_repeats:
            console.print(
                f"[yellow]contention[/]: the baseline's latency drifted {100 * drift:+.0f}% during the round "
                f"(threshold {100 * ic.drift_threshold:.0f}%); repeating it.",
                soft_wrap=True,
            )
    results: dict[str, dict[str, Any]] = {}
    for name, by_task in served.items():
        results[name] = {}
        for k, slot in by_task.items():
            if not slot["rounds"]:
                continue
            infer = [p for p in slot["phases"] if p.phase == "infer"]
            others = [p for p in slot["phases"] if p.phase != "infer"]
            results[name][k] = {
                "phases": [merge(infer), *others],  # one infer phase per task: the sum of its rounds
                "latencies": slot["latencies"],
                "rounds": slot["rounds"],
                "details": slot["details"],
            }
    last = drifts[-1]
    return (
        {n: r for n, r in results.items() if n not in failed},
        {
            "sentinel_requests": len(sentinel),
            "drift_rel": None if not sentinel else last,
            "drift_threshold": ic.drift_threshold,
            "rounds": len(drifts),
            "drifts": drifts if sentinel else [],
            "flagged": bool(sentinel) and abs(last) > ic.drift_threshold,
            # the same requests served before and after each attempt's round: the machine's run-to-run noise
            "sentinel_energy_per_request_j": sentinel_energy,
        },
        failed,
    )


def _sentinel(session: Any, task: Any, base: Any, sentinel: list[Any], energy: list[float | None]) -> float | None:
    """Serve the sentinel requests in a metered window; append its J per request to ``energy``; median latency."""
    import statistics as st

    if not sentinel:
        return None
    with session.window("sentinel") as rec:
        latencies = task.serve(base, sentinel, rec, desc="sentinel")
    energy.append(rec.energy_j / rec.requests if rec.energy_j is not None and rec.requests else None)
    return st.median(latencies)


def _parts(reqs: list[Any], rounds: int) -> list[list[Any]]:
    """``reqs`` cut into ``rounds`` contiguous parts of near-equal size (none empty; [] when no requests)."""
    rounds = min(rounds, len(reqs))
    size, extra = divmod(len(reqs), rounds) if rounds else (0, 0)
    out, start = [], 0
    for i in range(rounds):
        end = start + size + (1 if i < extra else 0)
        out.append(reqs[start:end])
        start = end
    return out


def _round_figures(index: int, position: int, rec: Any, latencies: list[float]) -> dict[str, Any]:
    """One round's window: energy and latency per request, for the per-round paired comparisons."""
    energy = rec.energy_j
    lat_ms = [1000 * x for x in latencies]
    low, high = rec.interval_j or (None, None)  # an estimate always carries its model's range
    per = rec.requests if energy is not None and rec.requests else None
    return {
        "round": index,
        "position": position,  # place in the round's order (a Williams design)
        "requests": rec.requests,
        "duration_s": rec.duration_s,
        "cpu_time_s": rec.cpu_time_s,
        "energy_j": energy,
        "energy_per_request_j": energy / rec.requests if energy is not None and rec.requests else None,
        "estimated": rec.estimated,
        "low_j": low,
        "high_j": high,
        "energy_per_request_range_j": None if per is None or low is None or high is None else [low / per, high / per],
        "latency_mean_ms": statistics.fmean(lat_ms) if lat_ms else None,
        "latency_p50_ms": statistics.median(lat_ms) if lat_ms else None,
    }


def _scratch() -> Any:
    from wattcut.measure.base import PhaseRecord

    return PhaseRecord(phase="warmup", duration_s=0.0)
