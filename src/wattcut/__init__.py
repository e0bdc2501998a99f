"""wattcut: make machine-learning models cheaper to run, and prove it.

Importing this package is deliberately cheap: no torch, transformers or runtimes are
imported until they are used. The Python API:

- ``wattcut.measure("name")``: a measurement window (context manager, decorator or begin/end) around your own
  code, returning a typed :class:`~wattcut.measure.window.Measurement`.
- ``wattcut.run_study(experiment)``: run a study; returns its typed :class:`~wattcut.store.records.Results`.
- ``wattcut.load_study(folder)``: read a finished study's results.
- ``wattcut.integrations.hf.WattcutCallback``: a Hugging Face ``TrainerCallback``.
"""

import importlib
import logging
from typing import Any

__version__ = "0.1.0"
__all__ = ["load_study", "measure", "run_study"]

# Libraries should not configure logging; a NullHandler keeps "no handler" warnings away.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    # The API is imported on first use, so `import wattcut` stays light.
    if name == "measure":
        return importlib.import_module("wattcut.measure")  # a callable package: wattcut.measure("train")
    if name in ("run_study", "load_study"):
        return getattr(importlib.import_module("wattcut.api"), name)
    raise AttributeError(f"module 'wattcut' has no attribute {name!r}")
