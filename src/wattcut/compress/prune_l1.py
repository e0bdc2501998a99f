"""L1 unstructured pruning, made permanent.

Zeroes the smallest-magnitude weights of the encoder's Linear layers. The matrices stay
dense, so on dense CPU kernels this saves neither time nor file size (expect ~1.0x):
report it as a sparsity/accuracy study, not as a speed-up. The classifier head is left
alone by default, as it is tiny and task-critical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, fraction, technique


@dataclass(frozen=True)
class L1UnstructuredConfig:
    """Settings for ``prune_l1_unstructured``.

    Attributes:
        amount: Fraction of weights set to zero.
        scope: ``"layer"`` prunes each Linear to ``amount``; ``"global"`` ranks all
            targeted weights together.
        include_classifier: Also prune the task head.
        storage: ``dense`` (the usual safetensors) or ``sparse``: pruned matrices saved as
            non-zero values + a bit mask (``models/sparse.py``), so the file-size figure
            shows what the zeros could save on disk; speed is unchanged either way.
    """

    amount: float = 0.5
    scope: Literal["layer", "global"] = "layer"
    include_classifier: bool = False
    storage: Literal["dense", "sparse"] = "dense"
    version: int = 2

    def __post_init__(self) -> None:
        fraction('technique "prune_l1_unstructured"', "amount", self.amount)


@technique("prune_l1_unstructured", L1UnstructuredConfig, deterministic=True)
def apply(model: Any, config: L1UnstructuredConfig, ctx: CompressContext) -> Any:
    """Zero the smallest |w| in Linear layers (dense storage: a size/accuracy study, ~1.0x speed).

    Prune ``model.module`` in place and return the handle.
    """
    import torch
    from torch.nn.utils import prune

    head_prefixes = ("classifier", "pre_classifier", "score")
    targets = [
        (m, "weight")
        for name, m in model.module.named_modules()
        if isinstance(m, torch.nn.Linear) and (config.include_classifier or not name.startswith(head_prefixes))
    ]
    if config.scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=config.amount)
    else:
        for m, param in targets:
            prune.l1_unstructured(m, param, amount=config.amount)
    for m, param in targets:
        prune.remove(m, param)  # bake the mask into the weight: no hooks left at inference
    model.storage = config.storage
    return model
