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

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.compress.importance import Importance, check_layer_amounts, data_scores
from wattcut.compress.prune_ffn import layer_fractions, slice_linear
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class HeadsConfig:
    """Settings for ``prune_heads``.

    Attributes:
        amount: Fraction of heads removed in every layer (when ``layer_amounts`` is not set).
        layer_amounts: Fraction removed per layer, one value per layer (0 keeps a layer whole).
        importance: ``magnitude`` (weight L1) or ``taylor`` (first-order, on calibration rows).
        calibration_samples: Training rows for ``taylor``.
    """

    amount: float = 0.5
    layer_amounts: tuple[float, ...] | None = None
    importance: Importance = "magnitude"
    calibration_samples: int = 128
    version: int = 1

    def __post_init__(self) -> None:
        fraction('technique "prune_heads"', "amount", self.amount)
        check_layer_amounts("prune_heads", self.layer_amounts)


def attention_blocks(module: Any) -> list[tuple[str, Any, Any]]:
    """(path, self-attention module, output projection) per layer, in layer order."""
    blocks = []
    for path, m in module.named_modules():
        attn = getattr(m, "self", None)
        out = getattr(getattr(m, "output", None), "dense", None)
        if all(hasattr(attn, k) for k in ("query", "key", "value", "attention_head_size")) and out is not None:
            blocks.append((f"{path}.self", attn, m.output))
    return blocks


@technique(
    "prune_heads",
    HeadsConfig,
    takes="pytorch",
    returns="pytorch",
    summary="remove attention heads per layer by magnitude or Taylor importance (smaller, faster model)",
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
    amounts = layer_fractions("prune_heads", config.amount, config.layer_amounts, len(blocks))
    products = data_scores(config.importance, model.module, ctx, config.calibration_samples, "prune_heads")
    for (_, attn, output), amount in zip(blocks, amounts, strict=True):
        size = attn.attention_head_size
        heads = attn.query.out_features // size
        keep = max(1, round(heads * (1.0 - amount)))
        if keep == heads:
            continue
        qkv = [attn.query, attn.key, attn.value]
        if products is None:
            score = sum(lin.weight.detach().abs().sum(dim=1) for lin in qkv) + output.dense.weight.detach().abs().sum(0)
        else:
            score = products[id(output.dense.weight)].sum(0)
            for lin in qkv:  # one group per head: its Q/K/V rows and biases, its output columns
                score = score + products[id(lin.weight)].sum(1)
                if lin.bias is not None:
                    score = score + products[id(lin.bias)]
        head_score = score.view(heads, size).sum(1)
        head_score = head_score.abs() if products is not None else head_score
        kept = torch.topk(head_score, keep).indices.sort().values
        rows = (kept[:, None] * size + torch.arange(size)[None, :]).reshape(-1)
        attn.query, attn.key, attn.value = (slice_linear(lin, rows, dim=0) for lin in qkv)
        output.dense = slice_linear(output.dense, rows, dim=1)
        attn.num_attention_heads = keep
        attn.all_head_size = keep * size
    return model
