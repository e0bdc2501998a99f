"""Structured pruning of FFN neurons, physically removed.

In every transformer layer the intermediate Linear (hidden → ffn) and the output Linear
(ffn → hidden) are sliced to keep the most important neurons, and the model config's
``intermediate_size`` is rewritten, so the smaller model saves and reloads with plain
transformers and is faster on any runtime.

Importance is the L1 norm of each neuron's incoming row plus its outgoing column
(``magnitude``), or the first-order Taylor score of the neuron's parameters on a
calibration sample (``taylor``). With ``layer_amounts`` every layer has its own width,
which the config cannot hold; the saved folder then carries ``wattcut_structure``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.compress.importance import Importance, check_layer_amounts, data_scores
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class FfnNeuronsConfig:
    """Settings for ``prune_ffn_neurons``.

    Attributes:
        amount: Fraction of FFN neurons removed in every layer (when ``layer_amounts`` is not set).
        layer_amounts: Fraction removed per layer, one value per layer (0 keeps a layer whole).
        importance: ``magnitude`` (weight L1) or ``taylor`` (first-order, on calibration rows).
        calibration_samples: Training rows for ``taylor``.
    """

    amount: float = 0.5
    layer_amounts: tuple[float, ...] | None = None
    importance: Importance = "magnitude"
    calibration_samples: int = 128
    version: int = 1

    def __post_init__(self) -> None:
        fraction('technique "prune_ffn_neurons"', "amount", self.amount)
        check_layer_amounts("prune_ffn_neurons", self.layer_amounts)


def layer_fractions(name: str, amount: float, layer_amounts: tuple[float, ...] | None, layers: int) -> list[float]:
    """The fraction to remove in each of ``layers`` layers."""
    if layer_amounts is None:
        return [amount] * layers
    if len(layer_amounts) != layers:
        raise UserInputError(
            f'technique "{name}": layer_amounts has {len(layer_amounts)} values but the model has {layers} layers.',
            f"Give one fraction per layer ({layers} values), or use amount for the same fraction everywhere.",
        )
    return list(layer_amounts)


def _ffn_pairs(module: Any) -> list[tuple[Any, Any]]:
    """(intermediate Linear, output Linear) per layer for BERT-style encoders."""
    pairs = []
    for layer in module.modules():
        inter = getattr(getattr(layer, "intermediate", None), "dense", None)
        out = getattr(getattr(layer, "output", None), "dense", None)
        if inter is not None and out is not None and inter.out_features == out.in_features:
            pairs.append((inter, out))
    return pairs


def slice_linear(linear: Any, index: Any, dim: int) -> Any:
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
    amounts = layer_fractions("prune_ffn_neurons", config.amount, config.layer_amounts, len(pairs))
    products = data_scores(config.importance, model.module, ctx, config.calibration_samples, "prune_ffn_neurons")
    widths = []
    for (inter, out), amount in zip(pairs, amounts, strict=True):
        keep = max(1, round(inter.out_features * (1.0 - amount)))
        widths.append(keep)
        if keep == inter.out_features:
            continue
        if products is None:
            score = inter.weight.detach().abs().sum(dim=1) + out.weight.detach().abs().sum(dim=0)
        else:  # one group per neuron: its row, its bias, its outgoing column
            score = products[id(inter.weight)].sum(1) + products[id(out.weight)].sum(0)
            if inter.bias is not None:
                score = score + products[id(inter.bias)]
            score = score.abs()
        index = torch.topk(score, keep).indices.sort().values
        parent_i, parent_o = _parent(model.module, inter), _parent(model.module, out)
        parent_i.dense = slice_linear(inter, index, dim=0)
        parent_o.dense = slice_linear(out, index, dim=1)
    # Uniform widths fit the config; mixed widths are described by wattcut_structure on save.
    model.module.config.intermediate_size = max(widths)
    return model


def _parent(root: Any, child: Any) -> Any:
    for m in root.modules():
        if getattr(m, "dense", None) is child:
            return m
    raise RuntimeError("module parent not found")  # unreachable: child came from root.modules()
