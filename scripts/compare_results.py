"""Compare two results.json files field by field, leaving out what a rerun changes by nature.

Left out: timings, energies, latencies, CO2e, power, dates, machine facts, paths, the
contention check and the noise figures derived from them, and every statistic computed
from energy or latency. What remains (variants, trials, seeds, techniques, metrics, items,
model facts, metric specs, deployment, build reuse) must match exactly.

    python scripts/compare_results.py BEFORE/results.json AFTER/results.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

VOLATILE = re.compile(
    r"(energy|_j$|_j_|joule|duration|latenc|_ms$|_ms_|time|_at$|power|co2e|carbon|cpu|ram|gpu|drift|contention|"
    r"sentinel|noise|round|provenance|machine|saved_to|path|folder|out$|statistics|ratio|payback|intensity|"
    r"idle|throughput|tokens_per_s|per_s$|_s$|phases|thermal|meters|created|version_info|workload|requests$|"
    r"crosscheck|cost_model|profile|config_hash|store)",
    re.IGNORECASE,
)


def diff(a: Any, b: Any, where: str = "") -> list[str]:
    """Paths at which ``a`` and ``b`` differ, volatile keys left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if VOLATILE.search(k):
                continue
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'after' if k not in a else 'before'}")
                continue
            out += diff(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} entries"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-9 * max(1.0, abs(a)) else [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def trials_by_key(results: dict[str, Any]) -> dict[str, Any]:
    """Trial records keyed ``variant#trial_index``."""
    return {f"{t['variant']}#{t['trial_index']}": t for t in results["trials"]}


def main() -> int:
    """Print the differences; exit 1 when there are any."""
    from wattcut.store.records import upgrade_results  # a results.json of an earlier version, read as today's

    before, after = (upgrade_results(json.loads(Path(p).read_text(encoding="utf-8"))) for p in sys.argv[1:3])
    problems = diff(trials_by_key(before), trials_by_key(after), "trials")
    for p in problems:
        print(p)
    print(f"{len(problems)} difference(s) in {len(before['trials'])} trials")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
