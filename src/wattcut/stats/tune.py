"""The lowest-energy deployment setting that meets a latency target, with its saving over the default and a CI.

Each setting's energy per unit is compared with the default setting's round by round (the same
round's windows: paired), as a ratio on the log scale with a t interval (``stats.paired``). The
p95 latency is pooled over every request of every round. The frontier is the settings no other
beats on both p95 latency and energy (as ML.ENERGY's leaderboard draws it); the choice is the
lowest mean energy per unit among the settings whose p95 figures meet every target given.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from wattcut.stats.paired import log_ratio
from wattcut.stats.summary import pareto


def p95(xs: list[float]) -> float | None:
    """The 95th percentile (numpy's linear interpolation), or None for no values."""
    return float(np.percentile(xs, 95)) if xs else None


def analyse(measured: list[Any], targets_ms: dict[str, float | None]) -> dict[str, Any]:
    """Per-setting figures, the frontier and the choice.

    Args:
        measured: ``runner.tune.Measured`` per setting; the first is the default setting.
        targets_ms: ``{"latency": ms or None, "tpot": ms or None}``.
    """
    default = measured[0]
    base = {(0, r): e for r, e in enumerate(default.energy_per_unit_j) if e}
    rows = []
    for m in measured:
        energies = [e for e in m.energy_per_unit_j if e is not None]
        lat, tpot = p95(m.latency_s), p95(m.tpot_s)
        meets = [
            (value is not None and value * 1000 <= target)
            for value, target in ((lat, targets_ms.get("latency")), (tpot, targets_ms.get("tpot")))
            if target is not None
        ]
        ratio = None
        if m is not default:
            ratio = log_ratio(base, {(0, r): e for r, e in enumerate(m.energy_per_unit_j) if e})
        rows.append(
            {
                "setting": m.setting.name,
                "threads": m.setting.threads,
                "batch_size": m.setting.batch_size,
                "concurrency": m.setting.concurrency,
                "hint": m.setting.hint,
                "energy_per_unit_j": statistics.fmean(energies) if energies else None,
                "rounds": len(energies),
                "estimated": m.estimated,
                "p95_latency_ms": None if lat is None else lat * 1000,
                "p95_tpot_ms": None if tpot is None else tpot * 1000,
                "requests": len(m.latency_s),
                "meets_target": all(meets) if meets else True,
                "vs_default": ratio,
            }
        )
    usable = [r for r in rows if r["energy_per_unit_j"] is not None and r["p95_latency_ms"] is not None]
    # no other setting both faster at p95 and cheaper: stats.summary.pareto with quality = -p95
    frontier = pareto({r["setting"]: (-r["p95_latency_ms"], r["energy_per_unit_j"]) for r in usable})
    for r in rows:
        r["on_frontier"] = r["setting"] in frontier
    meeting = [r for r in usable if r["meets_target"]]
    chosen = min(meeting, key=lambda r: r["energy_per_unit_j"]) if meeting else None
    fastest = min(usable, key=lambda r: r["p95_latency_ms"]) if usable else None
    return {
        "default": rows[0]["setting"],
        "targets_ms": targets_ms,
        "settings": rows,
        "frontier": frontier,
        "chosen": None if chosen is None else chosen["setting"],
        "fastest": None if fastest is None else fastest["setting"],
        "method": "energy per unit: each setting's metered windows over its texts (encoders) or output tokens "
        "(served); ratio vs the default setting per paired round, log scale, t interval; p95 latency pooled over "
        "every request of every round (served: time to first token and time per output token)",
    }
