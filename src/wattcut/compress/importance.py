"""Importance scores shared by the structured-pruning techniques.

``magnitude``: the L1 norm of a group's weights (no data needed).
``taylor``: first-order Taylor estimate of the loss change when a group is removed,
``|sum_i g_i * w_i|`` over the group's parameters, with ``g`` the gradient of the task
loss over a calibration sample of the training split (Molchanov et al., 2019). The data
pass runs in its own metered ``calibrate`` phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from wattcut.compress.base import CompressContext, fraction
from wattcut.errors import UserInputError

Importance = Literal["magnitude", "taylor"]


def check_layer_amounts(technique: str, layer_amounts: tuple[float, ...] | None) -> None:
    """Per-layer fractions must be in [0, 1): 0 keeps a layer whole, 1 would empty it."""
    for a in layer_amounts or ():
        if not 0.0 <= a < 1.0:
            raise UserInputError(f'technique "{technique}": layer_amounts value {a} must be in [0, 1).', "Correct it.")


def data_scores(importance: Importance, module: Any, ctx: CompressContext, samples: int, technique: str) -> Any:
    """Taylor products keyed by ``id(parameter)`` when ``importance == "taylor"``, else None."""
    if importance != "taylor":
        return None
    names = dict(module.named_parameters())
    return {id(names[n]): v for n, v in taylor_products(module, ctx, samples, technique).items()}


def taylor_products(module: Any, ctx: CompressContext, samples: int, technique: str) -> dict[str, Any]:
    """``grad * weight`` per parameter name, the gradient of the mean loss on ``samples`` rows.

    Raises:
        UserInputError: The study gave no labelled training data to draw the sample from.
    """
    import torch

    from wattcut.tasks.sequence_classification import encode

    data = ctx.train_data
    if data is None or len(data) == 0:
        raise UserInputError(
            f'technique "{technique}": importance = "taylor" needs labelled training rows, and none were given.',
            'Use importance = "magnitude", or run the technique inside a study (wattcut run).',
        )
    rng = np.random.default_rng(ctx.seed)
    rows = rng.permutation(len(data))[: min(samples, len(data))]
    batch_size = 16
    params = dict(module.named_parameters())
    was_training = module.training
    module.eval()  # no dropout: the scores are a deterministic function of the sample
    module.zero_grad(set_to_none=True)
    with ctx.phase("calibrate") as rec:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            feed = {
                k: torch.from_numpy(v)
                for k, v in encode(ctx.tokenizer, [data.texts[i] for i in chunk], ctx.max_length).items()
            }
            labels = torch.tensor([data.labels[i] for i in chunk])
            loss = torch.nn.functional.cross_entropy(module(**feed).logits, labels, reduction="sum") / len(rows)
            loss.backward()
            rec.samples += len(chunk)
    products = {n: (p.grad * p.detach()).detach() for n, p in params.items() if p.grad is not None}
    module.zero_grad(set_to_none=True)
    module.train(was_training)
    return products


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


@dataclass(frozen=True)
class PerLayerPruneConfig:
    """Settings shared by the per-layer structured prunes (``prune_heads``, ``prune_ffn_neurons``).

    Attributes:
        amount: Fraction of units (heads, FFN neurons) removed in every layer (when ``layer_amounts`` is not set).
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
    technique: ClassVar[str] = ""  # the subclass's technique name, in messages

    @property
    def needs_cost_profile(self) -> bool:
        """An energy budget needs the study's measured cost profile."""
        return self.energy_budget is not None

    def __post_init__(self) -> None:
        if self.energy_budget is not None:
            fraction(f'technique "{self.technique}"', "energy_budget", self.energy_budget)
        fraction(f'technique "{self.technique}"', "amount", self.amount)
        check_layer_amounts(self.technique, self.layer_amounts)
