"""One registry of runtimes: name, what it serves, what it needs installed, and how a study reaches it.

Each runtime module registers a :class:`RuntimeSpec` when it is imported; :func:`runtimes`
imports every module of this package once (they import their runtime library lazily,
torch aside), so adding a runtime is one module plus its test. ``wattcut env`` prints the
availability of each; a handle's ``runtime`` attribute is its spec's name.

A runtime that declares ``convert`` is also reachable from an experiment file without a
technique of its own: ``{ name = "to_runtime", runtime = "<name>" }``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattcut.registry import Registry


@dataclass(frozen=True)
class RuntimeSpec:
    """A registered runtime.

    Attributes:
        name: The runtime's one name (records, techniques' ``takes``/``returns``, ``wattcut env``).
        serves: What it serves, in words (``wattcut env``).
        modules: Python modules it needs; the first one's distribution gives the version.
        fix: How to install it, quoted when it is missing.
        extra: The ``pip install wattcut[...]`` extra that brings it, if any.
        distribution: The first module's distribution name, where it differs from the module's.
        load_to_probe: A native library that is imported to probe it (one built for another CPU
            shows up); the others are only located (importing OpenVINO starts its telemetry).
        kinds: Model kinds it serves (a task's ``model_kind``).
        takes: Runtimes ``convert`` takes a model from.
        convert: ``(handle, CompressContext) -> handle`` for the generic ``to_runtime`` step.
    """

    name: str
    serves: str
    modules: tuple[str, ...]
    fix: str
    extra: str | None = None
    distribution: str | None = None
    load_to_probe: bool = False
    kinds: tuple[str, ...] = ()
    takes: tuple[str, ...] = ()
    convert: Callable[[Any, Any], Any] | None = None


RUNTIMES: Registry[RuntimeSpec] = Registry("runtime", 'variants[].techniques[] { name = "to_runtime", runtime }')
LLM_EXTRA = 'pip install -e ".[llm]" (bash scripts/setup.sh --llm)'


def register(spec: RuntimeSpec) -> RuntimeSpec:
    """Add ``spec`` to :data:`RUNTIMES` (called at the top level of its runtime module)."""
    RUNTIMES.add(spec.name, spec)
    return spec


_LOADED: list[bool] = []


def runtimes() -> Registry[RuntimeSpec]:
    """:data:`RUNTIMES`, with every runtime module of this package imported (once)."""
    if not _LOADED:
        import wattcut.runtimes as package

        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
        _LOADED.append(True)
    return RUNTIMES
