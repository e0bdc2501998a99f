"""Structured pruning of FFN neurons, physically removed.

In every transformer layer the intermediate Linear (hidden → ffn) and the output Linear
(ffn → hidden) are sliced to keep the most important neurons, and the model config's
``intermediate_size`` is rewritten, so the smaller model saves and reloads with plain
transformers and is faster on any runtime.

Importance is the L1 norm of each neuron's incoming row plus its outgoing column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class FfnNeuronsConfig:
    """Settings for ``prune_ffn_neurons``.

    Attributes:
        amount: Fraction of FFN neurons removed in every layer.
    """

    amount: float = 0.5
    version: int = 1

    def __post_init__(self) -> None:
        fraction('technique "prune_ffn_neurons"', "amount", self.amount)


def _ffn_pairs(module: Any) -> list[tuple[Any, Any]]:
    """(intermediate Linear, output Linear) per layer for BERT-style encoders."""
    pairs = []
    for layer in module.modules():
        inter = getattr(getattr(layer, "intermediate", None), "dense", None)
        out = getattr(getattr(layer, "output", None), "dense", None)
        if inter is not None and out is not None and inter.out_features == out.in_features:
            pairs.append((inter, out))
    return pairs


def _slice_linear(linear: Any, index: Any, dim: int) -> Any:
    """A new Linear keeping ``index`` along ``dim`` (0 = output rows, 1 = input columns)."""
    import torch

    w = linear.weight.detach().index_select(dim, index).clone()
    bias = linear.bias
    b = None if bias is None else (bias.detach()[index].clone() if dim == 0 else bias.detach().clone())
    new = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
    with torch.no_grad():
        new.weight.copy_(w)
        if b is not None:
            new.bias.copy_(b)
    return new


@technique(
    "prune_ffn_neurons",
    FfnNeuronsConfig,
    takes="pytorch",
    returns="pytorch",
    summary="remove a fraction of FFN neurons in every layer (smaller dense model, real speed-up)",
)
def apply(model: Any, config: FfnNeuronsConfig, ctx: CompressContext) -> Any:
    """Slice FFN neurons out of ``model.module`` and rewrite its config."""
    import torch

    pairs = _ffn_pairs(model.module)
    if not pairs:
        raise UserInputError(
            f"prune_ffn_neurons found no FFN blocks (layer.intermediate.dense + layer.output.dense) in "
            f"{type(model.module).__name__}.",
            "It supports BERT-style encoders (BERT, MiniLM, MPNet, RoBERTa); remove it from this variant.",
        )
    width = pairs[0][0].out_features
    keep = max(1, round(width * (1.0 - config.amount)))
    for inter, out in pairs:
        score = inter.weight.abs().sum(dim=1) + out.weight.abs().sum(dim=0)
        index = torch.topk(score, keep).indices.sort().values
        parent_i, parent_o = _parent(model.module, inter), _parent(model.module, out)
        parent_i.dense = _slice_linear(inter, index, dim=0)
        parent_o.dense = _slice_linear(out, index, dim=1)
    model.module.config.intermediate_size = keep
    return model


def _parent(root: Any, child: Any) -> Any:
    for m in root.modules():
        if getattr(m, "dense", None) is child:
            return m
    raise RuntimeError("module parent not found")  # unreachable: child came from root.modules()
