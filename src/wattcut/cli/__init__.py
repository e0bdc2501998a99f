"""The ``wattcut`` command line.

Each subcommand is one module with a typed function whose signature is its flags (types,
defaults, help and range checks in ``Annotated``): typer builds the parser from it, so no
flag is written twice. Typer, over click, was chosen because it reads plain annotated
functions (still called directly from Python and tests) and reports a bad value as a usage
error naming the flag, exit 2. This module only registers the commands and maps errors to
exit codes: 0 done, 2 bad input (a one-paragraph message
naming the problem and the fix, no traceback), 3 a study finished with failed variants
(recorded; the rest is kept), 1 internal failure, 130 interrupted.
Importing this module imports no torch: ``wattcut --help`` is instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from wattcut import __version__
from wattcut.errors import UserInputError, VariantsFailedError


def _version(show: bool) -> None:
    if show:
        print(f"wattcut {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show the version and exit")
    ] = False,
) -> None:
    """Compress transformer models and prove the savings in energy, CO2e and quality."""


def _app() -> Any:
    """The typer app: each subcommand is its module's typed function, whose signature is its flags."""
    from wattcut.cli import (
        campaign,
        card,
        compare,
        env,
        gate,
        ls,
        measure,
        mlflow,
        place,
        report,
        run,
        search,
        tune,
        validate,
    )

    app = typer.Typer(
        name="wattcut",
        help="Compress transformer models and prove the savings in energy, CO2e and quality.",
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )

    app.callback()(_root)
    commands = (
        ("run", run.run, "run a study: fine-tune, compress, evaluate, measure, report"),
        ("search", search.search, "search pipelines on a fast proxy, then prove the best ones in a full study"),
        ("validate", validate.validate, "check an experiment file without running it"),
        ("report", report.report, "rebuild results.json/.csv, report.html/.md, figures and emissions.csv"),
        ("gate", gate.gate, "a CI gate: fail (1) on a proven energy or quality regression, 3 when undecided"),
        ("tune", tune.tune, "the lowest-energy deployment setting of a variant that meets a p95 latency target"),
        ("card", card.card, "the model card's energy section: co2_eq_emissions metadata and an energy table"),
        ("compare", compare.compare, "two studies side by side: the same study on two machines, say"),
        ("ls", ls.ls, "list techniques and named datasets"),
        ("campaign", campaign.campaign, "a grid of studies (models x data x variant sets x machines) on Ray"),
        ("place", place.place, "where and when to run a job (a study, or its energy) for the least CO2e"),
        ("env", env.env, "what this machine can measure (meters, CPU flags, GPUs, carbon location)"),
        ("mlflow", mlflow.mlflow, "log a finished study to an MLflow tracking URI (the mlflow extra)"),
        ("measure", measure.measure, "measure any command: wattcut measure [options] -- COMMAND ..."),
    )
    for name, function, summary in commands:
        app.command(name, help=summary)(function)
    return app


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
    try:
        from typer._click.exceptions import ClickException  # typer 0.2x ships its own click
    except ImportError:  # a typer over the click package
        from click.exceptions import ClickException  # type: ignore[assignment]

    args = list(sys.argv[1:] if argv is None else argv)
    app = _app()
    if not args:
        args = ["--help"]
    from wattcut.ui import console

    try:
        result = app(args=args, prog_name="wattcut", standalone_mode=False)
    except ClickException as e:  # a bad flag or value: usage and the problem, exit 2
        e.show()
        return e.exit_code
    except typer.Abort:
        console.print("[yellow]interrupted[/]: trials that finished are kept in the store.")
        return 130
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
    return result if isinstance(result, int) else 0  # place, measure, gate and tune return their own exit code


if __name__ == "__main__":
    sys.exit(main())
