"""Structured pruning of attention heads, physically removed.

transformers 5 dropped ``prune_heads``, so the Q, K and V projections are sliced to the
kept heads' rows and the attention output projection to their columns, per layer. The
head size stays ``hidden_size / num_attention_heads`` of the original config, which is
why the saved folder carries ``config.wattcut_structure`` (see ``models/structure.py``)
and reloads with ``trust_remote_code=True`` or wattcut's loader.

Supports BERT-style self-attention (``query``/``key``/``value`` + ``output.dense``:
BERT, MiniLM, RoBERTa, ELECTRA). MPNet's attention shares one relative-position bias
across layers' heads, so its heads cannot be removed per layer this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, SearchSpace, fraction, technique
from wattcut.compress.importance import Importance, check_layer_amounts, data_scores
from wattcut.compress.prune_ffn import layer_fractions
from wattcut.errors import UserInputError
from wattcut.models.surgery import attention_blocks, head_scores, slice_heads  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class HeadsConfig:
    """Settings for ``prune_heads``.

    Attributes:
        amount: Fraction of heads removed in every layer (when ``layer_amounts`` is not set).
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
            fraction('technique "prune_heads"', "energy_budget", self.energy_budget)
        fraction('technique "prune_heads"', "amount", self.amount)
        check_layer_amounts("prune_heads", self.layer_amounts)


@technique(
    "prune_heads",
    HeadsConfig,
    takes="pytorch",
    returns="pytorch",
    summary="remove attention heads per layer by magnitude or Taylor importance (smaller, faster model)",
    search=SearchSpace(
        "prune", knobs=(("amount", (0.0, 0.25, 0.5)),), fixed=(("importance", "taylor"),), off=0.0, order=1
    ),
)
def apply(model: Any, config: HeadsConfig, ctx: CompressContext) -> Any:
    """Slice the least important heads out of every attention block."""
    import torch

    blocks = attention_blocks(model.module)
    if not blocks:
        raise UserInputError(
            f"prune_heads found no BERT-style self-attention (query/key/value + output.dense) in "
            f"{type(model.module).__name__}.",
            "It supports BERT, MiniLM, RoBERTa and ELECTRA; use prune_ffn_neurons or prune_layers for this model.",
        )
    if config.energy_budget is not None:  # rank across all layers, stop at the predicted budget
        from wattcut.compress.prune_budget import to_budget

        return to_budget(
            model,
            ctx,
            "prune_heads",
            ("heads",),
            config.energy_budget,
            config.importance,
            config.energy_aware,
            config.calibration_samples,
        )
    amounts = layer_fractions("prune_heads", config.amount, config.layer_amounts, len(blocks))
    products = data_scores(config.importance, model.module, ctx, config.calibration_samples, "prune_heads")
    for (_, attn, output), amount in zip(blocks, amounts, strict=True):
        heads = attn.query.out_features // attn.attention_head_size
        keep = max(1, round(heads * (1.0 - amount)))
        if keep == heads:
            continue
        kept = torch.topk(head_scores(attn, output, products), keep).indices.sort().values
        slice_heads(attn, output, kept)
    return model
