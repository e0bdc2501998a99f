"""The ``wattcut`` command line.

Each subcommand is one module with a typed function; this module only builds the
parser and maps errors to exit codes: 0 done, 2 bad input (a one-paragraph message
naming the problem and the fix, no traceback), 3 a study finished with failed variants
(recorded; the rest is kept), 1 internal failure, 130 interrupted.
Importing this module imports no torch: ``wattcut --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from wattcut import __version__
from wattcut.errors import UserInputError, VariantsFailedError


def _number(low: float, high: float, *, above: bool = False, integer: bool = False) -> Any:
    """An argparse type: a finite number in [low, high] (or (low, high] with ``above``); NaN and inf are refused."""
    import math

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
        ok = math.isfinite(value) and (value > low if above else value >= low) and value <= high
        if not ok:
            side = f"more than {low:g}" if above else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is not valid: give a finite number, {side} and at most {high:g}")
        return value

    parse.__name__ = "integer" if integer else "number"  # argparse names the type in its message
    return parse


_COUNT = _number(1, 1e9, integer=True)
_POSITIVE = _number(0, 1e15, above=True)
_PUE = _number(1.0, 10.0)  # a PUE below 1 is impossible; above 10 is a typo


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wattcut",
        description="Compress transformer models and prove the savings in energy, CO2e and quality.",
    )
    p.add_argument("--version", action="version", version=f"wattcut {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a study: fine-tune, compress, evaluate, measure, report")
    run.add_argument(
        "experiment",
        nargs="?",
        default=None,
        help="experiment TOML file (default: the built-in default study)",
    )
    run.add_argument("--out", default=None, help="output folder (default: [study] out from the file)")
    run.add_argument("--quick", action="store_true", help="one trial, at most 2,000 training rows and 100 requests")
    run.add_argument("--trials", type=_COUNT, default=None, help="override [study] trials")

    sea = sub.add_parser("search", help="search pipelines on a fast proxy, then prove the best ones in a full study")
    sea.add_argument("experiment", nargs="?", default=None, help="experiment TOML (its [[variants]] are ignored)")
    sea.add_argument("--out", default=None, help="output folder (default: <[study] out>-search)")
    sea.add_argument(
        "--budget-min",
        type=_number(0, 10080, above=True),
        default=20.0,
        help="minutes for the proxy search (default 20)",
    )
    sea.add_argument("--quick", action="store_true", help="the quick preset for the full study")
    sea.add_argument("--proxy-items", type=_COUNT, default=300, help="evaluation items per proxy score (default 300)")
    sea.add_argument("--front", type=_COUNT, default=4, help="pipelines re-measured in the full study (default 4)")
    sea.add_argument(
        "--probe-requests", type=_COUNT, default=60, help="requests per CPU-time probe of a candidate (default 60)"
    )

    val = sub.add_parser("validate", help="check an experiment file without running it")
    val.add_argument("experiment")

    rep = sub.add_parser("report", help="rebuild results.json/.csv, report.html/.md, figures and emissions.csv")
    rep.add_argument("store", help="an output folder or its wattcut.sqlite")
    rep.add_argument(
        "--requests-per-day", type=_POSITIVE, default=None, metavar="N", help="re-price payback for this traffic"
    )
    rep.add_argument(
        "--grid", action="append", default=None, metavar="GRID", help="deployment grid (repeatable): DEU, WORLD..."
    )

    cmp = sub.add_parser("compare", help="two studies side by side (e.g. the same study on two machines)")
    cmp.add_argument("store_a", help="an output folder or its wattcut.sqlite")
    cmp.add_argument("store_b", help="another output folder or store")
    cmp.add_argument("--out", default=None, help="also write compare.json into this folder")

    sub.add_parser("ls", help="list techniques and named datasets")

    cam = sub.add_parser("campaign", help="a grid of studies (models x data x variant sets x machines) on Ray")
    cam.add_argument("campaign", help="campaign TOML file")
    cam.add_argument("--out", default=None, help="output folder (default: runs/<campaign name>)")
    cam.add_argument("--address", default=None, help="join this Ray cluster (default: Ray in local mode)")

    pla = sub.add_parser("place", help="where and when to run a job (a study, or its energy) for the least CO2e")
    pla.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="NAME=CSV|CODE",
        help="a candidate: NAME=hourly.csv (timestamp,g_per_kwh) or a country code (repeatable)",
    )
    pla.add_argument("--study", default=None, help="a study folder: its measured energy and wall time are the job")
    pla.add_argument("--energy-kwh", type=_POSITIVE, default=None, help="the job's energy (measured or predicted)")
    pla.add_argument("--hours", type=_number(0, 8760, above=True), default=None, help="the job's length")
    pla.add_argument("--default", default=None, help="the region it would run in now (default: the first)")
    pla.add_argument("--start", default=None, help="earliest start, ISO 8601 (default: now)")
    pla.add_argument(
        "--deadline-h",
        type=_number(0, 87600, above=True),
        default=24.0,
        help="hours from the start by which it must end",
    )
    pla.add_argument("--pue", type=_PUE, default=1.0, help="data-centre PUE (default 1.0)")
    pla.add_argument("--embodied-g-per-h", type=_number(0, 1e9), default=0.0, help="embodied gCO2e per machine hour")
    pla.add_argument(
        "--max-gap-h", type=_number(0, 8760, above=True), default=3.0, help="longest series step that is not a gap"
    )
    pla.add_argument(
        "--gap-fill", choices=["refuse", "previous"], default="refuse", help="refuse gaps or hold the previous value"
    )
    pla.add_argument("--out", default=None, help="also write the answer as JSON to this file")

    env = sub.add_parser("env", help="what this machine can measure (meters, CPU flags, GPUs, carbon location)")
    env.add_argument("experiment", nargs="?", default=None, help="apply this file's [measure] and [carbon]")
    env.add_argument("--countries", action="store_true", help="list the carbon data pack")

    mea = sub.add_parser(
        "measure",
        help="measure any command: wattcut measure [options] -- COMMAND ...",
        description="Run COMMAND (after --) and measure its energy and CO2e with wattcut's meters.",
    )
    mea.add_argument("--out", default=".", help="folder for emissions.csv and measurement.json (default: .)")
    mea.add_argument("--country", default=None, help="ISO 3166 alpha-3 code or name (default: world average)")
    mea.add_argument("--region", default=None, help="sub-national region, e.g. a US state code")
    mea.add_argument("--pue", type=_PUE, default=1.0, help="power usage effectiveness (default 1.0)")
    mea.add_argument(
        "--idle", type=_number(0, 86400), default=0.0, metavar="SECONDS", help="measure an idle baseline first"
    )
    mea.add_argument(
        "--interval",
        type=_number(0, 3600, above=True),
        default=1.0,
        metavar="SECONDS",
        help="sampling period (default 1)",
    )
    mea.add_argument("--crosscheck", choices=["codecarbon"], default=None, help="run CodeCarbon alongside")
    mea.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    return p


def escape_text(s: str) -> str:
    """User text shown through rich: no markup is interpreted."""
    from rich.markup import escape

    return escape(s)


def _internal_error(console: Any) -> int:
    console.print_exception(max_frames=8)
    console.print("[bold red]internal error[/]: this is a wattcut bug; please report it with the trace above.")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wattcut`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    from wattcut.ui import console

    try:
        if args.command == "run":
            from wattcut.cli.run import run

            run(args.experiment, out=args.out, quick=args.quick, trials=args.trials)
        elif args.command == "search":
            from wattcut.cli.search import search

            search(
                args.experiment,
                args.out,
                args.budget_min,
                args.quick,
                args.proxy_items,
                args.front,
                args.probe_requests,
            )
        elif args.command == "validate":
            from wattcut.cli.validate import validate

            validate(args.experiment)
        elif args.command == "report":
            from wattcut.cli.report import report

            report(args.store, requests_per_day=args.requests_per_day, grids=args.grid)
        elif args.command == "compare":
            from wattcut.cli.compare import compare

            compare(args.store_a, args.store_b, out=args.out)
        elif args.command == "ls":
            from wattcut.cli.ls import ls

            ls()
        elif args.command == "campaign":
            from wattcut.cli.campaign import campaign

            campaign(args.campaign, out=args.out, address=args.address)
        elif args.command == "place":
            from wattcut.cli.place import place

            return place(
                args.region,
                study=args.study,
                energy_kwh=args.energy_kwh,
                hours=args.hours,
                default=args.default,
                start=args.start,
                deadline_h=args.deadline_h,
                pue=args.pue,
                embodied_g_per_h=args.embodied_g_per_h,
                out=args.out,
                max_gap_h=args.max_gap_h,
                gap_fill=args.gap_fill,
            )
        elif args.command == "env":
            from wattcut.cli.env import env

            env(args.experiment, countries=args.countries)
        elif args.command == "measure":
            from wattcut.cli.measure import measure

            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return measure(
                cmd,
                out=args.out,
                country=args.country,
                region=args.region,
                pue=args.pue,
                idle_s=args.idle,
                interval_s=args.interval,
                crosscheck=args.crosscheck,
            )
    except VariantsFailedError as e:
        console.print(
            f"[bold red]error:[/] {escape_text(e.problem)} {escape_text(e.fix)}", highlight=False, soft_wrap=True
        )
        return VariantsFailedError.exit_code
    except UserInputError as e:
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(e.problem)} {escape(e.fix)}", highlight=False, soft_wrap=True)
        return UserInputError.exit_code
    except OSError as e:
        import errno

        if e.errno != errno.ENOSPC:
            return _internal_error(console)
        console.print(
            f"[bold red]error:[/] disk full ({escape_text(str(e.filename or ''))}): nothing more could be written. "
            "Trials stored before this are kept. Free at least 100 MB there (more for large models) or choose "
            "another folder with --out, then run the same command again to resume.",
            highlight=False,
            soft_wrap=True,
        )
        return UserInputError.exit_code
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: trials that finished are kept in the store.")
        return 130
    except Exception:  # a bug in wattcut, not the user's input
        return _internal_error(console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
