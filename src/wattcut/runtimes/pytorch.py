"""PyTorch eager runtime: Hugging Face modules as they are (fp32, or quantized by torch)."""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wattcut.models import sparse, structure
from wattcut.runtimes.base import Capabilities, Handle, ModelFacts, folder_bytes
from wattcut.runtimes.registry import RuntimeSpec, register
from wattcut.runtimes.streaming import TokenClock, greedy


class TorchClassifier(Handle):
    """A Hugging Face sequence classifier running in PyTorch eager mode."""

    runtime = "pytorch"
    capabilities = Capabilities(threads=True, module=True)
    # the operators a static INT8 quantizer should quantize in this model's ONNX graph (the encoder's MatMuls;
    # the tiny pooler and head Gemms stay fp32)
    quantizable_ops: tuple[str, ...] = ("MatMul",)
    architecture = "transformer"  # what post-training quantizers tune for (NNCF's model type)

    def __init__(self, module: Any, precision: str = "fp32", storage: str = "dense") -> None:
        self.module = module
        self.precision = precision
        self.storage = storage  # "sparse": save zero-heavy matrices as values + bit mask (models/sparse.py)
        self.threads = 0  # 0: the process's torch thread count; else set around each call

    def set_threads(self, threads: int) -> None:
        """Serve with ``threads`` intra-op threads (torch's count is process-wide: set and restored per call)."""
        self.threads = threads

    @property
    def input_names(self) -> list[str]:
        """Inputs the model's forward takes, among those a tokenizer produces."""
        import inspect

        params = inspect.signature(self.module.forward).parameters
        return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``, as float32 numpy."""
        feed = {k: torch.from_numpy(v) for k, v in batch.items() if k in self.input_names}
        with self.serving(), torch.inference_mode():
            return self.module(**feed).logits.float().numpy()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Run the block with this handle's intra-op threads (torch's count is process-wide: set, then restored)."""
        before = torch.get_num_threads()
        if self.threads and self.threads != before:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            if self.threads and self.threads != before:
                torch.set_num_threads(before)

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """FLOPs of one forward pass on a ``[1, seq_len]`` input (None for quantized modules).

        Counted by ``torch.utils.flop_counter`` from the operations actually executed, so
        removed heads, neurons, layers and low-rank factors are reflected exactly.
        """
        if self.precision != "fp32":
            return None  # quantized kernels are not aten matmuls: the counter would miss them
        feed = {n: torch.ones(1, seq_len, dtype=torch.long) for n in self.input_names}
        if "token_type_ids" in feed:
            feed["token_type_ids"] = torch.zeros(1, seq_len, dtype=torch.long)
        return _count_flops(self.module, feed)

    def clone(self) -> TorchClassifier:
        """A deep copy, so a technique can change it without touching the original."""
        return TorchClassifier(copy.deepcopy(self.module), self.precision, self.storage)

    def recast(self, module: Any, precision: str) -> TorchClassifier:
        """A handle of this kind on ``module`` (this one's module cast or converted) at ``precision``."""
        return TorchClassifier(module, precision)

    def export_spec(self) -> tuple[Any, dict[str, Any], dict[str, dict[int, str]]]:
        """What an ONNX export traces: a module (positional inputs in, logits out), example inputs, dynamic axes."""
        names = self.input_names
        example = {n: torch.ones((2, 8), dtype=torch.long) for n in names}
        return LogitsOnly(self.module, names), example, {n: {0: "batch", 1: "sequence"} for n in names}

    def save(self, folder: Path) -> Path:
        """Save the model: an HF folder (float) or a ``torch.save`` state dict (quantized)."""
        folder.mkdir(parents=True, exist_ok=True)
        if any(t.is_quantized for v in self.module.state_dict().values() for t in _tensors(v)):
            torch.save(self.module, folder / "model.pt")  # whole module: quantized Linears need their classes
        elif self.storage == "sparse":
            sparse.save(self.module, folder)
        else:
            structure.save(self.module, folder)  # + remote code when heads/ranks/widths need it
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Count parameters and measure the saved size.

        Float models are saved with ``save_pretrained`` (safetensors); quantized modules,
        which transformers cannot serialise, with ``torch.save`` of the state dict.
        """
        total = nonzero = 0
        for value in self.module.state_dict().values():
            for t in _tensors(value):
                if t.is_quantized:
                    t = t.int_repr()
                if t.dtype in (torch.qint8, torch.quint8) or t.ndim == 0:
                    continue
                total += t.numel()
                nonzero += int(torch.count_nonzero(t))
        quantized = any(t.is_quantized for v in self.module.state_dict().values() for t in _tensors(v))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            if quantized:
                torch.save(self.module.state_dict(), Path(tmp) / "model.pt")
                artifact = "torch.save state_dict"
            elif self.storage == "sparse":
                sparse.save(self.module, Path(tmp))
                artifact = "sparse safetensors (non-zero values + bit mask)"
            else:
                structure.save(self.module, Path(tmp))
                artifact = "save_pretrained (safetensors)"
            size = folder_bytes(Path(tmp))
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, artifact)


def _tensors(value: Any) -> list[Any]:
    """Tensors inside a state-dict value (packed quantized params are tuples)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    return []


class LogitsOnly(torch.nn.Module):
    """Export wrapper: positional inputs in, logits out (for ONNX and OpenVINO conversion)."""

    def __init__(self, module: Any, names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.names = names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.module(**dict(zip(self.names, args, strict=True))).logits


class TorchCausalLM(Handle):
    """A Hugging Face causal language model in PyTorch eager mode (fp32, or bf16 where set).

    The three calls the language-model tasks need, each an explicit loop over the model:
    per-token log-probabilities (perplexity), summed continuation log-likelihoods (label
    scoring, as lm-evaluation-harness's ``loglikelihood``), and greedy generation with a
    KV cache, timed token by token so that time to first token and time per output token
    are observed, not apportioned.
    """

    runtime = "pytorch"
    capabilities = Capabilities(module=True)
    input_names = ["input_ids", "attention_mask"]

    def __init__(self, module: Any, precision: str = "fp32") -> None:
        self.module = module
        self.precision = precision
        self._prefix: tuple[tuple[int, ...], Any] | None = None  # a shared prompt prefix and its KV cache

    def next_token_logits(self, ids: list[int]) -> np.ndarray:
        """Logits of the next token at positions ``0 .. len(ids) - 2`` (rows x vocabulary, float32)."""
        with torch.inference_mode():
            return self.module(input_ids=torch.tensor([ids], dtype=torch.long)).logits[0, :-1].float().numpy()

    def token_logprobs(self, ids: list[int]) -> np.ndarray:
        """``log p(ids[i] | ids[:i])`` for ``i = 1 .. len(ids) - 1`` (float64 numpy)."""
        x = torch.tensor([ids], dtype=torch.long)
        with torch.inference_mode():
            logits = self.module(input_ids=x).logits[0, :-1].float()
        logp = torch.log_softmax(logits, dim=-1)
        return logp.gather(1, x[0, 1:].unsqueeze(1)).squeeze(1).double().numpy()

    def continuation_loglikelihoods(
        self, context: list[int], continuations: list[list[int]], prefix_len: int = 0
    ) -> list[float]:
        """``sum log p(continuation | context)`` for each continuation.

        The context is run once (its KV cache then extends each continuation), so scoring
        K labels costs one prefill, not K. With ``prefix_len``, the first ``prefix_len``
        tokens (a k-shot prefix shared by every item) are computed once and their cache
        reused while the prefix stays the same: prefix caching, as serving engines do.
        """
        with torch.inference_mode():
            past, start = None, 0
            if 0 < prefix_len < len(context):
                key = tuple(context[:prefix_len])
                if self._prefix is None or self._prefix[0] != key:
                    out = self.module(input_ids=torch.tensor([list(key)], dtype=torch.long), use_cache=True)
                    self._prefix = (key, out.past_key_values)
                past, start = copy.deepcopy(self._prefix[1]), prefix_len
            out = self.module(
                input_ids=torch.tensor([context[start:]], dtype=torch.long),
                past_key_values=past,
                use_cache=True,
                logits_to_keep=1,  # only the next-token distribution is needed
            )
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            scores = []
            for c in continuations:
                total = float(first[c[0]])
                if len(c) > 1:  # later tokens of a multi-token label, each given the ones before it
                    more = self.module(
                        input_ids=torch.tensor([c[:-1]], dtype=torch.long),
                        past_key_values=copy.deepcopy(out.past_key_values),
                        use_cache=True,
                    )
                    logp = torch.log_softmax(more.logits[0].float(), dim=-1)
                    total += float(logp[torch.arange(len(c) - 1), torch.tensor(c[1:])].sum())
                scores.append(total)
        return scores

    def generate(
        self, ids: list[int], max_new_tokens: int, stop_ids: set[int], on_first: Any = None
    ) -> tuple[list[int], float, list[float]]:
        """Greedy decoding with a KV cache.

        Returns:
            The new tokens (stop token excluded), the time to first token (prefill plus
            the first argmax) in seconds, and the time of each further token in seconds.
        """
        clock = TokenClock(on_first)
        with torch.inference_mode():
            step = [self.module(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=True)]

            def advance(token: int) -> None:
                step[0] = self.module(
                    input_ids=torch.tensor([[token]], dtype=torch.long),
                    past_key_values=step[0].past_key_values,
                    use_cache=True,
                )

            return greedy(clock, lambda: int(step[0].logits[0, -1].argmax()), advance, max_new_tokens, stop_ids)

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """FLOPs of one forward pass over ``seq_len`` tokens (fp32 only), from torch's flop counter."""
        if self.precision != "fp32":
            return None
        return _count_flops(self.module, {"input_ids": torch.ones(1, seq_len, dtype=torch.long)})

    def recast(self, module: Any, precision: str) -> TorchCausalLM:
        """A handle of this kind on ``module`` (this one's module cast or converted) at ``precision``."""
        return TorchCausalLM(module, precision)

    def clone(self) -> TorchCausalLM:
        """A deep copy, so a technique can change it without touching the original."""
        return TorchCausalLM(copy.deepcopy(self.module), self.precision)

    def _quantized(self) -> bool:
        return any(t.is_quantized for v in self.module.state_dict().values() for t in _tensors(v))

    def save(self, folder: Path) -> Path:
        """``save_pretrained`` (safetensors), or ``torch.save`` of the module when torch-quantized."""
        folder.mkdir(parents=True, exist_ok=True)
        if self._quantized():
            torch.save(self.module, folder / "model.pt")  # quantized Linears need their classes
        else:
            self.module.save_pretrained(folder)
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters (tied embeddings counted once; INT8 weights included) and the saved size."""
        total = nonzero = 0
        seen: set[int] = set()
        for value in self.module.state_dict().values():
            for t in _tensors(value):
                if t.is_quantized:
                    t = t.int_repr()
                if t.ndim == 0 or t.data_ptr() in seen:
                    continue  # scales, and a tied embedding's second name
                seen.add(t.data_ptr())
                total += t.numel()
                nonzero += int(torch.count_nonzero(t))
        quantized = self._quantized()
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            if quantized:
                torch.save(self.module.state_dict(), Path(tmp) / "model.pt")
            else:
                self.module.save_pretrained(tmp)
            size = folder_bytes(Path(tmp))
        artifact = "torch.save state_dict" if quantized else "save_pretrained (safetensors)"
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, artifact)


def _count_flops(module: Any, feed: dict[str, Any]) -> int:
    """FLOPs of ``module(**feed)`` counted by ``torch.utils.flop_counter`` (fused SDPA included)."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def sdpa(q_shape: Any, k_shape: Any, v_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return int(sdpa_flop_count(q_shape, k_shape, v_shape))

    # Fused SDPA has no formula in the counter, which then decomposes it into a CPU kernel
    # it cannot see either: register the op itself (the overload stops decomposition,
    # the packet is what the counter looks up).
    op = torch.ops.aten.scaled_dot_product_attention
    counter = FlopCounterMode(display=False, custom_mapping={op: sdpa, op.default: sdpa})
    with counter, torch.inference_mode():
        module(**feed)
    return int(counter.get_total_flops())


register(
    RuntimeSpec(
        "pytorch",
        "classifiers, causal LMs (baseline)",
        ("torch",),
        "pip install torch==2.13.0",
        kinds=("sequence-classifier", "causal-lm"),
    )
)
