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
from typing import Any, ClassVar

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.compress.importance import PerLayerPruneConfig
from wattcut.compress.prune_budget import per_layer_plan
from wattcut.errors import UserInputError
from wattcut.models.surgery import ffn_pairs, neuron_scores, slice_ffn, slice_linear  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class FfnNeuronsConfig(PerLayerPruneConfig):
    """Settings for ``prune_ffn_neurons``: the fields of :class:`~wattcut.compress.importance.PerLayerPruneConfig`."""

    technique: ClassVar[str] = "prune_ffn_neurons"


@technique(
    "prune_ffn_neurons",
    FfnNeuronsConfig,
    search=SearchSpace(
        "prune", knobs=(("amount", (0.0, 0.25, 0.5)),), fixed=(("importance", "taylor"),), off=0.0, order=2
    ),
    uses_cost_profile=True,
)
def apply(model: Any, config: FfnNeuronsConfig, ctx: CompressContext) -> Any:
    """Remove a fraction of FFN neurons in every layer (smaller dense model, real speed-up).

    Slice FFN neurons out of ``model.module`` and rewrite its config.
    """
    import torch

    pairs = ffn_pairs(model.module)
    if not pairs:
        raise UserInputError(
            f"prune_ffn_neurons found no FFN blocks (layer.intermediate.dense + layer.output.dense) in "
            f"{type(model.module).__name__}.",
            "It supports BERT-style encoders (BERT, MiniLM, MPNet, RoBERTa); remove it from this variant.",
        )
    pruned, amounts, products = per_layer_plan(model, ctx, config, "prune_ffn_neurons", ("ffn",), len(pairs))
    if pruned is not None:
        return pruned
    widths = []
    for (inter, out), amount in zip(pairs, amounts, strict=True):
        keep = max(1, round(inter.out_features * (1.0 - amount)))
        widths.append(keep)
        if keep == inter.out_features:
            continue
        index = torch.topk(neuron_scores(inter, out, products), keep).indices.sort().values
        slice_ffn(model.module, inter, out, index)
    # Uniform widths fit the config; mixed widths are described by wattcut_structure on save.
    model.module.config.intermediate_size = max(widths)
    return model
