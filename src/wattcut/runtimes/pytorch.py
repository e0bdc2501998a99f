"""PyTorch eager runtime: Hugging Face modules as they are (fp32, or quantized by torch)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wattcut.models import sparse, structure
from wattcut.runtimes.base import ModelFacts, folder_bytes


class TorchClassifier:
    """A Hugging Face sequence classifier running in PyTorch eager mode."""

    runtime = "pytorch"

    def __init__(self, module: Any, precision: str = "fp32", storage: str = "dense") -> None:
        self.module = module
        self.precision = precision
        self.storage = storage  # "sparse": save zero-heavy matrices as values + bit mask (models/sparse.py)

    @property
    def input_names(self) -> list[str]:
        """Inputs the model's forward takes, among those a tokenizer produces."""
        import inspect

        params = inspect.signature(self.module.forward).parameters
        return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``, as float32 numpy."""
        feed = {k: torch.from_numpy(v) for k, v in batch.items() if k in self.input_names}
        with torch.inference_mode():
            return self.module(**feed).logits.float().numpy()

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """FLOPs of one forward pass on a ``[1, seq_len]`` input (None for quantized modules).

        Counted by ``torch.utils.flop_counter`` from the operations actually executed, so
        removed heads, neurons, layers and low-rank factors are reflected exactly.
        """
        from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

        def sdpa(q_shape: Any, k_shape: Any, v_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
            return int(sdpa_flop_count(q_shape, k_shape, v_shape))

        if self.precision != "fp32":
            return None  # quantized kernels are not aten matmuls: the counter would miss them
        feed = {n: torch.ones(1, seq_len, dtype=torch.long) for n in self.input_names}
        if "token_type_ids" in feed:
            feed["token_type_ids"] = torch.zeros(1, seq_len, dtype=torch.long)
        # Fused SDPA has no formula in the counter, which then decomposes it into a CPU kernel
        # it cannot see either: register the op itself (the overload stops decomposition,
        # the packet is what the counter looks up).
        op = torch.ops.aten.scaled_dot_product_attention
        counter = FlopCounterMode(display=False, custom_mapping={op: sdpa, op.default: sdpa})
        with counter, torch.inference_mode():
            self.module(**feed)
        return int(counter.get_total_flops())

    def clone(self) -> TorchClassifier:
        """A deep copy, so a technique can change it without touching the original."""
        return TorchClassifier(copy.deepcopy(self.module), self.precision, self.storage)

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
