"""Terminal output: one rich console and progress bars for long loops."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["bar", "console", "escape", "out"]

console = Console(stderr=True)  # progress, logs and errors
# A command's primary output (env, ls, summaries). Piped output gets a wide fixed width
# rather than rich's 80 columns, so tables stay readable in logs.
out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 160)


@contextmanager
def bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar; yields ``advance(n)``. Transient, so logs stay readable."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # Bars only on a terminal: in logs and CI they would print a blank line per refresh.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(escape(description), total=total)  # user names are text, not markup

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        yield advance
