"""Physical surgery on BERT-style encoders: find layers, heads and FFN blocks, score them, slice them.

Shared by the structured-pruning techniques and by the cost profile (``models/cost.py``),
which builds pruned copies to time; so it sits below both.
"""

from __future__ import annotations

from typing import Any

LAYER_PATHS = ("bert.encoder.layer", "mpnet.encoder.layer", "roberta.encoder.layer", "encoder.layer")


def encoder_layers(module: Any) -> Any:
    """The encoder's layer list, or None when the model has none that wattcut knows."""
    for path in LAYER_PATHS:
        try:
            return module.get_submodule(path)
        except AttributeError:
            continue
    return None


def _ffn_pairs(module: Any) -> list[tuple[Any, Any]]:
    """(intermediate Linear, output Linear) per layer for BERT-style encoders."""
    pairs = []
    for layer in module.modules():
        inter = getattr(getattr(layer, "intermediate", None), "dense", None)
        out = getattr(getattr(layer, "output", None), "dense", None)
        if inter is not None and out is not None and inter.out_features == out.in_features:
            pairs.append((inter, out))
    return pairs


def slice_linear(linear: Any, index: Any, dim: int) -> Any:
    """A new Linear keeping ``index`` along ``dim`` (0 = output rows, 1 = input columns)."""
    import torch

    w = linear.weight.detach().index_select(dim, index).clone()
    bias = linear.bias
    b = None if bias is None else (bias.detach()[index].clone() if dim == 0 else bias.detach().clone())
    new = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
    with torch.no_grad():
        new.weight.copy_(w)
        if b is not None:
            new.bias.copy_(b)
    return new


def ffn_pairs(module: Any) -> list[tuple[Any, Any]]:
    """(intermediate Linear, output Linear) per layer, in layer order."""
    return _ffn_pairs(module)


def neuron_scores(inter: Any, out: Any, products: Any) -> Any:
    """One importance score per FFN neuron: weight L1 (``products`` None) or |Taylor| of its row, bias and column."""
    if products is None:
        return inter.weight.detach().abs().sum(dim=1) + out.weight.detach().abs().sum(dim=0)
    score = products[id(inter.weight)].sum(1) + products[id(out.weight)].sum(0)
    if inter.bias is not None:
        score = score + products[id(inter.bias)]
    return score.abs()


def slice_ffn(root: Any, inter: Any, out: Any, index: Any) -> None:
    """Keep only the neurons ``index`` (sorted) of one FFN block of ``root``, physically."""
    parent_i, parent_o = _parent(root, inter), _parent(root, out)
    parent_i.dense = slice_linear(inter, index, dim=0)
    parent_o.dense = slice_linear(out, index, dim=1)


def _parent(root: Any, child: Any) -> Any:
    for m in root.modules():
        if getattr(m, "dense", None) is child:
            return m
    raise RuntimeError("module parent not found")  # unreachable: child came from root.modules()


def attention_blocks(module: Any) -> list[tuple[str, Any, Any]]:
    """(path, self-attention module, output projection) per layer, in layer order."""
    blocks = []
    for path, m in module.named_modules():
        attn = getattr(m, "self", None)
        out = getattr(getattr(m, "output", None), "dense", None)
        if all(hasattr(attn, k) for k in ("query", "key", "value", "attention_head_size")) and out is not None:
            blocks.append((f"{path}.self", attn, m.output))
    return blocks


def head_scores(attn: Any, output: Any, products: Any) -> Any:
    """One importance score per head: weight L1 (``products`` None) or |Taylor| of its Q/K/V rows and output columns."""
    size = attn.attention_head_size
    heads = attn.query.out_features // size
    qkv = [attn.query, attn.key, attn.value]
    if products is None:
        score = sum(lin.weight.detach().abs().sum(dim=1) for lin in qkv) + output.dense.weight.detach().abs().sum(0)
        return score.view(heads, size).sum(1)
    score = products[id(output.dense.weight)].sum(0)
    for lin in qkv:  # one group per head: its Q/K/V rows and biases, its output columns
        score = score + products[id(lin.weight)].sum(1)
        if lin.bias is not None:
            score = score + products[id(lin.bias)]
    return score.view(heads, size).sum(1).abs()


def slice_heads(attn: Any, output: Any, kept: Any) -> None:
    """Keep only the heads ``kept`` (sorted indices) of one self-attention block, physically."""
    import torch

    size = attn.attention_head_size
    rows = (kept[:, None] * size + torch.arange(size)[None, :]).reshape(-1)
    attn.query, attn.key, attn.value = (slice_linear(lin, rows, dim=0) for lin in (attn.query, attn.key, attn.value))
    output.dense = slice_linear(output.dense, rows, dim=1)
    attn.num_attention_heads = len(kept)
    attn.all_head_size = len(kept) * size
