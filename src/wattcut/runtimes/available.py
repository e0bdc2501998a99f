"""Which runtimes this environment offers, and why one is not (``wattcut env``; no network access)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass

from wattcut.runtimes.registry import RuntimeSpec, runtimes


@dataclass(frozen=True)
class RuntimeProbe:
    """One runtime: available or not, its version, what it serves, and the reason or fix."""

    runtime: str
    serves: str
    available: bool
    detail: str


def _find(module: str, load: bool) -> None:
    if load:
        importlib.import_module(module)
    elif importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def probe(spec: RuntimeSpec) -> RuntimeProbe:
    """Locate the runtime's modules (a native library is loaded; no model is) and say whether it works."""
    try:
        for m in spec.modules:
            _find(m, spec.load_to_probe)
    except ImportError as e:
        return RuntimeProbe(spec.name, spec.serves, False, f"{e.name or spec.modules[0]} is not installed; {spec.fix}")
    except OSError as e:  # a native library that does not load (built for another CPU)
        return RuntimeProbe(spec.name, spec.serves, False, f"{str(e).splitlines()[0]}; rebuild: {spec.fix}")
    try:
        version = importlib.metadata.version(spec.distribution or spec.modules[0])
    except importlib.metadata.PackageNotFoundError:
        version = "unknown version"
    return RuntimeProbe(spec.name, spec.serves, True, version)


def probe_runtimes() -> list[RuntimeProbe]:
    """Every registered runtime, probed."""
    registry = runtimes()
    return [probe(registry.get(name)) for name in registry.names()]
