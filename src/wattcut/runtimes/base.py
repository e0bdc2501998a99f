"""The runtime-handle protocol: what every runtime offers, whatever serves the model.

A runtime turns a model into something that serves requests. Every variant, whatever
runtime it ends on, is evaluated and timed through the same calls, so a new runtime is
one module in this package plus its test. Batches are dicts of int64 numpy arrays as the
tokenizer returns them with ``return_tensors="np"``.

- classifiers: ``logits(batch)``;
- causal language models: ``loglikelihoods`` and ``generate`` (see :mod:`.pytorch`);
- all: ``runtime``, ``precision``, ``save(folder)`` and ``facts(workdir)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

RUNTIMES = ("pytorch", "onnxruntime", "openvino", "llamacpp", "onnxruntime-genai")


@dataclass(frozen=True)
class ModelFacts:
    """What a variant is, as stored with every result.

    Attributes:
        parameters: Parameter count (for ONNX: elements of all initializers).
        nonzero_parameters: Parameters that are not exactly zero.
        file_size_bytes: Size of the saved artifact on disk.
        runtime: ``pytorch`` or ``onnxruntime``.
        precision: Numeric format of the weights/compute (``fp32``, ``int8-dynamic``...).
        artifact: What was measured for the file size.
        flops_per_sequence: Floating-point operations of one forward pass on one sequence of
            ``max_length`` tokens, counted on the last float PyTorch form of the variant
            (quantization and runtime conversion change precision, not operation count;
            zeroed weights in dense matrices still count).
    """

    parameters: int
    nonzero_parameters: int
    file_size_bytes: int
    runtime: str
    precision: str
    artifact: str
    flops_per_sequence: int | None = None


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@runtime_checkable
class RuntimeHandle(Protocol):
    """What the runner, tasks and techniques may call on any variant."""

    runtime: str
    precision: str

    def save(self, folder: Path) -> Path:
        """Write the variant so that it can be reloaded (format per runtime)."""
        ...

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters, non-zero parameters and saved size."""
        ...


@runtime_checkable
class Classifier(RuntimeHandle, Protocol):
    """A runtime handle that serves sequence classification."""

    input_names: list[str]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``."""
        ...


def token_logp(logits: np.ndarray, targets: Sequence[int] | np.ndarray) -> np.ndarray:
    """``log softmax(logits)[i, targets[i]]`` per row, without materialising the whole log-softmax.

    Runtimes that hand back every position's logits (llama.cpp with ``logits_all``) would otherwise
    convert rows x vocabulary (25 M values for 512 tokens of a 49k vocabulary) to float64 and
    normalise them all; only one entry per row is needed. The shifted exponentials are summed in
    float64, so the result agrees with a float64 log-softmax to about 1e-6.
    """
    x = np.asarray(logits, dtype=np.float32)
    rows = np.arange(x.shape[0])
    m = x.max(axis=1)
    lse = np.log(np.exp(x - m[:, None]).sum(axis=1, dtype=np.float64)) + m.astype(np.float64)
    return x[rows, np.asarray(targets)].astype(np.float64) - lse
