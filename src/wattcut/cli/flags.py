"""Flag types for the command line, said once: numbers that are finite and in range (NaN and inf refused).

Each subcommand is a typed function; its signature (types, defaults and these parsers in
``Annotated``) is its flags, read by typer. A bad value is exit 2 with the flag named.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import typer


def number(low: float, high: float, *, above: bool = False, integer: bool = False) -> Callable[[str], float]:
    """A parser: a finite number in [low, high] (or (low, high] with ``above``); NaN and inf are refused."""

    def parse(text: str | float) -> float:
        try:
            value = int(text) if integer else float(text)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{text!r} is not {'an integer' if integer else 'a number'}") from None
        ok = math.isfinite(value) and (value > low if above else value >= low) and value <= high
        if not ok:
            side = f"more than {low:g}" if above else f"at least {low:g}"
            raise typer.BadParameter(f"{text} is not valid: give a finite number, {side} and at most {high:g}")
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


COUNT = number(1, 1e9, integer=True)
POSITIVE = number(0, 1e15, above=True)
PUE = number(1.0, 10.0)  # a PUE below 1 is impossible; above 10 is a typo


def choice(*values: str) -> Callable[[str], str]:
    """A parser: one of ``values``."""

    def parse(text: str) -> str:
        if text not in values:
            raise typer.BadParameter(f"{text!r} is not one of {', '.join(values)}")
        return text

    parse.__name__ = "|".join(values)
    return parse
