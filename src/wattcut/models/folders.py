"""Load any model folder wattcut writes or reads: plain HF, structure-aware or sparse-stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load(folder: Path | str, **kwargs: Any) -> Any:
    """A sequence classifier from ``folder``, whichever of wattcut's formats it is in.

    ``wattcut_storage = "sparse-bitmask"`` folders are densified by :mod:`.sparse`; the rest
    go to :func:`wattcut.models.structure.load` (plain ``from_pretrained``, or wattcut's own
    class for pruned heads, per-layer widths and low-rank factors).
    """
    from wattcut.models import sparse, structure

    config_file = Path(folder) / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if config.get("wattcut_storage") == "sparse-bitmask":  # wattcut's own format: safetensors, no code run
        model, info = sparse.load(folder)
        return (model, info) if kwargs.get("output_loading_info") else model
    return structure.load(folder, **kwargs)
