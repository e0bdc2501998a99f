"""Image classification: an ImageNet CNN with a new head, fine-tuned and scored on labelled images.

The data is Fashion-MNIST (by name, from the data folder; seeded subsets of its train and test
splits). The model is an architecture with ImageNet weights (``[model] name_or_path =
"mobilenet_v2"`` or ``"efficientnet_lite0"``), or a classifier wattcut saved (a folder). Grayscale
images are resized to ``image_size`` and repeated over three channels, then normalised as the
model's weights expect; the preprocessing runs outside every timed window. The workload is
``[infer] requests`` batches of ``[infer] batch_size`` evaluation images.

Seed 004 compresses ResNet-50; no registry serves its ImageNet weights offline, so MobileNetV2
stands in (``models/vision.py``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wattcut.data.images import ImageSet
from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.settings import ModelConfig
from wattcut.settings_measure import positive
from wattcut.tasks import classification
from wattcut.tasks.base import Task, serve_timed, task
from wattcut.ui import bar

DATASETS = ("fashion_mnist", "files")


@dataclass(frozen=True)
class ImageClassificationConfig:
    """``[[tasks]] name = "image_classification"``.

    Attributes:
        dataset: A named image dataset in the data folder (``fashion_mnist``), or ``files`` for your own
            images in ``train_images`` and ``eval_images``.
        train_images, eval_images: With ``dataset = "files"``: a folder with one subfolder of images per
            class (torchvision's ImageFolder layout), or a CSV with ``path`` and ``label`` columns.
        train_size: Training images (a seeded sample of the train split).
        eval_size: Evaluation images (a seeded sample of the test split).
        image_size: Side in pixels the images are resized to (224 is ImageNet's; smaller is cheaper).
        top_k: Also report top-k accuracy for this k.
    """

    dataset: str = "fashion_mnist"
    train_images: str | None = None
    eval_images: str | None = None
    train_size: int = 2000
    eval_size: int = 500
    image_size: int = 96
    top_k: int = 3
    version: int = 1

    def __post_init__(self) -> None:
        where = '[[tasks]] "image_classification"'
        for name in ("train_size", "eval_size", "image_size", "top_k"):
            positive(where, name, getattr(self, name))
        if self.dataset not in DATASETS:
            raise UserInputError(
                f'{where} dataset = "{self.dataset}" is not a named image dataset.',
                f"Use one of: {', '.join(DATASETS)}.",
            )
        given = self.train_images is not None or self.eval_images is not None
        if self.dataset == "files" and (self.train_images is None or self.eval_images is None):
            raise UserInputError(
                f'{where} dataset = "files" needs both train_images and eval_images.',
                "Set each to a folder with one subfolder of images per class, or a CSV with path and label columns.",
            )
        if given and self.dataset != "files":
            raise UserInputError(
                f'{where} sets train_images/eval_images, but dataset = "{self.dataset}" is read instead.',
                'Set dataset = "files" to read your images, or remove train_images and eval_images.',
            )
        if self.image_size < 32:
            raise UserInputError(
                f"{where} image_size = {self.image_size} is too small for MobileNetV2 (it downsamples 32 times).",
                "Set image_size to 32 or more (96 is cheap; 224 is ImageNet's).",
            )


def _architecture_name(source: str) -> str:
    """The architecture of ``source``: a name, or the one a saved classifier's config names."""
    from wattcut.models.vision import ARCHITECTURES
    from wattcut.runtimes import pytorch_vision

    return source if source in ARCHITECTURES else str(pytorch_vision.read_config(Path(source))["architecture"])


class Preprocessor:
    """Resize, three channels, the model's normalisation: ``uint8 [n, H, W]`` to ``float32 [n, 3, S, S]``."""

    def __init__(
        self,
        size: int,
        mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
        std: tuple[float, float, float] = (0.229, 0.224, 0.225),
    ) -> None:
        self.size, self.mean, self.std = size, mean, std

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """The model's input for ``images``."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images)).float().div(255)
        x = x.unsqueeze(1).repeat(1, 3, 1, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        x = torch.nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        mean, std = torch.tensor(self.mean).view(1, 3, 1, 1), torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).numpy()

    def resized(self, images: np.ndarray) -> np.ndarray:
        """``images`` at the model's size with three channels, as float ``[n, S, S, 3]`` pixels in 0-255."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images)).float()
        x = x.unsqueeze(1).repeat(1, 3, 1, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        x = torch.nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return x.permute(0, 2, 3, 1).numpy()

    def save_pretrained(self, folder: Path) -> None:
        """The preprocessing beside a saved model, as Hugging Face image processors write it."""
        config = {
            "do_resize": True,
            "size": {"height": self.size, "width": self.size},
            "resample": "bilinear",
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(self.mean),
            "image_std": list(self.std),
        }
        (Path(folder) / "preprocessor_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


@task
class ImageClassification(Task):
    """Fine-tune an ImageNet CNN with a new head on labelled images; accuracy, top-k, per-class F1."""

    name = "image_classification"
    config_cls = ImageClassificationConfig
    summary = "ImageNet CNN + new head fine-tuned on Fashion-MNIST; accuracy, top-k, F1, confusion matrix"
    model_kind = "image-classifier"
    metric_spec = classification.CLASSIFICATION
    runtimes = ("pytorch", "onnxruntime", "openvino")  # the handles that take {"pixel_values": ...}
    recovers = True
    explains = True

    @property
    def trains(self) -> bool:  # type: ignore[override]
        """A new head is fine-tuned, unless the model is a classifier already trained (then used as it is)."""
        return not self.study.model.already_trained

    def prepare(self) -> None:
        """Read the dataset's splits and draw the seeded samples."""
        train, test = self._read()
        where = '[[tasks]] "image_classification"'
        for name, kind, split, size in (
            ("train_size", "training", train, self.config.train_size),
            ("eval_size", "test", test, self.config.eval_size),
        ):
            if size > len(split):
                raise UserInputError(
                    f"{where} {name} = {size} is more than the {len(split):,} {kind} images.",
                    f"Set {name} to {len(split):,} or less.",
                )
        if self.config.top_k > len(train.label_names):
            raise UserInputError(
                f"{where} top_k = {self.config.top_k} is more than the dataset's {len(train.label_names)} classes.",
                f"Set top_k to {len(train.label_names)} or less.",
            )
        self.train = train.subset(self.config.train_size, self.study.seed)
        self.evals = test.subset(self.config.eval_size, self.study.seed + 1)

    def _read(self) -> tuple[ImageSet, ImageSet]:
        from wattcut.data.catalog import data_dirs
        from wattcut.data.images import fashion_mnist, image_files

        if self.config.dataset == "files":
            side = self.config.image_size  # decoded once at the study's size: the items then share one shape
            train = image_files(Path(str(self.config.train_images)).expanduser(), side)
            return train, image_files(Path(str(self.config.eval_images)).expanduser(), side, train.label_names)
        found = [d / "fashion-mnist" for d in data_dirs() if (d / "fashion-mnist").is_dir()]
        if not found:
            raise UserInputError(
                "Fashion-MNIST is not in any data folder (" + ", ".join(str(d) for d in data_dirs()) + ").",
                "Put its four IDX files in <data folder>/fashion-mnist/ (see its SOURCE.md), or point "
                "WATTCUT_DATA_DIR at the folder that holds it.",
            )
        return fashion_mnist(found[0], "train"), fashion_mnist(found[0], "test")

    def describe_data(self) -> str:
        """Images read, and the size they are resized to."""
        return (
            f"{len(self.train)} training images from {self.train.source}; {len(self.evals)} evaluation images from "
            f"{self.evals.source}; resized to {self.config.image_size}x{self.config.image_size}, "
            f"{len(self.train.label_names)} classes"
        )

    def train_data(self) -> ImageSet:
        """The training sample (images and labels), for techniques that score or recover on data."""
        return self.train

    def calibration_inputs(self, tokenizer: Any, n: int, batch_size: int = 1) -> list[dict[str, np.ndarray]]:
        """The first ``n`` training images, preprocessed, in batches."""
        images = self.train.images[:n]
        return [{"pixel_values": tokenizer(images[i : i + batch_size])} for i in range(0, len(images), batch_size)]

    def max_length(self) -> int:
        """The image side: what one request's FLOPs are counted at."""
        return int(self.config.image_size)

    def resolve_source(self, model: ModelConfig) -> str:
        """An architecture name (its ImageNet weights come from an installed package) or a saved variant's folder."""
        if model.package is not None or model.gguf_file:
            raise UserInputError(
                "[model] package and gguf_file are for text models; an image classifier is named by architecture.",
                'Set [model] name_or_path = "mobilenet_v2", or the folder of a saved image variant.',
            )
        from wattcut.models.vision import ARCHITECTURES

        name = str(model.name_or_path)
        return name if name in ARCHITECTURES else str(Path(name).expanduser())

    def check_model(self, source: str) -> None:
        """A known architecture whose weights are installed, or a folder wattcut saved an image classifier into.

        A classifier used as it is (``already_trained``) must be a saved one whose labels are the dataset's.
        """
        from wattcut.models.vision import ARCHITECTURES, packaged_file
        from wattcut.runtimes import pytorch_vision

        model = self.study.model
        if model.label_map is not None:
            raise UserInputError(
                "[model] label_map is not supported for image classifiers: a saved classifier's labels must be "
                "the dataset's, in its order.",
                "Remove label_map.",
            )
        if source in ARCHITECTURES:
            if model.already_trained:
                raise UserInputError(
                    f'[model] already_trained = true, but "{source}" is the ImageNet model (1,000 classes), not a '
                    "classifier for this dataset.",
                    "Name the folder of a saved image variant, or remove already_trained to fine-tune a new head.",
                )
            packaged_file(*ARCHITECTURES[source].weights)  # installed? (exit 2 with the pip command otherwise)
            ARCHITECTURES[source].build(2, 1.0)  # its model code is importable (exit 2 with the fix otherwise)
            return
        if not (Path(source) / pytorch_vision.CONFIG).is_file():
            raise UserInputError(
                f'[model] "{source}" is not an image classifier wattcut can load.',
                f"Set [model] name_or_path to one of {', '.join(ARCHITECTURES)} (ImageNet weights, offline) or a "
                "folder of a saved image variant.",
            )
        labels = tuple(pytorch_vision.read_config(Path(source))["labels"])
        names = self.train.label_names
        if model.already_trained and labels != names:
            raise UserInputError(
                f"The saved classifier's labels {list(labels)} are not the dataset's {list(names)}.",
                "Use a classifier trained on this dataset, or remove already_trained to fine-tune a new head.",
            )

    def load_tokenizer(self, source: str) -> Preprocessor:
        """The image preprocessing (the tokenizer's place for text), with the model's normalisation."""
        from wattcut.models.vision import architecture

        arch = architecture(_architecture_name(source))
        return Preprocessor(self.config.image_size, arch.mean, arch.std)

    def load_model(self, source: str) -> Any:
        """An ImageNet architecture with a new head for the dataset's classes, or a saved classifier."""
        from wattcut.models.vision import ARCHITECTURES, architecture
        from wattcut.runtimes import pytorch_vision

        self.check_model(source)
        labels = self.train.label_names
        if source in ARCHITECTURES:
            arch = ARCHITECTURES[source]
            module = arch.imagenet()
            arch.replace_head(module, len(labels))
            return pytorch_vision.TorchImageClassifier(module, labels, arch=arch.name)
        model = pytorch_vision.load(Path(source))
        if not self.study.model.already_trained:  # fine-tuned here: a new head for this dataset's classes
            architecture(model.arch).replace_head(model.module, len(labels))
            model.labels = labels
        return model

    def fine_tune(self, model: Any, tokenizer: Any, seed: int, rec: PhaseRecord) -> None:
        """Cross-entropy fine-tuning of the whole network (``[train]``: AdamW, linear warmup and decay)."""
        self.recover(model, tokenizer, self.study.train, None, seed, rec)

    def recover(self, model: Any, tokenizer: Any, cfg: Any, samples: int | None, seed: int, rec: Any) -> None:
        """Fine-tune ``model`` with the ``TrainConfig`` ``cfg`` on the first ``samples`` training images (None: all).

        The baseline's fine-tuning and a pipeline's recovery step (``finetune`` after pruning) run this one loop.
        """
        import torch

        train = self.train if samples is None else self.train.subset(min(samples, len(self.train)), seed)
        torch.manual_seed(seed)
        module = model.module
        module.train()
        opt = torch.optim.AdamW(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        steps = cfg.epochs * -(-len(train) // cfg.batch_size)
        warmup = int(steps * cfg.warmup_ratio)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup))
        )
        rng = random.Random(seed)
        with bar("train", steps) as advance:
            for _ in range(cfg.epochs):
                order = list(range(len(train)))
                rng.shuffle(order)
                for start in range(0, len(order), cfg.batch_size):
                    idx = order[start : start + cfg.batch_size]
                    x = torch.from_numpy(tokenizer(train.images[idx]))
                    y = torch.from_numpy(train.labels[idx])
                    loss = torch.nn.functional.cross_entropy(module(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    rec.samples += len(idx)
                    advance(1)
        module.eval()

    def evaluate(self, model: Any, tokenizer: Any, rec: PhaseRecord) -> dict[str, Any]:
        """Accuracy, top-k, per-class P/R/F1, ROC AUC and the confusion matrix, with per-item predictions."""
        logits = self._logits(model, tokenizer, self.evals, rec)
        k = min(self.config.top_k, logits.shape[1])
        top = np.argsort(-logits, axis=1)[:, :k]
        out = {
            **classification.score(logits, self.evals.labels, list(self.evals.label_names)),
            f"top{k}_accuracy": float(np.mean([y in row for y, row in zip(self.evals.labels, top, strict=True)])),
            "items": classification.items(logits, self.evals.labels),
        }
        return out

    def eval_items(self) -> int:
        """Evaluation images."""
        return len(self.evals)

    def explain(self, model: Any, tokenizer: Any, items: list[int], cfg: Any, rec: Any) -> dict[str, Any]:
        """Attributions of the gold class's logit over a grid of image cells (SHAP, Partition, blurred cells)."""
        from wattcut.tasks.explain import explain_images

        pixels = tokenizer.resized(self.evals.images[items])
        targets = [int(self.evals.labels[i]) for i in items]

        def predict(batch: np.ndarray) -> np.ndarray:
            return np.asarray(model.logits({"pixel_values": tokenizer(batch)}))

        out = explain_images(predict, pixels, targets, cfg.grid, cfg.max_evals)
        rec.samples += len(items)
        return {"items": items, **out}

    def _logits(self, model: Any, tokenizer: Preprocessor, data: ImageSet, rec: PhaseRecord) -> np.ndarray:
        batch = self.study.evaluate.batch_size
        rows = []
        with bar("evaluate", len(data)) as advance:
            for start in range(0, len(data), batch):
                rows.append(model.logits({"pixel_values": tokenizer(data.images[start : start + batch])}))
                rec.samples += len(rows[-1])
                advance(len(rows[-1]))
        return np.concatenate(rows)

    def make_requests(self, tokenizer: Any, seed: int) -> list[dict[str, np.ndarray]]:
        """``warmup + requests`` batches of ``[infer] batch_size`` evaluation images, preprocessed here (untimed)."""
        cfg = self.study.infer
        rng = random.Random(seed)
        pool = list(range(len(self.evals)))
        rng.shuffle(pool)
        n = (cfg.warmup_requests + cfg.requests) * cfg.batch_size
        picks = [pool[i % len(pool)] for i in range(n)]
        return [
            {"pixel_values": tokenizer(self.evals.images[picks[j : j + cfg.batch_size]])}
            for j in range(0, n, cfg.batch_size)
        ]

    def serve(self, model: Any, requests: list[Any], rec: Any, desc: str = "infer", window: Any = None) -> list[float]:
        """Classify each batch; returns per-request latencies in seconds."""
        return serve_timed(requests, rec, desc, model.logits, lambda req: (len(req["pixel_values"]), 0))
