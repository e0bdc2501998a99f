"""Overhead of wattcut's measurement layer: window open/close latency and sampling cost.

Targets (issue 4): at most 1 ms per window open+close, and at most 0.1% of one core for
the background sampling at the default 1 s interval.

Meters measured: the ones this machine selects, plus RAPL (over a fake powercap tree:
the same sysfs reads as real RAPL) and NVML (over a fake module, since no GPU here; real
NVML calls cost more, so the NVML line is a lower bound). Run:

    .venv/bin/python benchmarks/measure_overhead.py > benchmarks/results/measure_overhead.txt
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.powercap import FakePowercap  # noqa: E402
from tests.fakes.pynvml import FakeNvml  # noqa: E402

from wattcut.measure import rapl  # noqa: E402
from wattcut.measure.nvml import NvmlMeter  # noqa: E402
from wattcut.measure.select import select_meters  # noqa: E402
from wattcut.measure.session import EnergySession  # noqa: E402
from wattcut.settings import MeasureConfig  # noqa: E402

WINDOWS = 2000
IDLE_S = 30.0


def window_latency(meters, n=WINDOWS):
    session = EnergySession(meters)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        with session.phase("bench"):
            pass
        times.append((time.perf_counter() - t0) * 1000)
        session.records.clear()
    times.sort()
    return statistics.fmean(times), times[int(0.99 * (n - 1))]


def background_cpu(meters, seconds=IDLE_S):
    """CPU seconds this process burns while idle with ``meters`` alive (their threads)."""
    proc = psutil.Process()
    c0 = sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    return sum(proc.cpu_times()[:2]) - c0


def main():
    cfg = MeasureConfig()
    print(f"# wattcut measurement overhead ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"# {WINDOWS} windows per meter set; {IDLE_S:g} s idle per sampling test; interval {cfg.interval_s:g} s\n")
    tmp = Path(tempfile.mkdtemp())
    FakePowercap(tmp / "powercap", packages=2, dram=True)
    os.environ["WATTCUT_POWERCAP_ROOT"] = str(tmp / "powercap")
    domains, _ = rapl.discover()
    del os.environ["WATTCUT_POWERCAP_ROOT"]

    here, probes = select_meters(cfg, gpu=False)
    sets = {
        "this machine (" + ", ".join(m.name for m in here) + ")": here,
        "RAPL, 2 packages + DRAM (fake sysfs)": [rapl.RaplMeter(domains, cfg.interval_s)],
        "NVML, 1 GPU (fake library, lower bound)": [NvmlMeter(FakeNvml(), cfg.interval_s, sync=lambda: None)],
    }
    print("window open+close latency (ms per window)")
    print(f"  {'meter set':55} {'mean':>8} {'p99':>8}  target <= 1 ms")
    for name, meters in sets.items():
        mean, p99 = window_latency(meters)
        print(f"  {name:55} {mean:8.4f} {p99:8.4f}  {'ok' if p99 <= 1 else 'OVER'}")

    print("\nbackground sampling cost while idle (% of one core)")
    baseline = background_cpu([])
    print(f"  {'no meters (baseline)':55} {100 * baseline / IDLE_S:8.4f}%")
    for name, meters in sets.items():
        used = background_cpu(meters) - baseline
        share = 100 * max(used, 0.0) / IDLE_S
        print(f"  {name:55} {share:8.4f}%  {'ok' if share <= 0.1 else 'OVER'} (target <= 0.1%)")
        for m in meters:
            m.close()
    print(f"  (resolution: one 10 ms clock tick in {IDLE_S:g} s = {100 * 0.01 / IDLE_S:.4f}% of a core)")
    print("\nnote: the CPU-time and RAM-RSS models start no thread at all (counters read at window edges).")


if __name__ == "__main__":
    main()
