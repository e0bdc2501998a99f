"""Structured pruning of whole transformer layers, physically removed.

The encoder's layer list is shortened and ``num_hidden_layers`` rewritten, so the result
saves and reloads with plain transformers. Which layers go: ``keep`` lists the indices to
keep; otherwise ``amount`` of the layers are dropped, chosen by ``strategy``: ``top``
(the last layers, closest to the head) or ``alternate`` (keep evenly spaced layers, the
usual choice for a layer-dropped distillation student).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class LayersConfig:
    """Settings for ``prune_layers``.

    Attributes:
        amount: Fraction of layers removed (when ``keep`` is not given).
        strategy: ``top`` or ``alternate`` (see module docstring).
        keep: Explicit 0-based indices of the layers to keep.
    """

    amount: float = 0.5
    strategy: Literal["top", "alternate"] = "alternate"
    keep: tuple[int, ...] | None = None
    version: int = 1

    def __post_init__(self) -> None:
        fraction('technique "prune_layers"', "amount", self.amount)


def _layer_list(module: Any) -> Any:
    for path in ("bert.encoder.layer", "mpnet.encoder.layer", "roberta.encoder.layer", "encoder.layer"):
        try:
            return module.get_submodule(path), path
        except AttributeError:
            continue
    raise UserInputError(
        f"prune_layers found no encoder layer list in {type(module).__name__}.",
        "It supports BERT-style encoders (BERT, MiniLM, MPNet, RoBERTa); remove it from this variant.",
    )


def layers_to_keep(n: int, config: LayersConfig) -> list[int]:
    """Indices kept out of ``n`` layers."""
    if config.keep is not None:
        bad = [i for i in config.keep if not 0 <= i < n]
        if bad or not config.keep:
            raise UserInputError(
                f"prune_layers keep = {list(config.keep)} does not fit a model with {n} layers.",
                f"Use indices from 0 to {n - 1}.",
            )
        return sorted(set(config.keep))
    count = max(1, round(n * (1 - config.amount)))
    if config.strategy == "top":
        return list(range(count))
    step = n / count
    return sorted({min(n - 1, int(i * step)) for i in range(count)})


@technique(
    "prune_layers",
    LayersConfig,
    takes="pytorch",
    returns="pytorch",
    summary="remove whole encoder layers (smaller, faster model; reloads with transformers)",
    layers_after=lambda config, n: len(layers_to_keep(n, config)),
)
def apply(model: Any, config: LayersConfig, ctx: CompressContext) -> Any:
    """Drop layers from ``model.module`` and rewrite its config."""
    import torch

    layers, _ = _layer_list(model.module)
    keep = layers_to_keep(len(layers), config)
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for new_index, layer in enumerate(kept):  # attention modules carry their index
        for m in layer.modules():
            if hasattr(m, "layer_idx"):
                setattr(m, "layer_idx", new_index)  # noqa: B010  (typed as Tensor | Module by nn.Module)
    parent = model.module.get_submodule(_layer_list(model.module)[1].rsplit(".", 1)[0])
    parent.layer = kept
    model.module.config.num_hidden_layers = len(kept)
    return model
