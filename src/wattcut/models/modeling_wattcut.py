"""A Hugging Face architecture whose Linear shapes come from ``config.wattcut_structure``.

Written by wattcut next to a saved model whose structure its config cannot describe:
attention heads removed (transformers derives the head size from hidden_size /
num_attention_heads), FFN widths that differ per layer, or Linears factorized into two
low-rank Linears. The class is the saved model's own transformers class, resized in
``__init__`` before the weights are loaded, so the folder reloads with plain transformers:

    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)

This file imports only torch and transformers. wattcut loads such folders with the same
code from its own package, without running the copy in the folder.
"""

from typing import Any

import torch
import transformers

BASE = "BertForSequenceClassification"  # rewritten to the saved model's class when copied


def apply_structure(model, structure):
    """Resize ``model`` in place as ``structure`` says.

    ``structure["linears"]`` maps a module path to ``{"in", "out", "bias", "rank"}``:
    a Linear of that shape, or with ``rank`` set, ``Sequential(Linear(in, rank,
    bias=False), Linear(rank, out))``. ``structure["attrs"]`` maps a module path to
    attributes to set (e.g. an attention module's ``num_attention_heads``).
    """
    for path, spec in (structure.get("linears") or {}).items():
        owner_path, _, name = path.rpartition(".")
        owner = model.get_submodule(owner_path) if owner_path else model
        old = getattr(owner, name)
        like = next(iter(old.parameters()))
        kw = {"dtype": like.dtype, "device": like.device}
        new: torch.nn.Module
        if spec.get("rank"):
            new = torch.nn.Sequential(
                torch.nn.Linear(spec["in"], spec["rank"], bias=False, **kw),
                torch.nn.Linear(spec["rank"], spec["out"], bias=spec["bias"], **kw),
            )
        else:
            new = torch.nn.Linear(spec["in"], spec["out"], bias=spec["bias"], **kw)
        setattr(owner, name, new)
    for path, attrs in (structure.get("attrs") or {}).items():
        module = model.get_submodule(path)
        for key, value in attrs.items():
            setattr(module, key, value)


_Base: Any = getattr(transformers, BASE)


class WattcutModel(_Base):
    """``BASE`` resized by ``config.wattcut_structure`` before its weights load."""

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        apply_structure(self, getattr(config, "wattcut_structure", None) or {})
