"""PyTorch eager runtime for image classifiers: a plain ``nn.Module`` taking ``[batch, 3, H, W]`` pixels.

Saved as safetensors plus a ``wattcut_image.json`` that names the architecture, its width and its
labels, so a saved variant reloads with no pickle (:func:`load`). A channel-pruned network reloads
too: the architecture is built, then given the channel counts the weights hold.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wattcut.errors import UserInputError
from wattcut.runtimes.base import ModelFacts, folder_bytes
from wattcut.runtimes.pytorch import TorchClassifier, _count_flops

CONFIG = "wattcut_image.json"
WEIGHTS = "model.safetensors"


class TorchImageClassifier(TorchClassifier):
    """An image classifier in PyTorch eager mode; ``logits`` takes ``{"pixel_values": float32 [b, 3, H, W]}``."""

    quantizable_ops = ("Conv", "Gemm", "MatMul")  # a CNN's work is in its convolutions
    architecture = "cnn"
    input_names = ["pixel_values"]  # a class attribute here; a property for text (read from forward)

    def __init__(
        self,
        module: Any,
        labels: tuple[str, ...],
        width: float = 1.0,
        precision: str = "fp32",
        arch: str = "mobilenet_v2",
    ) -> None:
        super().__init__(module, precision)
        self.labels = labels
        self.width = width
        self.arch = arch  # a name in wattcut.models.vision.ARCHITECTURES

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, classes]``, as float32 numpy."""
        pixels = torch.from_numpy(batch["pixel_values"])
        with self.serving(), torch.inference_mode():
            if self.precision.startswith("bf16"):  # pt_bf16: the module's weights are bfloat16, so are its inputs
                pixels = pixels.to(torch.bfloat16)
            return self.module(pixels).float().numpy()

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """FLOPs of one forward pass on one ``seq_len`` x ``seq_len`` image (None for quantized modules)."""
        if self.precision != "fp32":
            return None
        pixels = torch.zeros(1, 3, seq_len, seq_len)
        return _count_flops(lambda pixel_values: self.module(pixel_values), {"pixel_values": pixels})

    def clone(self) -> TorchImageClassifier:
        """A deep copy, so a technique can change it without touching the original."""
        return TorchImageClassifier(copy.deepcopy(self.module), self.labels, self.width, self.precision, self.arch)

    def recast(self, module: Any, precision: str) -> TorchImageClassifier:
        """A handle of this kind on ``module`` (this one's module cast or converted) at ``precision``."""
        return TorchImageClassifier(module, self.labels, self.width, precision, self.arch)

    def export_spec(self) -> tuple[Any, dict[str, Any], dict[str, dict[int, str]]]:
        """The module itself (pixels in, logits out), an example batch, and dynamic batch and image sides."""
        axes = {"pixel_values": {0: "batch", 2: "height", 3: "width"}}
        return self.module.eval(), {"pixel_values": torch.zeros(2, 3, 64, 64)}, axes

    def save(self, folder: Path) -> Path:
        """Weights as safetensors, and the architecture, width and labels as JSON."""
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.module.state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        config = {"architecture": self.arch, "width": self.width, "labels": list(self.labels), "version": 1}
        (folder / CONFIG).write_text(json.dumps(config, indent=1), encoding="utf-8")
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters (and non-zero ones; batch-norm statistics are buffers, not parameters) and the saved size."""
        params = list(self.module.parameters())
        total = sum(p.numel() for p in params)
        nonzero = sum(int(torch.count_nonzero(p)) for p in params)
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            size = folder_bytes(self.save(Path(tmp)))
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, "safetensors + wattcut_image.json")


def read_config(folder: Path) -> dict[str, Any]:
    """The ``wattcut_image.json`` of a saved image classifier, checked (architecture, width, labels, weights file)."""
    from wattcut.models.vision import ARCHITECTURES

    fix = 'Name a saved image variant\'s folder, or name_or_path = "mobilenet_v2" for the ImageNet model.'
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserInputError(
            f'"{folder}" is not an image classifier saved by wattcut ({CONFIG}: {type(e).__name__}).', fix
        ) from None
    labels, width = config.get("labels") if isinstance(config, dict) else None, None
    if isinstance(config, dict) and isinstance(config.get("width"), int | float):
        width = float(config["width"])
    if (
        not isinstance(config, dict)
        or config.get("architecture") not in ARCHITECTURES
        or width is None
        or not 0 < width <= 4
        or not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(x, str) for x in labels)
    ):
        raise UserInputError(
            f'"{folder / CONFIG}" does not describe an image classifier (architecture: one of '
            f"{', '.join(ARCHITECTURES)}; a width in (0, 4]; two or more string labels).",
            fix,
        )
    if not (folder / WEIGHTS).is_file():
        raise UserInputError(f'"{folder}" has {CONFIG} but no {WEIGHTS}.', fix)
    return config


def load(folder: Path) -> TorchImageClassifier:
    """A classifier saved by :meth:`TorchImageClassifier.save` (no pickle is read)."""
    from safetensors.torch import load_file

    from wattcut.models.vision import architecture, fit_to_state

    config = read_config(folder)
    arch = architecture(config["architecture"])
    module = arch.build(len(config["labels"]), float(config["width"]))
    try:
        state = load_file(str(folder / WEIGHTS))
        fit_to_state(module, state)  # a channel-pruned network: the channel counts its weights hold
        module.load_state_dict(state, strict=True)
        with torch.inference_mode():  # channel counts that do not chain fail here, not in the study
            module.eval()(torch.zeros(1, 3, 32, 32))
    except (RuntimeError, OSError, ValueError) as e:  # safetensors' own errors are OSError/ValueError subclasses
        raise UserInputError(
            f'"{folder / WEIGHTS}" does not hold the weights {CONFIG} describes ({type(e).__name__}).',
            "Save the variant again (wattcut run with [study] save_variants), or name another folder.",
        ) from None
    return TorchImageClassifier(module, tuple(config["labels"]), float(config["width"]), arch=arch.name)
