"""Recovery fine-tuning as a pipeline step (after pruning or low-rank).

Runs the same explicit AdamW loop as the baseline's fine-tuning, on the study's training
split, inside the variant's ``compress`` window (its own nested ``train`` window says what
the recovery cost). Put it after the technique that needs recovery, before any runtime
conversion (INT8 on ONNX Runtime or OpenVINO).

With ``energy_budget`` the fine-tune is energy-regularized (``energy_gates.py``): hard-concrete
gates on heads and FFN groups, priced by the study's measured cost profile, are trained with
the model towards that fraction of the baseline's predicted energy per request, and the
closed blocks are removed physically at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.compress.energy_gates import GateSettings
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class FinetuneConfig(GateSettings):
    """Settings for ``finetune``.

    Attributes:
        epochs: Passes over the (subset of the) training split.
        samples: Training rows used (None = the whole training subset of the study).
        learning_rate: AdamW learning rate.
        batch_size: Rows per step.
        energy_budget, gate_units, ffn_group, anneal, gate_learning_rate: energy regularization
            (``energy_gates.GateSettings``; no budget = plain fine-tuning).
    """

    epochs: int = 1
    samples: int | None = None
    learning_rate: float = 5e-5
    batch_size: int = 32
    version: int = 2

    def __post_init__(self) -> None:
        self.check_gates('technique "finetune"')
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or (self.samples or 1) < 1:
            raise UserInputError(
                'technique "finetune": epochs, samples, batch_size and learning_rate must be positive.', "Correct them."
            )


@technique(
    "finetune",
    FinetuneConfig,
    search=SearchSpace("recover", fixed=(("samples", 2000),), cap_to_train_rows=("samples",)),
    uses_cost_profile=True,
    kinds=("sequence-classifier", "image-classifier"),
)
def apply(model: Any, config: FinetuneConfig, ctx: CompressContext) -> Any:
    """Recovery fine-tuning on the training split; with energy_budget, L0 gates priced in joules.

    Fine-tune ``model.module`` in place; returns the handle.
    """
    from wattcut.data import TextDataset
    from wattcut.settings import TrainConfig
    from wattcut.tasks.sequence_classification import fine_tune

    if ctx.recover is not None:  # the task's own loop (images); the energy gates price transformer blocks only
        if config.energy_budget is not None:
            raise UserInputError(
                "finetune energy_budget prices attention heads and FFN blocks; this model has neither.",
                "Remove energy_budget (use prune_channels with an amount to make a CNN cheaper).",
            )
        train_cfg = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate)
        with ctx.phase("train") as rec:
            ctx.recover(model, train_cfg, config.samples, ctx.seed + 7919, rec)
        return model
    data = ctx.train_data
    if data is None or len(data) == 0:
        raise UserInputError("finetune needs the study's training split, and none was given.", "Add [data].")
    if config.samples is not None and config.samples < len(data):
        data = TextDataset(data.texts[: config.samples], data.labels[: config.samples], data.label_names, data.source)
    train_cfg = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate)
    gates = energy_gates(model, config, ctx, "finetune")
    with ctx.phase("train") as rec:
        fine_tune(model.module, ctx.tokenizer, data, train_cfg, ctx.max_length, ctx.seed + 7919, rec, gates)
    if gates is not None:
        model.notes = {**(model.notes or {}), "finetune": gates.finish()}
    return model


def energy_gates(model: Any, config: Any, ctx: CompressContext, name: str) -> Any:
    """The gates for ``config.energy_budget`` on ``model`` (None without a budget); shared with ``distill``."""
    if config.energy_budget is None:
        return None
    import torch

    from wattcut.compress.energy_gates import EnergyGates
    from wattcut.models.cost import profile_for

    if getattr(model, "precision", "fp32") != "fp32" or not hasattr(model, "module"):
        raise UserInputError(f"{name} energy_budget needs an fp32 PyTorch model.", "Put quantization after it.")
    torch.manual_seed(ctx.seed + 15485863)  # the gates' samples, reproducible per trial
    return EnergyGates(
        model.module,
        profile_for(model, ctx),
        config.energy_budget,
        tuple(config.gate_units),
        config.ffn_group,
        config.anneal,
        config.gate_learning_rate,
        name=name,
    )
