"""INT8 dynamic quantization in PyTorch (``torch.ao.quantization.quantize_dynamic``, fbgemm).

The in-framework INT8 baseline: Linear weights stored in INT8, activations quantized per
batch at run time. ``torch.ao`` is deprecated but, in eager mode on x86, still faster
than its torchao replacement without ``torch.compile`` (pytorch/ao #4365).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, SearchSpace, technique


@dataclass(frozen=True)
class PtInt8DynamicConfig:
    """Settings for ``pt_int8_dynamic`` (none besides the version)."""

    version: int = 1


@technique(
    "pt_int8_dynamic",
    PtInt8DynamicConfig,
    kinds=("sequence-classifier", "causal-lm"),
    deterministic=True,
    search=SearchSpace("runtime"),
)
def apply(model: Any, config: PtInt8DynamicConfig, ctx: CompressContext) -> Any:
    """PyTorch dynamic INT8 of Linear layers (fbgemm), the in-framework INT8 baseline.

    Quantize ``model.module``'s Linear layers; returns a handle of the same kind.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice of torch.ao; documented above
        quantized = torch.ao.quantization.quantize_dynamic(model.module, {torch.nn.Linear}, dtype=torch.qint8)
    return model.recast(quantized, "int8-dynamic (fbgemm)")
