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
from typing import Any, ClassVar

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.compress.importance import PerLayerPruneConfig
from wattcut.compress.prune_budget import per_layer_plan
from wattcut.errors import UserInputError
from wattcut.models.surgery import attention_blocks, head_scores, slice_heads  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class HeadsConfig(PerLayerPruneConfig):
    """Settings for ``prune_heads``: the fields of :class:`~wattcut.compress.importance.PerLayerPruneConfig`."""

    technique: ClassVar[str] = "prune_heads"


@technique(
    "prune_heads",
    HeadsConfig,
    search=SearchSpace(
        "prune", knobs=(("amount", (0.0, 0.25, 0.5)),), fixed=(("importance", "taylor"),), off=0.0, order=1
    ),
    uses_cost_profile=True,
)
def apply(model: Any, config: HeadsConfig, ctx: CompressContext) -> Any:
    """Remove attention heads per layer by magnitude or Taylor importance (smaller, faster model).

    Slice the least important heads out of every attention block.
    """
    import torch

    blocks = attention_blocks(model.module)
    if not blocks:
        raise UserInputError(
            f"prune_heads found no BERT-style self-attention (query/key/value + output.dense) in "
            f"{type(model.module).__name__}.",
            "It supports BERT, MiniLM, RoBERTa and ELECTRA; use prune_ffn_neurons or prune_layers for this model.",
        )
    pruned, amounts, products = per_layer_plan(model, ctx, config, "prune_heads", ("heads",), len(blocks))
    if pruned is not None:
        return pruned
    for (_, attn, output), amount in zip(blocks, amounts, strict=True):
        heads = attn.query.out_features // attn.attention_head_size
        keep = max(1, round(heads * (1.0 - amount)))
        if keep == heads:
            continue
        kept = torch.topk(head_scores(attn, output, products), keep).indices.sort().values
        slice_heads(attn, output, kept)
    return model
