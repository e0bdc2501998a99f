"""Per-unit rates of a finished study, and how a prediction of it fared (``wattcut run --dry-run``).

Pure functions of the records: :mod:`wattcut.runner.predict` scales the rates to a study it has not run yet;
the report compares a stored prediction with what the study took.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from wattcut.store.records import Results, Trial

BASELINE = "baseline"
# the unit each scaled phase counts: training samples, evaluation items, explained items, inference requests
PER_UNIT = {"train": "samples", "evaluate": "samples", "explain": "samples", "infer": "requests"}


def signature(variant: dict[str, Any] | None) -> str:
    """A variant's identity across studies: its config without its name (the baseline: ``baseline``)."""
    if variant is None:
        return BASELINE
    return json.dumps({k: v for k, v in variant.items() if k != "name"}, sort_keys=True, default=str)


def _iso(s: str | None) -> float | None:
    return None if not s else datetime.fromisoformat(s).timestamp()


def rates_of(results: Results) -> dict[str, Any]:
    """Per-unit rates of a finished study (see the module docstring), keyed by variant signature."""
    variants = {v["name"]: v for v in results.config.get("variants", [])}
    per: dict[str, dict[str, Any]] = {}
    trials = sorted({t.trial_index for t in results.trials})
    for t in results.trials:
        sig = signature(variants.get(t.variant)) if t.variant != BASELINE else BASELINE
        slot = per.setdefault(sig, {"name": t.variant, "trials": 0, "phases": {}})
        slot["trials"] += 1
        for p in t.phases:
            if p.parent is not None:
                continue  # nested windows are part of their parent's
            # a scaled phase per task (its step), a fixed cost per phase and step
            key = f"{p.phase}|{p.step or ''}" if p.phase in PER_UNIT else f"fixed:{p.phase}:{p.step or ''}"
            acc = slot["phases"].setdefault(key, {"duration_s": 0.0, "energy_j": 0.0, "units": 0, "windows": 0})
            acc["duration_s"] += p.duration_s
            acc["energy_j"] = None if acc["energy_j"] is None or p.energy_j is None else acc["energy_j"] + p.energy_j
            acc["units"] += int(getattr(p, PER_UNIT.get(p.phase, "samples")) or 0)
            acc["windows"] += 1
    phase_s = sum(p.duration_s for t in results.trials for p in t.phases if p.parent is None)
    ends = [_iso(t.finished_at) for t in results.trials if t.finished_at]
    start = _iso(results.started_at)
    wall = None if not ends or start is None else max(e for e in ends if e is not None) - start
    infer = results.config.get("infer") or {}
    # what a trial's inference round costs beyond its stored infer windows, times the attempts it took (a round
    # repeated for contention is run again in full, and only its last attempt's windows are stored)
    extra = 0.0
    for i in trials:
        mine = [t for t in results.trials if t.trial_index == i]
        attempts = max((t.contention.rounds if t.contention is not None else 1) for t in mine)
        infer_s = sum(p.duration_s for t in mine for p in t.phases if p.phase == "infer")
        one = infer_s + round_overhead_s(infer, {t.variant: request_s(t) for t in mine})
        extra += attempts * one - infer_s
    idle = float((results.config.get("measure") or {}).get("idle_s", 0.0))
    residual = None if wall is None else max(wall - phase_s - extra - idle, 0.0) / max(len(trials), 1)
    return {
        "variants": per,
        "trials": len(trials),
        "wall_s": wall,
        "residual_per_trial_s": residual,  # loading models and data, echoing, committing: outside every phase
        "infer_requests": int(infer.get("requests", 0)),  # what a task that follows [infer] requests served
        "study": results.study,
        "started_at": results.started_at,
    }


def request_s(trial: Trial) -> float:
    """Seconds per inference request of one trial's variant (0 when it served none)."""
    windows = [p for p in trial.phases if p.phase == "infer" and p.requests]
    return float(sum(p.duration_s for p in windows) / max(sum(int(p.requests or 0) for p in windows), 1))


def round_overhead_s(infer: dict[str, Any], per_request_s: dict[str, float]) -> float:
    """One attempt of a trial's inference round beyond its timed windows: cooldowns, warm-ups, the sentinel."""
    rounds, cooldown = int(infer.get("rounds", 1)), float(infer.get("cooldown_s", 0.0))
    warm = int(infer.get("warmup_requests", 0)) + max(rounds - 1, 0)  # the full warm-up, then one per later round
    sentinel = 2 * int(infer.get("sentinel_requests", 0)) + 1  # before and after, and one warming request
    base = per_request_s.get(BASELINE, 0.0)
    return len(per_request_s) * rounds * cooldown + sum(warm * s for s in per_request_s.values()) + sentinel * base


def versus_actual(prediction: dict[str, Any], results: Results) -> dict[str, Any] | None:
    """Predicted vs actual wall time and energy of a finished study (None when it is not finished)."""
    rates = rates_of(results)
    wall = rates["wall_s"]
    if wall is None or not results.complete:
        return None
    energy = sum(p.energy_j or 0.0 for t in results.trials for p in t.phases if p.parent is None)
    inside = prediction["wall_low_s"] <= wall <= prediction["wall_high_s"]
    miss = (
        0.0
        if inside
        else wall / (prediction["wall_high_s"] if wall > prediction["wall_high_s"] else prediction["wall_low_s"]) - 1
    )
    return {
        "wall_s": wall,
        "energy_j": energy,
        "wall_inside": inside,
        "wall_miss_rel": miss,
        "energy_inside": None
        if prediction.get("energy_low_j") is None
        else prediction["energy_low_j"] <= energy <= prediction["energy_high_j"],
    }
