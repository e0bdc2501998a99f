"""``wattcut measure -- COMMAND ...``: measure any command with wattcut's meters.

The command runs as a child process; its whole process tree is billed: CPU time of the
tree (waited-for children included) for the CPU model, resident memory of the tree
sampled every ``interval_s`` for the RAM model, or the RAPL/NVML counters where they
exist (machine level: the idle baseline, when measured, gives the net share). Writes
``emissions.csv`` (CodeCarbon's layout) and ``measurement.json`` in ``--out``. The exit
code is the command's own.
"""

from __future__ import annotations

import json
import resource
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from wattcut.cli.flags import PUE, choice, number
from wattcut.units import joules


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue  # ended between listing and reading
    return total


def measure(
    command: Annotated[list[str] | None, typer.Argument(metavar="-- COMMAND ...", help="the command, after --")] = None,
    out: Annotated[str, typer.Option(help="folder for emissions.csv and measurement.json")] = ".",
    country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-3 code or name (default: world average)")] = None,
    region: Annotated[str | None, typer.Option(help="sub-national region, e.g. a US state code")] = None,
    pue: Annotated[float, typer.Option(parser=PUE, help="power usage effectiveness")] = 1.0,
    idle_s: Annotated[
        float, typer.Option("--idle", parser=number(0, 86400), metavar="SECONDS", help="measure an idle baseline first")
    ] = 0.0,
    interval_s: Annotated[
        float,
        typer.Option("--interval", parser=number(0, 3600, above=True), metavar="SECONDS", help="sampling period"),
    ] = 1.0,
    crosscheck: Annotated[
        str | None, typer.Option(parser=choice("codecarbon"), help="run CodeCarbon alongside")
    ] = None,
) -> int:
    """Run ``command`` under measurement; returns its exit code.

    Args:
        command: The command and its arguments.
        out: Folder for emissions.csv and measurement.json.
        country: Carbon location (ISO alpha-3 or name); None = world average, labelled.
        region: Sub-national region (e.g. a US state code).
        pue: Power usage effectiveness of the facility.
        idle_s: Seconds of idle baseline before the command (0 = none).
        interval_s: Sampling period for meters that need a thread.
        crosscheck: ``codecarbon`` to run CodeCarbon's offline tracker alongside.
    """
    from wattcut.errors import UserInputError
    from wattcut.measure import carbon, emissions
    from wattcut.measure.provenance import collect
    from wattcut.measure.select import select_meters
    from wattcut.measure.session import EnergySession
    from wattcut.runner.execute import prepare_out
    from wattcut.settings import CarbonConfig, MeasureConfig
    from wattcut.store.records import Phase

    if not command:
        raise UserInputError(
            "wattcut measure needs a command to run.", "Write it after --, e.g. wattcut measure -- python train.py"
        )
    carbon_cfg = CarbonConfig(country=country, region=region, pue=pue)
    measure_cfg = MeasureConfig(interval_s=interval_s, idle_s=idle_s)
    out_dir = Path(out)
    prepare_out(out_dir)
    tracker = _codecarbon(crosscheck, country, pue) if crosscheck else None

    child: dict[str, int] = {"pid": 0, "last": 0}

    def tree_rss() -> int:
        if not child["pid"]:
            return 0
        now = _tree_rss(child["pid"])
        if now:
            child["last"] = now
            return now
        # The command has ended: the best remaining figure is the largest RSS seen, or the
        # peak RSS of its processes (rusage) when it ended before the first sample.
        return max(child["last"], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)

    meters, probes = select_meters(measure_cfg, rss_bytes=tree_rss)
    session = EnergySession(meters)
    try:
        if idle_s > 0:
            session.measure_idle(idle_s)
        if tracker is not None:
            tracker.start()
        with session.phase("command") as rec:
            try:
                proc = subprocess.Popen(command)
            except OSError as e:
                raise UserInputError(
                    f"Could not start {command[0]!r}: {e.strerror or e}.", "Check the command."
                ) from None
            child["pid"] = proc.pid
            code = proc.wait()
            if code < 0:  # killed by a signal: report it as shells do (128 + signal), not as 256 - signal
                code = 128 - code
        cc: dict[str, Any] | None = None
        if tracker is not None:
            tracker.stop()
            data = tracker.final_emissions_data  # energies in kWh, CodeCarbon's unit
            cc = {f"{k}_energy_j": joules(getattr(data, f"{k}_energy")) for k in ("cpu", "ram", "gpu")}
            cc["energy_j"] = joules(data.energy_consumed)
            cc["co2e_g"] = data.emissions * 1000
    finally:
        session.close()
    rec.samples = 1
    d = rec.to_dict()
    intensity = carbon.resolve(carbon_cfg, rec.started_at, rec.started_at + rec.duration_s)
    net = carbon.co2e(d["net_energy_j"], intensity, pue)["co2e_g"]
    d["carbon"] = {**carbon.co2e(d["energy_j"], intensity, pue), "net_co2e_g": net}
    started = datetime.fromtimestamp(rec.started_at, UTC).isoformat(timespec="seconds")
    result: dict[str, Any] = {
        "schema_version": 1,
        "study": "wattcut measure",
        "started_at": started,
        "command": command,
        "exit_code": code,
        "provenance": collect(),
        "meters": [p.__dict__ for p in probes],
        "idle_baseline": session.idle.to_dict() if session.idle else None,
        "config": {"carbon": {"country": country, "region": region}},
        "trials": [{"variant": "command", "trial_index": 0, "finished_at": started, "phases": [d]}],
    }
    if cc is not None:
        result["crosscheck"] = {"tool": "codecarbon (OfflineEmissionsTracker, machine mode)", **cc}
    (out_dir / "measurement.json").write_text(json.dumps(result, indent=2, allow_nan=False), encoding="utf-8")
    window = emissions.Window("command", 0, started, Phase.from_dict(d))
    table = emissions.window_rows(result["study"], started, result["config"], result["provenance"], [window])
    emissions.write_rows(table, out_dir / "emissions.csv")
    from wattcut.ui import out as stdout

    _summary(stdout, d, result)
    return code


def _codecarbon(name: str, country: str | None, pue: float) -> Any:
    from wattcut.errors import UserInputError

    if name != "codecarbon":
        raise UserInputError(f'Unknown --crosscheck "{name}".', "The only cross-check is codecarbon.")
    if country is None:
        raise UserInputError(
            "--crosscheck codecarbon needs --country: CodeCarbon's offline tracker needs a location, and wattcut "
            "will not pick one for it.",
            "Add --country with an ISO 3166 alpha-3 code, e.g. --country FRA.",
        )
    from wattcut.measure.carbon import country_intensity

    code = country_intensity(country).location.rsplit("(", 1)[-1].rstrip(")")  # "France (FRA)" -> "FRA"
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        raise UserInputError(
            "--crosscheck codecarbon needs the codecarbon package, which is not installed.",
            'Install it with `pip install "wattcut[codecarbon]"`.',
        ) from None
    # The offline tracker never looks the location up on the network; it needs a country.
    return OfflineEmissionsTracker(
        country_iso_code=code, pue=pue, save_to_file=False, log_level="error", tracking_mode="machine"
    )


def _summary(console: Any, d: dict[str, Any], result: dict[str, Any]) -> None:
    lines = [f"command exited with {result['exit_code']} after {d['duration_s']:.3f} s"]
    for comp, e in d["energy"].items():
        value = "n/a" if e["energy_j"] is None else f"{e['energy_j']:.3f} J"
        net = "" if e["net_energy_j"] is None else f" (net {e['net_energy_j']:.3f} J)"
        lines.append(f"  {comp}: {value}{net}  [{'estimated' if e['estimated'] else 'measured'}: {e['method']}]")
        lines.append(f"      {e['source']}")
    c = d["carbon"]
    co2 = "n/a" if c["co2e_g"] is None else f"{c['co2e_g']:.6f} g"
    lines.append(
        f"  CO2e: {co2} at {c['intensity_g_per_kwh']:g} g/kWh ({c['intensity_location']}; {c['intensity_source']}"
        f"{'' if c['intensity_year'] is None else ', ' + str(c['intensity_year'])}), PUE {c['pue']:g}"
    )
    if "crosscheck" in result:
        cc = result["crosscheck"]
        lines.append(
            f"  cross-check, {cc['tool']}: {cc['energy_j']:.3f} J (cpu {cc['cpu_energy_j']:.3f}, ram "
            f"{cc['ram_energy_j']:.3f}, gpu {cc['gpu_energy_j']:.3f}), {cc['co2e_g']:.6f} g CO2e; its own models "
            "(TDP and DIMM rules), so compare methods, not only totals"
        )
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
