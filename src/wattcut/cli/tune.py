"""``wattcut tune EXPERIMENT --variant NAME``: the lowest-energy deployment setting that meets a latency target.

Exit 0: a setting meets the target (tune.md names it and its saving over the default, with a CI); 3: no setting
meets it (tune.md says which came closest); 2: bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wattcut.cli.flags import COUNT, number


def _ints(text: str | None, what: str) -> list[int]:
    from wattcut.errors import UserInputError

    if not text:
        return []
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserInputError(
            f"--{what} {text!r} is not a comma-separated list of whole numbers.", "E.g. 1,2,4."
        ) from None
    if not values or any(v < 1 for v in values):
        raise UserInputError(f"--{what} values must be 1 or more.", "E.g. 1,2,4.")
    return values


def tune(
    experiment: Annotated[str, typer.Argument(help="the study's experiment file (TOML)")],
    variant: Annotated[str, typer.Option(help="the variant to deploy (or baseline)")],
    threads: Annotated[str | None, typer.Option(help="thread counts to try, e.g. 1,2")] = None,
    batch_sizes: Annotated[str | None, typer.Option(help="encoders: batch sizes to try, e.g. 1,8,32")] = None,
    concurrency: Annotated[str | None, typer.Option(help="served chat replay: concurrent clients, e.g. 1,4,8")] = None,
    hints: Annotated[
        str | None, typer.Option(help="OpenVINO variants: performance hints to try, e.g. LATENCY,THROUGHPUT")
    ] = None,
    p95_ms: Annotated[
        float | None, typer.Option(parser=number(0, 1e9), help="target p95 latency (served: TTFT), ms")
    ] = None,
    tpot_p95_ms: Annotated[
        float | None, typer.Option(parser=number(0, 1e9), help="served: target p95 time per output token, ms")
    ] = None,
    rounds: Annotated[int, typer.Option(parser=COUNT, help="interleaved paired rounds")] = 6,
    texts: Annotated[int, typer.Option(parser=COUNT, help="encoders: texts served per setting and round")] = 64,
    out: Annotated[str, typer.Option(help="folder for tune.md, tune.json and the frontier figure")] = "runs/tune",
) -> int:
    """Sweep a variant's deployment settings in paired rounds; pick the lowest energy meeting the target."""
    import json

    from wattcut.errors import UserInputError
    from wattcut.experiment import load_experiment
    from wattcut.measure.provenance import cpu_info
    from wattcut.measure.select import select_meters
    from wattcut.measure.session import EnergySession
    from wattcut.report.tune import frontier_figure, markdown
    from wattcut.runner.checks import check_inputs, task_key
    from wattcut.runner.tune import grid, measure
    from wattcut.stats.tune import analyse
    from wattcut.ui import console, escape
    from wattcut.ui import out as stdout

    cfg = load_experiment(Path(experiment))
    if batch_sizes and concurrency:
        raise UserInputError(
            "--batch-sizes is for encoders, --concurrency for a served chat replay: not both.",
            "Keep the one that matches the study's energy task.",
        )
    _, tasks, _ = check_inputs(cfg)
    key = cfg.energy_task or task_key(tasks[0])
    task = next(t for t in tasks if task_key(t) == key)
    served = task.name == "chat_replay"
    if served and batch_sizes:
        raise UserInputError("--batch-sizes applies to encoder studies.", "Use --concurrency for a chat replay.")
    if not served and (concurrency or tpot_p95_ms):
        raise UserInputError(
            "--concurrency and --tpot-p95-ms apply to a chat replay served by llama-server.", "Use --batch-sizes."
        )
    v = next((x for x in cfg.variants if x.name == variant), None)
    sizes = _ints(concurrency, "concurrency") if served else _ints(batch_sizes, "batch-sizes")
    hint_list = [h.strip().upper() for h in (hints or "").split(",") if h.strip()]
    settings = grid(cfg, task, v.threads if v else None, _ints(threads, "threads"), sizes, hint_list)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    meters, probes = select_meters(cfg.measure)
    session = EnergySession(meters)
    try:
        if cfg.measure.idle_s > 0:
            session.measure_idle(cfg.measure.idle_s)
        measured, about = measure(cfg, variant, settings, rounds, texts, session, out_dir / "work")
    finally:
        session.close()
    result = analyse(measured, {"latency": p95_ms, "tpot": tpot_p95_ms})
    about |= {
        "study": cfg.name,
        "rounds": rounds,
        "cpu": cpu_info().get("model", "unknown CPU"),
        "energy_method": ", ".join(f"{p.component}: {p.meter}" for p in probes if p.available),
    }
    text = markdown(result, about)
    (out_dir / "tune.md").write_text(text, encoding="utf-8")
    (out_dir / "tune.json").write_text(json.dumps({"about": about, **result}, indent=2), encoding="utf-8")
    frontier_figure(result, about, out_dir / "tune_frontier.svg")
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)
    code = 0 if result["chosen"] is not None else 3
    console.print(f"wrote {escape(str(out_dir / 'tune.md'))} (exit {code})")
    return code
