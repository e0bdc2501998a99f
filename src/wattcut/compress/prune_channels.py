"""Structured channel pruning of a CNN, physically removed, with dependencies followed (Torch-Pruning).

A channel is removed from every layer it couples: a convolution's output channel takes the
batch norm after it, the depthwise convolution that reads it, the next layer's input column,
and across a residual connection every layer that adds into the same tensor (DepGraph, Fang
et al., CVPR 2023, the ``torch-pruning`` package). The network is smaller and faster on any
runtime: fewer parameters, a smaller file, fewer FLOPs. The classifier's output is kept.

Importance is a group's L1 norm (``magnitude``, no data) or its first-order Taylor score
``|sum g * w|`` over a sample of training images (``taylor``, in its own metered ``calibrate``
window). Put ``finetune`` after it to recover accuracy. A pruned network saves as safetensors and
reloads by its weights' shapes (``models/vision.fit_to_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class PruneChannelsConfig:
    """Settings for ``prune_channels``.

    Attributes:
        amount: Fraction of the channels removed in every prunable layer group.
        importance: ``magnitude`` (L1 norm of a group's weights) or ``taylor`` (gradient x weight on
            training images).
        samples: Training images for the Taylor score.
        round_to: Keep channel counts multiples of this (vector units are 8 or 16 floats wide).
    """

    amount: float = 0.3
    importance: Literal["magnitude", "taylor"] = "magnitude"
    samples: int = 128
    round_to: int = 8
    version: int = 1

    def __post_init__(self) -> None:
        where = 'technique "prune_channels"'
        fraction(where, "amount", self.amount)
        if self.importance not in ("magnitude", "taylor"):
            raise UserInputError(f'{where}: importance = "{self.importance}" is unknown.', "Use magnitude or taylor.")
        if self.samples < 1 or self.round_to < 1:
            raise UserInputError(f"{where}: samples and round_to must be 1 or more.", "Correct them.")


def _check(config: PruneChannelsConfig) -> None:
    try:
        import torch_pruning  # noqa: F401
    except ImportError:
        raise UserInputError(
            'prune_channels needs the package "torch-pruning".',
            'Install it: pip install --no-deps "torch-pruning==1.6.1" (bash scripts/setup.sh does).',
        ) from None


@technique("prune_channels", PruneChannelsConfig, kinds=("image-classifier",), check_inputs=_check)
def apply(model: Any, config: PruneChannelsConfig, ctx: CompressContext) -> Any:
    """Remove a fraction of the channels of every convolution group, following dependencies (Torch-Pruning).

    Prune ``model.module`` in place; returns the handle.
    """
    import torch
    import torch_pruning as tp

    module = model.module.eval()
    side = max(32, ctx.max_length)
    example = torch.zeros(1, 3, side, side)
    head = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1:]  # the classifier keeps its classes
    taylor = config.importance == "taylor"
    importance = tp.importance.GroupTaylorImportance() if taylor else tp.importance.GroupMagnitudeImportance(p=1)
    pruner = tp.pruner.BasePruner(
        module, example, importance=importance, pruning_ratio=config.amount, ignored_layers=head,
        round_to=config.round_to,
    )  # fmt: skip
    if taylor:
        _taylor_gradients(module, config, ctx)
    pruner.step()
    module.zero_grad(set_to_none=True)
    module.eval()
    return model


def _taylor_gradients(module: Any, config: PruneChannelsConfig, ctx: CompressContext) -> None:
    """Accumulate the loss gradient over ``samples`` training images (a ``calibrate`` window)."""
    import numpy as np
    import torch

    data = ctx.train_data
    if data is None or len(data) == 0:
        raise UserInputError(
            'prune_channels importance = "taylor" needs labelled training images, and none were given.',
            'Use importance = "magnitude", or run it inside a study (wattcut run).',
        )
    rows = np.random.default_rng(ctx.seed).permutation(len(data))[: min(config.samples, len(data))]
    module.zero_grad(set_to_none=True)
    with ctx.phase("calibrate") as rec:
        for start in range(0, len(rows), 32):
            chunk = np.sort(rows[start : start + 32])
            x = torch.from_numpy(ctx.tokenizer(data.images[chunk]))
            y = torch.from_numpy(data.labels[chunk])
            loss = torch.nn.functional.cross_entropy(module(x), y, reduction="sum") / len(rows)
            loss.backward()
            rec.samples += len(chunk)
