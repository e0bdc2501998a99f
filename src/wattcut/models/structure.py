"""Save and reload models whose shapes their transformers config cannot describe.

Head pruning, per-layer FFN widths and low-rank factorization leave a model that
``save_pretrained`` writes correctly but ``from_pretrained`` cannot rebuild: the config
has one ``intermediate_size``, derives the head size from ``hidden_size /
num_attention_heads`` and knows nothing of factorized Linears. :func:`describe` finds
every module whose shape differs from what the config would build, :func:`save` stores
that as ``config.wattcut_structure`` plus a small remote-code file
(``modeling_wattcut.py``), and the folder then reloads with plain transformers
(``trust_remote_code=True``) or with :func:`load`, which uses wattcut's own copy of that
code and never runs code from the folder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError

REMOTE_FILE = "modeling_wattcut.py"


def _linear_spec(module: Any) -> dict[str, Any] | None:
    """``{"in", "out", "bias", "rank"}`` for a Linear or a two-Linear low-rank Sequential."""
    import torch

    if isinstance(module, torch.nn.Linear):
        return {"in": module.in_features, "out": module.out_features, "bias": module.bias is not None, "rank": None}
    if (
        isinstance(module, torch.nn.Sequential)
        and len(module) == 2
        and all(isinstance(m, torch.nn.Linear) for m in module)
        and module[0].bias is None
    ):
        first, second = module[0], module[1]
        return {
            "in": first.in_features,
            "out": second.out_features,
            "bias": second.bias is not None,
            "rank": first.out_features,
        }
    return None


def describe(module: Any) -> dict[str, Any]:
    """Modules of ``module`` whose shape differs from a fresh build of its config.

    Returns:
        ``{"linears": {path: spec}, "attrs": {path: {name: value}}}``; empty when the
        config describes the model exactly.
    """
    import torch

    config = copy.deepcopy(module.config)
    for key in ("wattcut_structure", "auto_map"):
        if hasattr(config, key):
            delattr(config, key)
    with torch.device("meta"):
        skeleton = type(module)(config)
    built = dict(skeleton.named_modules())
    linears: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    for path, actual in module.named_modules():
        spec = _linear_spec(actual)
        if spec is not None and path:
            if _linear_spec(built.get(path)) != spec:
                linears[path] = spec
            continue
        heads = getattr(actual, "num_attention_heads", None)
        ref = built.get(path)
        if isinstance(heads, int) and ref is not None and getattr(ref, "num_attention_heads", None) != heads:
            attrs[path] = {"num_attention_heads": heads, "all_head_size": int(actual.all_head_size)}
    # A Sequential's inner Linears are listed too; their parent's spec covers them.
    linears = {p: s for p, s in linears.items() if not any(p.startswith(q + ".") for q in linears if q != p)}
    return {"linears": linears, "attrs": attrs} if linears or attrs else {}


def save(module: Any, folder: Path) -> bool:
    """``save_pretrained`` plus, when needed, the structure and remote code.

    Returns:
        True when the folder needs ``trust_remote_code=True`` (or :func:`load`).
    """
    structure = describe(module)
    if not structure:
        module.save_pretrained(folder)
        return False
    base = type(module).__name__
    config = module.config
    config.wattcut_structure = structure
    config.wattcut_base = base
    config.auto_map = {"AutoModelForSequenceClassification": "modeling_wattcut.WattcutModel"}
    try:
        module.save_pretrained(folder)
    finally:
        for key in ("wattcut_structure", "wattcut_base", "auto_map"):
            delattr(config, key)
    source = (Path(__file__).parent / REMOTE_FILE).read_text()
    line = 'BASE = "BertForSequenceClassification"'
    assert line in source  # the template line rewritten below
    (Path(folder) / REMOTE_FILE).write_text(source.replace(line, f'BASE = "{base}"', 1))
    return True


def structured_class(base: str) -> Any:
    """The transformers class ``base`` resized by ``config.wattcut_structure`` on build."""
    import transformers

    from wattcut.models.modeling_wattcut import apply_structure

    parent = getattr(transformers, base, None)
    if parent is None:
        raise UserInputError(
            f'This model folder was saved from the transformers class "{base}", which this transformers '
            f"({transformers.__version__}) does not have.",
            "Install the transformers version recorded in the study's provenance.",
        )

    def __init__(self: Any, config: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        parent.__init__(self, config, *args, **kwargs)
        apply_structure(self, getattr(config, "wattcut_structure", None) or {})

    return type(f"Wattcut{base}", (parent,), {"__init__": __init__})


def load(folder: Path | str, **kwargs: Any) -> Any:
    """Load a sequence classifier saved by :func:`save` (or any plain HF folder), never running its code.

    Sparse-stored folders are read by :func:`wattcut.models.folders.load`, which dispatches here.
    """
    from transformers import AutoModelForSequenceClassification

    config_file = Path(folder) / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if "wattcut_structure" not in config:
        return AutoModelForSequenceClassification.from_pretrained(folder, **kwargs)
    return structured_class(config["wattcut_base"]).from_pretrained(folder, **kwargs)
