"""Image datasets: Fashion-MNIST's IDX files, read with numpy alone (no torchvision needed).

An IDX file (LeCun's MNIST format, gzip-compressed here) is a big-endian header, a magic number
that says the element type and rank, the size of each dimension, then the raw bytes. Every
check names the file and what to do: a truncated download or a label file paired with the
wrong image file is caught before any training.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wattcut.errors import UserInputError

FASHION_MNIST = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_UBYTE = 0x08  # the IDX element type of both files


@dataclass(frozen=True)
class ImageSet:
    """Images as ``uint8 [n, height, width]`` (grayscale) or ``[n, height, width, 3]``, labels as ints."""

    images: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int) -> ImageSet:
        """A seeded, stratification-free sample of ``n`` items (all of them when ``n`` is None or larger)."""
        if n is None or n >= len(self):
            return self
        index = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return ImageSet(self.images[index], self.labels[index], self.label_names, f"{self.source}, {n} sampled")


def read_idx(path: Path, rank: int) -> np.ndarray:
    """The array in an IDX file of unsigned bytes with ``rank`` dimensions (gzip-compressed if it ends in .gz)."""
    fix = "Restore the file from the dataset's source (see SOURCE.md in its data folder)."
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f'"{path}" is missing.', fix) from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserInputError(f'"{path}" cannot be read as gzip ({type(e).__name__}: {e}).', fix) from None
    header = 4 + 4 * rank
    if len(raw) < header or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != rank:
        raise UserInputError(f'"{path}" is not an IDX file of unsigned bytes with {rank} dimensions.', fix)
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise UserInputError(
            f'"{path}" holds {len(raw) - header:,} bytes of data; its header announces {size:,} ({shape}).', fix
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def fashion_mnist(folder: Path, split: str) -> ImageSet:
    """Fashion-MNIST's ``train`` (60,000) or ``test`` (10,000) split from its folder of IDX files."""
    images_file, labels_file = FASHION_MNIST[split]
    images, labels = read_idx(folder / images_file, 3), read_idx(folder / labels_file, 1)
    if len(images) != len(labels):
        raise UserInputError(
            f"{folder}: {len(images):,} images but {len(labels):,} labels in the {split} split.",
            "The image and label files come from different downloads: restore both (see SOURCE.md).",
        )
    if labels.max(initial=0) >= len(FASHION_MNIST_LABELS):
        raise UserInputError(
            f"{folder / labels_file} has label {int(labels.max())}; Fashion-MNIST has 10 classes (0-9).",
            "Restore the file (see SOURCE.md).",
        )
    return ImageSet(images, labels.astype(np.int64), FASHION_MNIST_LABELS, f"{folder.name}/{images_file}")
