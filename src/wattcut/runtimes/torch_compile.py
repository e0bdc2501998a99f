"""PyTorch with ``torch.compile`` (TorchInductor, C++ kernels on CPU): a classifier served compiled.

Reached from an experiment file by the generic step ``{ name = "to_runtime", runtime =
"pytorch-compile" }``, after any PyTorch technique. The weights and FLOPs are the eager
module's; compilation (code generation and a C++ build, tens of seconds) runs in the
variant's own ``load`` phase, so it is neither billed to the first request nor left out.
Inductor needs a C++ compiler on the machine (``g++``); without one the variant fails
with the compiler's message and the study goes on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wattcut.runtimes.base import Capabilities
from wattcut.runtimes.pytorch import TorchClassifier
from wattcut.runtimes.registry import RuntimeSpec, register


class CompiledClassifier(TorchClassifier):
    """A :class:`TorchClassifier` whose forward runs through ``torch.compile(dynamic=True)``."""

    runtime = "pytorch-compile"
    capabilities = Capabilities(load_phase=True, threads=True, module=True)

    def __init__(self, module: Any, precision: str = "fp32", storage: str = "dense") -> None:
        super().__init__(module, precision, storage)
        self._compiled: Any = None

    def load(self) -> None:
        """Compile now: one call at batch 1 and one at batch 2 (torch specialises size 1), short sequences."""
        self._compiled = torch.compile(self.module, dynamic=True)
        for rows in (1, 2):
            batch = {n: np.ones((rows, 8), dtype=np.int64) for n in self.input_names}
            self.logits(batch)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits through the compiled module (compiled on first use if ``load`` was not called)."""
        if self._compiled is None:
            self._compiled = torch.compile(self.module, dynamic=True)
        feed = {k: torch.from_numpy(v) for k, v in batch.items() if k in self.input_names}
        with self.serving(), torch.inference_mode():
            return self._compiled(**feed).logits.float().numpy()

    def clone(self) -> CompiledClassifier:
        """A deep copy of the eager module, compiled again when it is loaded."""
        eager = super().clone()
        return CompiledClassifier(eager.module, eager.precision, eager.storage)


def convert(model: Any, ctx: Any) -> CompiledClassifier:
    """The PyTorch classifier ``model``, to be served compiled (the module itself is shared, not copied)."""
    handle = CompiledClassifier(model.module, model.precision, model.storage)
    handle.threads, handle.notes = model.threads, model.notes
    return handle


register(
    RuntimeSpec(
        "pytorch-compile",
        "classifiers (torch.compile, TorchInductor C++ kernels)",
        ("torch",),
        "pip install torch==2.13.0, and a C++ compiler (apt install g++)",
        kinds=("sequence-classifier",),
        takes=("pytorch",),
        convert=convert,
    )
)
