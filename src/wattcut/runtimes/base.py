"""The runtime-handle protocol: what every runtime offers, whatever serves the model.

A runtime turns a model into something that serves requests. Every variant, whatever
runtime it ends on, is evaluated and timed through the same calls, so a new runtime is
one module in this package plus its test. Batches are dicts of int64 numpy arrays as the
tokenizer returns them with ``return_tensors="np"``.

- classifiers: ``logits(batch)``;
- causal language models: ``loglikelihoods`` and ``generate`` (see :mod:`.pytorch`);
- all: ``runtime``, ``precision``, ``save(folder)``, ``facts(workdir)``, ``flops_per_sequence``,
  ``notes`` (what the technique that built it says) and ``capabilities``: what else it
  offers, declared by the class (:class:`Capabilities`), never probed by the runner.

Each runtime registers itself (name, what it serves, what it needs installed, its extra)
in :data:`wattcut.runtimes.registry.RUNTIMES`; a handle's ``runtime`` is that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    """What a handle offers beyond the common calls, declared by its class.

    Attributes:
        load_phase: ``load()`` opens or compiles the model; the runner meters it as its own
            ``load`` phase, so that it is not billed to the first request.
        threads: ``set_threads(n)`` serves with ``n`` threads (a per-variant deployment setting).
        depth_log: early exit: each served request's depth is appended to ``depth_log``
            (and ``exits`` lists the exit layers).
        module: ``module`` is the PyTorch module served (FLOPs and the cost model's structure
            are read from it when its precision is fp32).
        gguf: ``path`` is a GGUF file (llama.cpp), which ``llama-server`` can serve as it is.
        performance_hint: ``set_performance_hint(h)`` recompiles with the runtime's hint ``h``
            (OpenVINO: ``LATENCY`` or ``THROUGHPUT``); ``performance_hint`` is the current one.
    """

    load_phase: bool = False
    threads: bool = False
    depth_log: bool = False
    module: bool = False
    gguf: bool = False
    performance_hint: bool = False


class Handle:
    """Defaults every handle class shares: no extra capability and no technique notes."""

    runtime: ClassVar[str]
    precision: str
    capabilities: ClassVar[Capabilities] = Capabilities()
    notes: dict[str, Any] | None = None  # what the technique that built it says (stored in the record)


class FolderHandle(Handle):
    """A handle served from a folder its runtime reads as it is (an OpenVINO IR, a model-builder output).

    Saved by copying the folder; FLOPs are not counted (quantized kernels are not aten matmuls).
    """

    folder: Path

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """Not counted for a runtime's own model folder."""
        return None

    def save(self, folder: Path) -> Path:
        """Copy the model folder."""
        import shutil

        shutil.copytree(self.folder, folder, dirs_exist_ok=True)
        return folder


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
        flops_seq_len: The sequence length ``flops_per_sequence`` was counted at.
        embedding_parameters: Decoders: vocabulary x hidden size (the embedding table, and the output
            head's size), for the roofline's prefill and decode work; None where unknown.
        tied_embeddings: The output head shares the embedding table.
    """

    parameters: int
    nonzero_parameters: int
    file_size_bytes: int
    runtime: str
    precision: str
    artifact: str
    flops_per_sequence: int | None = None
    flops_seq_len: int | None = None
    embedding_parameters: int | None = None
    tied_embeddings: bool | None = None


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@runtime_checkable
class RuntimeHandle(Protocol):
    """What the runner, tasks and techniques may call on any variant."""

    runtime: str
    precision: str
    capabilities: Capabilities
    notes: dict[str, Any] | None

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


@runtime_checkable
class CausalLM(RuntimeHandle, Protocol):
    """A runtime handle that serves a causal language model (see :class:`~wattcut.runtimes.pytorch.TorchCausalLM`)."""

    def next_token_logits(self, ids: list[int]) -> np.ndarray:
        """Logits of the next token at positions ``0 .. len(ids) - 2`` (rows x vocabulary): KL divergence."""
        ...

    def token_logprobs(self, ids: list[int]) -> np.ndarray:
        """``log p(ids[i] | ids[:i])`` for ``i = 1 .. len(ids) - 1``."""
        ...

    def continuation_loglikelihoods(
        self, context: list[int], continuations: list[list[int]], prefix_len: int = 0
    ) -> list[float]:
        """Summed log-likelihood of each continuation after ``context``."""
        ...

    def generate(
        self, ids: list[int], max_new_tokens: int, stop_ids: set[int], on_first: Any = None
    ) -> tuple[list[int], float, list[float]]:
        """Greedy decoding, timed by :class:`~wattcut.runtimes.streaming.TokenClock`."""
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
