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

from wattcut.compress.base import CompressContext, SearchSpace, fraction, technique
from wattcut.compress.importance import Importance
from wattcut.errors import UserInputError
from wattcut.models.surgery import LAYER_PATHS


@dataclass(frozen=True)
class LayersConfig:
    """Settings for ``prune_layers``.

    Attributes:
        amount: Fraction of layers removed (when ``keep`` is not given).
        strategy: ``top`` or ``alternate`` (see module docstring).
        keep: Explicit 0-based indices of the layers to keep.
        energy_budget: Instead of ``amount``: drop the lowest-ranked layers until the measured cost profile
            predicts at most this fraction of the baseline's energy per request.
        importance: With ``energy_budget``: ``taylor`` (|first-order loss change| of the whole layer, on
            calibration rows) or ``magnitude`` (weight L1).
        energy_aware: With ``energy_budget``, rank by importance per joule (true) or importance alone.
        calibration_samples: Training rows for ``taylor``.
    """

    amount: float = 0.5
    strategy: Literal["top", "alternate"] = "alternate"
    keep: tuple[int, ...] | None = None
    energy_budget: float | None = None
    importance: Importance = "taylor"
    energy_aware: bool = True
    calibration_samples: int = 128
    version: int = 2

    @property
    def needs_cost_profile(self) -> bool:
        """An energy budget needs the study's measured cost profile."""
        return self.energy_budget is not None

    def __post_init__(self) -> None:
        fraction('technique "prune_layers"', "amount", self.amount)
        if self.energy_budget is not None:
            fraction('technique "prune_layers"', "energy_budget", self.energy_budget)


def _layer_list(module: Any) -> Any:
    for path in LAYER_PATHS:
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
    layers_after=lambda config, n: n if config.energy_budget is not None else len(layers_to_keep(n, config)),
    search=SearchSpace(
        "prune", knobs=(("amount", (0.0, 1 / 6, 2 / 6)),), fixed=(("strategy", "alternate"),), off=0.0, order=0
    ),
    uses_cost_profile=True,
)
def apply(model: Any, config: LayersConfig, ctx: CompressContext) -> Any:
    """Remove whole encoder layers (smaller, faster model; reloads with transformers).

    Drop layers from ``model.module`` and rewrite its config.
    """
    import torch

    layers, _ = _layer_list(model.module)
    keep = layers_to_keep(len(layers), config) if config.energy_budget is None else _keep_to_budget(model, config, ctx)
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for new_index, layer in enumerate(kept):  # attention modules carry their index
        for m in layer.modules():
            if hasattr(m, "layer_idx"):
                setattr(m, "layer_idx", new_index)  # noqa: B010  (typed as Tensor | Module by nn.Module)
    parent = model.module.get_submodule(_layer_list(model.module)[1].rsplit(".", 1)[0])
    parent.layer = kept
    model.module.config.num_hidden_layers = len(kept)
    if config.energy_budget is None:  # a distilled student maps its layers to the teacher's by these
        model.notes = {**(model.notes or {}), "prune_layers": {"kept_layers": keep, "of_layers": len(layers)}}
    return model


def _keep_to_budget(model: Any, config: LayersConfig, ctx: CompressContext) -> list[int]:
    """Layers kept when the lowest-ranked are dropped until the predicted energy is within the budget."""
    from wattcut.compress.importance import data_scores
    from wattcut.models.cost import Structure, profile_for, structure_of

    assert config.energy_budget is not None
    profile = profile_for(model, ctx)
    coef = profile.at(1)
    start = structure_of(model.module)
    layers, _ = _layer_list(model.module)
    if start is None:
        raise UserInputError("prune_layers: an energy budget needs a BERT-style encoder.", "Use amount instead.")
    products = data_scores(config.importance, model.module, ctx, config.calibration_samples, "prune_layers")
    ranked = []
    for i, layer in enumerate(layers):
        params = list(layer.parameters())
        if products is None:
            score = float(sum(p.detach().abs().sum() for p in params))
        else:
            score = abs(float(sum(products[id(p)].sum() for p in params if id(p) in products)))
        cost = coef.layer_s + start.heads[i] * coef.head_s + start.ffn[i] * coef.neuron_s
        ranked.append((score / cost if config.energy_aware else score, i))
    keep = set(range(len(layers)))
    full_s = coef.predict_s(profile.full)
    for _, i in sorted(ranked):
        s = Structure(tuple(start.heads[j] for j in sorted(keep)), tuple(start.ffn[j] for j in sorted(keep)))
        if coef.predict_s(s) <= config.energy_budget * full_s or len(keep) == 1:
            break
        keep.discard(i)
    kept = sorted(keep)
    s = Structure(tuple(start.heads[j] for j in kept), tuple(start.ffn[j] for j in kept))
    model.notes = {
        **(model.notes or {}),
        "prune_layers": {
            "budget": config.energy_budget,
            "energy_aware": config.energy_aware,
            "importance": config.importance,
            "kept_layers": kept,
            "of_layers": len(layers),
            "predicted_ratio": profile.ratio(s, 1),
        },
    }
    return kept
