"""``wattcut env``: what this machine can measure, and why not.

Lists the CPU (model, ISA flags that decide INT8/bf16 speed), cores, memory, each
meter's availability with the reason, GPUs, the runtimes installed (llama.cpp's library
is loaded, so a wheel built for another CPU shows up here) and the carbon location in
force. It makes no network access.
"""

from __future__ import annotations


def env(experiment: str | None = None, countries: bool = False) -> None:
    """Print the environment report.

    Args:
        experiment: Optional experiment file whose ``[measure]`` and ``[carbon]`` apply.
        countries: List the carbon data pack's countries and regions instead.
    """
    import psutil

    from wattcut.experiment import load_experiment
    from wattcut.measure import carbon
    from wattcut.measure.select import select_meters
    from wattcut.runner.provenance import cpu_info
    from wattcut.settings import CarbonConfig, MeasureConfig
    from wattcut.ui import out as console

    if countries:
        data = carbon.pack()
        console.print(f"carbon data pack {data['pack_version']}:", highlight=False)
        for c in data["countries"]:
            console.print(
                f"  {c['code']}  {c['name']:32} {c['g_per_kwh']:8.1f} g/kWh  {c['year']}  {c['basis']:11} "
                f"dataset={c['dataset']}",
                highlight=False,
                markup=False,
            )
        for r in data["regions"]:
            console.print(
                f"  {r['country']}/{r['code']}  {r['name']:28} {r['g_per_kwh']:8.1f} g/kWh  {r['year']}  "
                f"{r['basis']:11} dataset={r['dataset']}",
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
