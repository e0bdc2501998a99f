"""``wattcut env``: what this machine can measure, and why not.

Lists the CPU (model, ISA flags that decide INT8/bf16 speed), cores, memory, each
meter's availability with the reason, GPUs, the runtimes installed (llama.cpp's library
is loaded, so a wheel built for another CPU shows up here) and the carbon location in
force. It makes no network access.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer


def env(
    experiment: Annotated[str | None, typer.Argument(help="apply this file's [measure] and [carbon]")] = None,
    countries: Annotated[bool, typer.Option(help="list the carbon data pack")] = False,
) -> None:
    """Print the environment report.

    Args:
        experiment: Optional experiment file whose ``[measure]`` and ``[carbon]`` apply.
        countries: List the carbon data pack's countries and regions instead.
    """
    import psutil

    from wattcut.experiment import load_experiment
    from wattcut.measure import carbon
    from wattcut.measure.provenance import cpu_info
    from wattcut.measure.select import select_meters
    from wattcut.settings import CarbonConfig, MeasureConfig
    from wattcut.ui import out as console

    if countries:
        data = carbon.pack()
        console.print(f"carbon data pack {data['pack_version']}:", highlight=False)
        # countries, then regions (their code is COUNTRY/REGION, so their name column is 4 narrower)
        rows = [(c["code"], 32, c) for c in data["countries"]]
        rows += [(f"{r['country']}/{r['code']}", 28, r) for r in data["regions"]]
        for code, width, g in rows:
            console.print(
                f"  {code}  {g['name']:{width}} {g['g_per_kwh']:8.1f} g/kWh  {g['year']}  {g['basis']:11} "
                f"dataset={g['dataset']}",
                highlight=False,
                markup=False,
            )
        return
    measure_cfg, carbon_cfg = MeasureConfig(), CarbonConfig()
    if experiment:
        study = load_experiment(experiment)
        measure_cfg, carbon_cfg = study.measure, study.carbon
    cpu = cpu_info()
    isa = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu["flags"].items())
    lines = [
        f"CPU: {cpu['model']}",
        f"  ISA: {isa}",
        f"  cores: {cpu['cores_available']} available of {cpu['logical_cores']} logical",
        *_power_model_lines(measure_cfg),
        f"memory: {psutil.virtual_memory().total / 1e9:.1f} GB",
        "meters (in order of preference):",
    ]
    meters, probes = select_meters(measure_cfg)
    gpus: list[str] = []
    for m in meters:
        gpus += getattr(m, "names", [])
        m.close()
    for p in probes:
        lines.append(f"  {p.component:4} {p.meter:18} {'available' if p.available else 'not available'}: {p.reason}")
    lines.append(f"GPUs: {', '.join(gpus) if gpus else 'none found by NVML'}")
    from wattcut.runtimes.available import probe_runtimes

    lines.append("runtimes:")
    for r in probe_runtimes():
        state = "available" if r.available else "not available"
        lines.append(f"  {r.runtime:18} {state} ({r.detail}): {r.serves}")
    i = carbon.resolve(carbon_cfg)
    year = "" if i.year is None else f", {i.year}"
    lines.append(
        f"carbon: {i.location}: {i.g_per_kwh:g} gCO2e/kWh ({i.basis}{year}); source: {i.source}; PUE {carbon_cfg.pue:g}"
    )
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _power_model_lines(measure_cfg: Any) -> list[str]:
    """The inferred microarchitecture and the CPU and RAM power models the estimates would use."""
    from wattcut.measure.cputime import cpu_power
    from wattcut.measure.microarch import this_machine
    from wattcut.measure.power_models import ram_model

    march = this_machine()
    power = cpu_power(measure_cfg.cpu_w_per_core)
    lines = [f"  microarchitecture: {march.label()} ({march.evidence}{', a VM' if march.virtual else ''})"]
    if power.model is not None:
        m = power.model
        lines += [
            f"  CPU power model in force: {m.name}, {m.architecture}: {m.min_w_per_vcpu:.3f}-{m.max_w_per_vcpu:.3f} "
            f"W per vCPU (idle to full load), {m.year}, {m.licence}",
            f"    source: {m.source}",
        ]
    else:
        lines.append(f"  CPU power in force: {power.w_per_core:.3g} W per busy core ({power.origin})")
    r = ram_model(march, measure_cfg.ram_w_per_gb)
    lines.append(f"  RAM power model: {r.describe()}")
    return lines
