"""Pruning to an energy budget, with importance per joule (seed 004's energy-aware pruning).

Every attention head and FFN neuron of every layer is a candidate. Each has an importance
(weight magnitude, or the first-order Taylor estimate of the loss change, see
``importance.py``) and a cost: the CPU seconds per request the measured cost profile
(``models/cost.py``) attributes to one head or one neuron on this machine. Candidates are
removed, cheapest-to-lose first, until the profile predicts the model's energy per request
at or below ``budget`` times the baseline's. ``energy_aware = true`` ranks by importance
per joule (importance / cost), so a block that costs much and does little goes first;
``false`` ranks by importance alone, the energy-blind control, stopping at the same budget.

Layers are not candidates here (a layer's heads and neurons already are, and its fixed
work goes only with the whole layer): ``prune_layers`` takes an ``energy_budget`` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.compress.importance import Importance, data_scores, layer_fractions
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class PruneBudgetConfig:
    """Settings for ``prune_to_budget``.

    Attributes:
        budget: Predicted energy per request to reach, as a fraction of the baseline's.
        units: What may be removed: ``heads``, ``ffn`` or both.
        importance: ``taylor`` (first-order, on calibration rows) or ``magnitude`` (weight L1).
        energy_aware: Rank by importance per joule (true) or by importance alone (false).
        calibration_samples: Training rows for ``taylor``.
        batch_size: Which profiled batch size's costs to use (the deployment's).
    """

    budget: float = 0.5
    units: tuple[Literal["heads", "ffn"], ...] = ("heads", "ffn")
    importance: Importance = "taylor"
    energy_aware: bool = True
    calibration_samples: int = 256
    batch_size: int = 1
    version: int = 1

    def __post_init__(self) -> None:
        fraction('technique "prune_to_budget"', "budget", self.budget)
        bad = [u for u in self.units if u not in ("heads", "ffn")]
        if bad or not self.units:
            raise UserInputError(
                f'technique "prune_to_budget": units = {list(self.units)} must name "heads", "ffn" or both.',
                'Write units = ["heads", "ffn"].',
            )
        if self.calibration_samples < 1 or self.batch_size < 1:
            raise UserInputError(
                'technique "prune_to_budget": calibration_samples and batch_size must be positive.', "Correct them."
            )

    needs_cost_profile = True


@technique("prune_to_budget", PruneBudgetConfig, uses_cost_profile=True)
def apply(model: Any, config: PruneBudgetConfig, ctx: CompressContext) -> Any:
    """Remove heads and FFN neurons, lowest importance per joule first, until predicted energy <= budget.

    Prune ``model`` to the predicted-energy budget; the choice is recorded on the handle.
    """
    return to_budget(
        model,
        ctx,
        "prune_to_budget",
        config.units,
        config.budget,
        config.importance,
        config.energy_aware,
        config.calibration_samples,
        config.batch_size,
    )


def to_budget(
    model: Any,
    ctx: CompressContext,
    name: str,
    units: tuple[str, ...],
    budget: float,
    importance: Importance,
    energy_aware: bool,
    samples: int,
    batch_size: int = 1,
) -> Any:
    """The study's cost profile, then :func:`prune_to_budget`; what was done goes to ``model.notes[name]``."""
    from wattcut.models.cost import profile_for

    plan = prune_to_budget(
        model, ctx, profile_for(model, ctx), budget, units, importance, energy_aware, samples, batch_size, name
    )
    model.notes = {**(model.notes or {}), name: plan}
    return model


def prune_to_budget(
    model: Any,
    ctx: CompressContext,
    profile: Any,
    budget: float,
    units: tuple[str, ...],
    importance: Importance,
    energy_aware: bool,
    samples: int,
    batch_size: int,
    name: str,
) -> dict[str, Any]:
    """Remove the lowest-ranked heads/neurons until the predicted ratio is <= ``budget``; returns what was done."""
    import torch

    from wattcut.models.cost import structure_of
    from wattcut.models.surgery import attention_blocks, ffn_pairs, head_scores, neuron_scores, slice_ffn, slice_heads

    coef = profile.at(batch_size)
    blocks = attention_blocks(model.module)
    pairs = ffn_pairs(model.module)
    if len(blocks) != len(pairs) or not blocks:
        raise UserInputError(
            f"{name} needs BERT-style layers (attention.self + intermediate/output dense); "
            f"{type(model.module).__name__} does not have them.",
            "Use prune_ffn_neurons or prune_layers with a fraction for this model.",
        )
    products = data_scores(importance, model.module, ctx, samples, name)
    candidates = []  # (rank key, kind, layer, index, cost)
    for layer, (_, attn, output) in enumerate(blocks):
        if "heads" in units:
            for i, s in enumerate(head_scores(attn, output, products).tolist()):
                candidates.append((s / coef.head_s if energy_aware else s, "heads", layer, i, coef.head_s))
    for layer, (inter, out) in enumerate(pairs):
        if "ffn" in units:
            for i, s in enumerate(neuron_scores(inter, out, products).tolist()):
                candidates.append((s / coef.neuron_s if energy_aware else s, "ffn", layer, i, coef.neuron_s))
    candidates.sort(key=lambda c: c[0])
    start = structure_of(model.module)
    assert start is not None  # blocks and pairs were found above
    full_s = coef.predict_s(profile.full)
    now_s = coef.predict_s(start)
    kept = {
        "heads": [set(range(h)) for h in start.heads],
        "ffn": [set(range(f)) for f in start.ffn],
    }
    for _, kind, layer, index, cost in candidates:
        if now_s <= budget * full_s:
            break
        if len(kept[kind][layer]) <= 1:  # a layer keeps at least one head and one neuron
            continue
        kept[kind][layer].discard(index)
        now_s -= cost
    if now_s > budget * full_s * 1.0001:
        raise UserInputError(
            f"{name}: budget = {budget} cannot be reached by removing {' and '.join(units)} alone (predicted "
            f"{now_s / full_s:.0%} of the baseline's energy with one of each left per layer; the layers' fixed work "
            "stays).",
            "Raise the budget, add the other unit, or remove layers first with prune_layers.",
        )
    for layer, (_, attn, output) in enumerate(blocks):
        if len(kept["heads"][layer]) < start.heads[layer]:
            slice_heads(attn, output, torch.tensor(sorted(kept["heads"][layer])))
    for layer, (inter, out) in enumerate(pairs):
        if len(kept["ffn"][layer]) < start.ffn[layer]:
            slice_ffn(model.module, inter, out, torch.tensor(sorted(kept["ffn"][layer])))
    model.module.config.intermediate_size = max(len(k) for k in kept["ffn"])
    after = structure_of(model.module)
    assert after is not None
    return {
        "budget": budget,
        "energy_aware": energy_aware,
        "importance": importance,
        "predicted_ratio": profile.ratio(after, batch_size),
        "structure": after.to_dict(),
    }


def per_layer_plan(
    model: Any, ctx: CompressContext, config: Any, name: str, units: tuple[str, ...], layers: int
) -> Any:
    """What a per-layer prune of ``units`` needs, from its config (``amount``/``layer_amounts`` or ``energy_budget``).

    With an energy budget, units are ranked across all layers and removed until the
    predicted energy meets it: the pruned model is returned as ``(model, None, None)``.
    Otherwise ``(None, fractions per layer, importance products)`` for the caller's slicing.
    """
    if config.energy_budget is not None:  # rank across all layers, stop at the predicted budget
        pruned = to_budget(
            model, ctx, name, units, config.energy_budget, config.importance, config.energy_aware,
            config.calibration_samples,
        )  # fmt: skip
        return pruned, None, None
    amounts = layer_fractions(name, config.amount, config.layer_amounts, layers)
    return None, amounts, data_scores(config.importance, model.module, ctx, config.calibration_samples, name)
