"""Serve the model on another registered runtime, through the conversion that runtime declares.

A runtime module that registers a ``convert`` function (see
:mod:`wattcut.runtimes.registry`) is reachable from an experiment file with no technique
of its own: ``{ name = "to_runtime", runtime = "<name>" }``. What it takes, returns and
serves is the runtime's own declaration, checked when the file is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, Route, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class ToRuntimeConfig:
    """Which registered runtime to serve the variant on."""

    runtime: str = "pytorch-compile"
    version: int = 1

    def __post_init__(self) -> None:
        from wattcut.runtimes.registry import runtimes

        spec = runtimes().get(self.runtime)  # an unknown name: did-you-mean and the list
        if spec.convert is None:
            convertible = [n for n in runtimes().names() if runtimes().get(n).convert is not None]
            raise UserInputError(
                f'to_runtime: the runtime "{self.runtime}" is reached through its own techniques, not to_runtime.',
                f"to_runtime serves on: {', '.join(convertible) or 'none'}; `wattcut ls` lists the techniques.",
            )


def _route(config: ToRuntimeConfig) -> Route:
    from wattcut.runtimes.registry import runtimes

    spec = runtimes().get(config.runtime)
    return spec.takes, spec.name, spec.kinds


@technique("to_runtime", ToRuntimeConfig, kinds=("sequence-classifier", "causal-lm"), deterministic=True, route=_route)
def apply(model: Any, config: ToRuntimeConfig, ctx: CompressContext) -> Any:
    """Serve on a registered runtime through its own conversion (runtime = name; see `wattcut env`).

    The runtime's ``convert(model, ctx)``.
    """
    from wattcut.runtimes.registry import runtimes

    convert = runtimes().get(config.runtime).convert
    assert convert is not None  # the config refused it otherwise
    return convert(model, ctx)
