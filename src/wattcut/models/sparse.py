"""Sparse storage for unstructured-pruned models: a size format, not a speed-up.

Dense kernels run a pruned matrix at dense speed, but its zeros need not be stored. A
weight matrix with at least ``MIN_ZERO_SHARE`` zeros is written as its non-zero values
(float32, row-major) plus a bit mask of where they go (``numpy.packbits``): at 50%
sparsity that is 2.125 bytes per weight instead of 4. (CSR with 32-bit indices needs 4,
which is why it is not used.) Everything else is stored dense. The folder holds
``config.json`` and ``model.sparse.safetensors``; :func:`load` densifies it into the
transformers class named in the config. Plain ``from_pretrained`` cannot read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FILE = "model.sparse.safetensors"
MIN_ZERO_SHARE = 0.25  # below this a mask costs more than it saves


def save(module: Any, folder: Path) -> Path:
    """Write ``module``'s config and its weights, zero-heavy matrices as values + bit mask."""
    from safetensors.numpy import save_file

    from wattcut.models import structure

    folder.mkdir(parents=True, exist_ok=True)
    structure.save(module, folder)  # config (+ structure), and a dense copy we replace below
    for dense in folder.glob("*.safetensors"):
        dense.unlink()
    tensors: dict[str, np.ndarray] = {}
    shapes: dict[str, list[int]] = {}
    for name, t in module.state_dict().items():
        a = t.detach().cpu().numpy()
        if a.ndim == 2 and a.dtype == np.float32 and (a == 0).mean() >= MIN_ZERO_SHARE:
            mask = a != 0
            tensors[f"{name}::values"] = np.ascontiguousarray(a[mask])
            tensors[f"{name}::mask"] = np.packbits(mask.reshape(-1))
            shapes[name] = list(a.shape)
        else:
            tensors[name] = np.ascontiguousarray(a)
    save_file(tensors, str(folder / FILE), metadata={"wattcut_sparse_shapes": json.dumps(shapes)})
    config = json.loads((folder / "config.json").read_text())
    config["wattcut_storage"] = "sparse-bitmask"
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def state_dict(folder: Path) -> dict[str, Any]:
    """The dense state dict stored in ``folder``."""
    import torch
    from safetensors import safe_open

    out: dict[str, Any] = {}
    with safe_open(str(Path(folder) / FILE), framework="np") as f:
        shapes = json.loads((f.metadata() or {}).get("wattcut_sparse_shapes", "{}"))
        keys = list(f.keys())
        for key in keys:
            if "::" not in key:
                out[key] = torch.from_numpy(f.get_tensor(key).copy())
        for name, shape in shapes.items():
            n = int(np.prod(shape))
            mask = np.unpackbits(f.get_tensor(f"{name}::mask"))[:n].astype(bool)
            dense = np.zeros(n, dtype=np.float32)
            dense[mask] = f.get_tensor(f"{name}::values")
            out[name] = torch.from_numpy(dense.reshape(shape))
    return out


def load(folder: Path | str) -> tuple[Any, dict[str, list[str]]]:
    """Rebuild the model saved by :func:`save`, dense, in eval mode, with its loading info."""
    import transformers

    from wattcut.models import structure

    folder = Path(folder)
    config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=False)
    cls = structure.structured_class(config.architectures[0])
    model = cls(config)
    result = model.load_state_dict(state_dict(folder), strict=False)  # buffers may be absent
    info = {"missing_keys": list(result.missing_keys), "unexpected_keys": list(result.unexpected_keys)}
    return model.eval(), info
