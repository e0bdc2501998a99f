"""bfloat16 weights and compute in PyTorch eager mode.

On CPUs with native bf16 (AVX-512 BF16, AMX) this roughly halves memory traffic and uses
bf16 kernels; on AVX2-only CPUs oneDNN emulates it, which may still be faster for
memory-bound decoding (measured ~1.7x on SmolLM2-135M here) but can also be slower. The
study measures it either way; the record names whether the CPU has native bf16.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut.compress.base import CompressContext, technique


@dataclass(frozen=True)
class PtBf16Config:
    """Settings for ``pt_bf16`` (none besides the version)."""

    version: int = 1


def native_bf16() -> bool:
    """Whether this CPU advertises bf16 instructions (AVX-512 BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


@technique("pt_bf16", PtBf16Config, kinds=("sequence-classifier", "causal-lm", "image-classifier"), deterministic=True)
def apply(model: Any, config: PtBf16Config, ctx: CompressContext) -> Any:
    """Cast weights and compute to bfloat16 (PyTorch eager).

    Cast ``model.module`` to bf16; returns a handle of the same kind.
    """
    import torch

    precision = "bf16" + ("" if native_bf16() else " (emulated: no native bf16 on this CPU)")
    return model.recast(model.module.to(torch.bfloat16), precision)
