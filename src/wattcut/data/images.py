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


MAX_ASPECT = 3.0  # wider or taller than this, squashing to a square distorts the content: refused
MIN_SIDE = 8  # pixels


def image_files(path: Path, side: int, labels: tuple[str, ...] | None = None) -> ImageSet:
    """Labelled images from a folder with one subfolder per class (torchvision's ImageFolder layout) or a CSV.

    The CSV has a header with ``path`` and ``label`` columns; relative paths are read from the
    CSV's folder. Each image is decoded (Pillow), converted to RGB and resized to ``side`` x
    ``side`` once here, so every item has the same shape. Class names are the subfolders' (or
    the CSV's labels), sorted; ``labels`` (the training set's) fixes them for an evaluation set.
    Unreadable files, images too small or too far from square to resize, empty classes and
    labels the training set lacks are refused, each with the files named.
    """
    entries = _csv_entries(path) if path.is_file() else _folder_entries(path)
    names = labels if labels is not None else tuple(sorted({label for _, label in entries}))
    unknown = sorted({label for _, label in entries} - set(names))
    if unknown:
        raise UserInputError(
            f'"{path}" has label(s) the training images lack: {", ".join(unknown[:5])}.',
            "Give every evaluation label some training images, or leave those items out.",
        )
    if len(names) < 2:
        raise UserInputError(f'"{path}" has fewer than two classes ({", ".join(names) or "none"}).', _LAYOUT)
    images, bad, odd = [], [], []
    for file, _ in entries:
        pixels = _decode(file, side)
        if isinstance(pixels, np.ndarray):
            images.append(pixels)
        elif pixels == "unreadable":
            bad.append(file.name)
        else:
            odd.append(f"{file.name} ({pixels})")
    if bad:
        raise UserInputError(
            f'{len(bad)} of the {len(entries):,} files under "{path}" cannot be read as images: {", ".join(bad[:5])}'
            + (" ..." if len(bad) > 5 else "")
            + ".",
            "Remove or replace them (Pillow reads PNG, JPEG, BMP, GIF, WebP and TIFF).",
        )
    if odd:
        raise UserInputError(
            f'{len(odd)} image(s) under "{path}" are too small or too far from square to resize to {side}x{side}: '
            + ", ".join(odd[:5])
            + (" ..." if len(odd) > 5 else "")
            + ".",
            f"Crop or pad them to within {MAX_ASPECT:g}:1, at least {MIN_SIDE} pixels a side, or leave them out.",
        )
    index = {name: i for i, name in enumerate(names)}
    labels_out = np.array([index[label] for _, label in entries], dtype=np.int64)
    return ImageSet(np.stack(images), labels_out, names, f"{path.name} ({len(entries):,} images)")


_LAYOUT = (
    "Use a folder with one subfolder of images per class (e.g. train/cat/1.png, train/dog/2.jpg), or a CSV with "
    "path and label columns."
)


def _folder_entries(folder: Path) -> list[tuple[Path, str]]:
    if not folder.is_dir():
        raise UserInputError(f'"{folder}" is neither an image folder nor a CSV file.', _LAYOUT)
    entries = [
        (f, d.name)
        for d in sorted(p for p in folder.iterdir() if p.is_dir())
        for f in sorted(d.iterdir())
        if f.is_file() and not f.name.startswith(".")
    ]
    if not entries:
        raise UserInputError(f'"{folder}" has no class subfolders with files in them.', _LAYOUT)
    return entries


def _csv_entries(path: Path) -> list[tuple[Path, str]]:
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserInputError(f'"{path}" cannot be read as a CSV file ({type(e).__name__}).', _LAYOUT) from None
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise UserInputError(f'"{path}" needs a header with path and label columns, and rows under it.', _LAYOUT)
    entries = []
    for line, row in enumerate(rows, start=2):
        if not row["path"] or not row["label"]:
            raise UserInputError(f'"{path}" line {line} has an empty path or label.', "Fill it in or remove the line.")
        file = Path(row["path"]).expanduser()
        entries.append((file if file.is_absolute() else path.parent / file, row["label"].strip()))
    missing = [str(f) for f, _ in entries if not f.is_file()]
    if missing:
        raise UserInputError(
            f'{len(missing)} path(s) in "{path}" do not exist: {", ".join(missing[:3])}.',
            "Correct the paths (relative ones are read from the CSV's folder).",
        )
    return entries


def _decode(file: Path, side: int) -> np.ndarray | str:
    """``uint8 [side, side, 3]``, or why not: "unreadable", or the size that cannot be resized sensibly."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            im.load()
            width, height = im.size
            if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
                return f"{width}x{height}"
            return np.asarray(im.convert("RGB").resize((side, side), Image.Resampling.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "unreadable"
