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

from wattcut.compress.base import CompressContext, SearchSpace, fraction, technique
from wattcut.compress.importance import Importance, check_layer_amounts, data_scores
from wattcut.errors import UserInputError
from wattcut.models.surgery import ffn_pairs, neuron_scores, slice_ffn, slice_linear  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class FfnNeuronsConfig:
    """Settings for ``prune_ffn_neurons``.

    Attributes:
        amount: Fraction of FFN neurons removed in every layer (when ``layer_amounts`` is not set).
        layer_amounts: Fraction removed per layer, one value per layer (0 keeps a layer whole).
        importance: ``magnitude`` (weight L1) or ``taylor`` (first-order, on calibration rows).
        calibration_samples: Training rows for ``taylor``.
        energy_budget: Instead of ``amount``: remove the lowest-ranked units across all layers until the
            measured cost profile predicts at most this fraction of the baseline's energy per request.
        energy_aware: With ``energy_budget``, rank by importance per joule (true) or importance alone.
    """

    amount: float = 0.5
    layer_amounts: tuple[float, ...] | None = None
    importance: Importance = "magnitude"
    calibration_samples: int = 128
    energy_budget: float | None = None
    energy_aware: bool = True
    version: int = 2

    @property
    def needs_cost_profile(self) -> bool:
        """An energy budget needs the study's measured cost profile."""
        return self.energy_budget is not None

    def __post_init__(self) -> None:
        if self.energy_budget is not None:
            fraction('technique "prune_ffn_neurons"', "energy_budget", self.energy_budget)
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


@technique(
    "prune_ffn_neurons",
    FfnNeuronsConfig,
    takes="pytorch",
    returns="pytorch",
    summary="remove a fraction of FFN neurons in every layer (smaller dense model, real speed-up)",
    search=SearchSpace(
        "prune", knobs=(("amount", (0.0, 0.25, 0.5)),), fixed=(("importance", "taylor"),), off=0.0, order=2
    ),
)
def apply(model: Any, config: FfnNeuronsConfig, ctx: CompressContext) -> Any:
    """Slice FFN neurons out of ``model.module`` and rewrite its config."""
    import torch

    pairs = ffn_pairs(model.module)
    if not pairs:
        raise UserInputError(
            f"prune_ffn_neurons found no FFN blocks (layer.intermediate.dense + layer.output.dense) in "
            f"{type(model.module).__name__}.",
            "It supports BERT-style encoders (BERT, MiniLM, MPNet, RoBERTa); remove it from this variant.",
        )
    if config.energy_budget is not None:  # rank across all layers, stop at the predicted budget
        from wattcut.compress.prune_budget import to_budget

        return to_budget(
            model,
            ctx,
            "prune_ffn_neurons",
            ("ffn",),
            config.energy_budget,
            config.importance,
            config.energy_aware,
            config.calibration_samples,
        )
    amounts = layer_fractions("prune_ffn_neurons", config.amount, config.layer_amounts, len(pairs))
    products = data_scores(config.importance, model.module, ctx, config.calibration_samples, "prune_ffn_neurons")
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
