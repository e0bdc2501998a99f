"""2:4 semi-structured sparsity: 2 of every 4 consecutive weights are zero.

In every group of 4 consecutive input weights of a Linear row, the 2 smallest-magnitude
weights are zeroed. The pattern that sparse tensor cores (NVIDIA Ampere and newer) can run faster; on CPUs
there is no such kernel in PyTorch, ONNX Runtime or OpenVINO, so here it is a size and
accuracy study, like unstructured pruning (expect ~1.0x speed), and reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, technique


@dataclass(frozen=True)
class TwoFourConfig:
    """Settings for ``prune_2_4``.

    Attributes:
        include_classifier: Also sparsify the task head.
    """

    include_classifier: bool = False
    version: int = 1


def two_four_mask(weight: Any) -> Any:
    """Boolean mask keeping the 2 largest |w| of every 4 along the input dimension."""
    import torch

    out_f, in_f = weight.shape
    pad = (-in_f) % 4
    # Pad a last partial group with -1: below any |w|, so padding is never what is kept.
    w = torch.nn.functional.pad(weight.detach().abs(), (0, pad), value=-1.0)
    groups = w.view(out_f, -1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(2, groups.topk(2, dim=2).indices, True)
    return keep.view(out_f, -1)[:, :in_f]


@technique("prune_2_4", TwoFourConfig, deterministic=True)
def apply(model: Any, config: TwoFourConfig, ctx: CompressContext) -> Any:
    """2:4 semi-structured sparsity masks (50% zeros; GPU sparse kernels only, ~1.0x on CPU).

    Zero weights in the 2:4 pattern, in place.
    """
    import torch

    for name, m in model.module.named_modules():
        if isinstance(m, torch.nn.Linear) and (
            config.include_classifier or not name.startswith(("classifier", "score"))
        ):
            with torch.no_grad():
                m.weight.mul_(two_four_mask(m.weight))
    return model
