"""wattcut's estimates beside CodeCarbon's for the same windows of the default study (issue 15).

Reads a finished study run with ``[measure] crosscheck = "codecarbon"`` (the default study
has it) and prints, per phase and component, both tools' joules, their ratio, and why they
differ, from each side's own stated constants; then the study's intervals and noise floor.

    .venv/bin/wattcut run --out docs/example-report
    .venv/bin/python benchmarks/crosscheck_default.py docs/example-report > benchmarks/results/crosscheck_default.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: Path) -> None:
    res = json.loads((folder / "results.json").read_text())
    prov = res["provenance"]
    pm = prov["power_models"]
    print(f"# wattcut vs CodeCarbon on the same windows: study {res['study']} ({folder})")
    print(f"# CPU: {prov['cpu']['model']}, {prov['cpu']['cores_available']} cores; {pm['microarchitecture']['label']}")
    print(
        f"# ({pm['microarchitecture']['evidence']}); wattcut {prov['wattcut_version']}, "
        f"trials {res['config']['trials']}"
    )
    phases = [p for t in res["trials"] for p in t["phases"] if p.get("crosscheck") and not p.get("parent")]
    if not phases:
        sys.exit(f'{folder} has no cross-check figures: run it with [measure] crosscheck = "codecarbon"')
    cc0 = phases[0]["crosscheck"]
    cpu_m = pm["cpu"]["model"]
    print(f"# wattcut CPU: {pm['cpu']['origin']}")
    print(
        f"# wattcut RAM: {pm['ram']['w_per_gb']} W/GB of resident memory ({pm['ram']['low_w_per_gb']:.3f}-"
        f"{pm['ram']['high_w_per_gb']:.3f})"
    )
    print(f"# CodeCarbon: {cc0['tool']}, {cc0['hardware']}, process mode, RAM {cc0['ram_power_w']:g} W constant")
    print()
    kinds = ["train", "compress", "evaluate", "infer"]
    head = f"{'phase':9} {'windows':>7} {'wall s':>8} {'CPU s':>8} {'wattcut CPU J':>14} {'CC CPU J':>10} {'ratio':>6}"
    head += f" {'wattcut RAM J':>14} {'CC RAM J':>10} {'ratio':>6}"
    print(head)
    tot = {"w_cpu": 0.0, "c_cpu": 0.0, "w_ram": 0.0, "c_ram": 0.0}
    for kind in kinds:
        mine = [p for p in phases if p["phase"] == kind]
        if not mine:
            continue
        wall = sum(p["duration_s"] for p in mine)
        cpu_s = sum(p["cpu_time_s"] for p in mine)
        w_cpu = sum(p["energy"]["cpu"]["energy_j"] for p in mine)
        w_ram = sum(p["energy"]["ram"]["energy_j"] for p in mine)
        c_cpu = sum(p["crosscheck"]["cpu_j"] for p in mine)
        c_ram = sum(p["crosscheck"]["ram_j"] for p in mine)
        for k, v in (("w_cpu", w_cpu), ("c_cpu", c_cpu), ("w_ram", w_ram), ("c_ram", c_ram)):
            tot[k] += v
        print(
            f"{kind:9} {len(mine):7d} {wall:8.1f} {cpu_s:8.1f} {w_cpu:14.1f} {c_cpu:10.1f} {c_cpu / w_cpu:6.2f}"
            f" {w_ram:14.1f} {c_ram:10.1f} {c_ram / w_ram:6.2f}"
        )
    print(
        f"{'all':9} {len(phases):7d} {'':8} {'':8} {tot['w_cpu']:14.1f} {tot['c_cpu']:10.1f} "
        f"{tot['c_cpu'] / tot['w_cpu']:6.2f} {tot['w_ram']:14.1f} {tot['c_ram']:10.1f} "
        f"{tot['c_ram'] / tot['w_ram']:6.2f}"
    )

    # Why: each side's effective watts, from its own stored figures.
    cpu_s = sum(p["cpu_time_s"] for p in phases)
    wall = sum(p["duration_s"] for p in phases)
    rss = [p["energy"]["ram"]["details"].get("rss_gb") for p in phases if p["energy"]["ram"].get("details")]
    mean_rss = sum(r for r in rss if r) / max(1, len([r for r in rss if r]))
    import re

    tdp = re.search(r"TDP ([0-9.]+) W", cc0["hardware"])
    cores = prov["cpu"]["cores_available"]
    cc_w = f"TDP {tdp.group(1)} W over {cores} cores = {float(tdp.group(1)) / cores:.2f} W per core" if tdp else "a TDP"
    print("\n## Why they differ")
    print(
        f"CPU: wattcut {tot['w_cpu'] / cpu_s:.2f} J per CPU-second (CCF {cpu_m['architecture']} load curve "
        f"{cpu_m['min_w_per_vcpu']:.3f}-{cpu_m['max_w_per_vcpu']:.3f} W per vCPU at each window's utilisation); "
        f"CodeCarbon {tot['c_cpu'] / cpu_s:.2f} J per CPU-second: {cc_w} (its figure for the CPU it detected, "
        f"'{prov['cpu']['model']}'), times the process's share of the cores over wall time. The CPU ratio is about "
        "CodeCarbon's watts per busy core over CCF's watts per busy vCPU at the windows' utilisation."
    )
    print(
        f"RAM: wattcut {tot['w_ram'] / wall:.3f} W on average ({mean_rss:.2f} GB mean resident memory x "
        f"{pm['ram']['w_per_gb']} W/GB); CodeCarbon {tot['c_ram'] / wall:.2f} W: its v3 rule guesses the machine's "
        f"DIMMs from the total RAM ({prov['memory_gb']} GB) and bills {cc0['ram_power_w']:g} W for the whole "
        "machine, whatever this process uses. The RAM ratio is about that constant / (resident GB x W/GB)."
    )
    print("Neither is a measurement: the ratios show how far two public methods disagree on this machine.")

    print("\n## Intervals (wattcut's estimates at the two ends of their models' ranges)")
    infer = [p for p in phases if p["phase"] == "infer"]
    lo, mid, hi = (sum(p[k] for p in infer) for k in ("low_j", "energy_j", "high_j"))
    print(
        f"infer, all variants and trials: {mid:.1f} J, interval {lo:.1f}-{hi:.1f} J ({lo / mid:.2f}x-{hi / mid:.2f}x)"
    )
    nf = (res.get("statistics") or {}).get("noise_floor")
    if nf:
        print(
            f"\n## Noise floor: run-to-run spread {nf['spread_pct']:.1f}% (95% CI {nf['spread_ci95_pct'][0]:.1f}-"
            f"{nf['spread_ci95_pct'][1]:.1f}%, {nf['pairs']} sentinel pairs); differences below "
            f"{nf.get('resolvable_pct', float('nan')):.1f}% in energy per request cannot be resolved with "
            f"{nf['rounds']} paired rounds"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/example-report"))
