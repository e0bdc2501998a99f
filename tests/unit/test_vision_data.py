"""Fashion-MNIST from its IDX files, the MobileNetV2 that torchvision's ImageNet weights load into, strictly."""

import gzip

import numpy as np
import pytest

from wattcut.data.images import FASHION_MNIST_LABELS, fashion_mnist, read_idx
from wattcut.errors import UserInputError


def _idx(path, array, magic_rank=None):
    rank = array.ndim if magic_rank is None else magic_rank
    header = bytes([0, 0, 8, rank]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def test_fashion_mnist_reads_both_splits_with_its_ten_classes(data_dir):
    test = fashion_mnist(data_dir / "fashion-mnist", "test")
    assert test.images.shape == (10_000, 28, 28) and test.images.dtype == np.uint8
    assert np.bincount(test.labels).tolist() == [1000] * 10  # upstream: 1,000 test images per class
    assert (
        test.label_names == FASHION_MNIST_LABELS and len(fashion_mnist(data_dir / "fashion-mnist", "train")) == 60_000
    )
    sample = test.subset(50, seed=0)
    assert len(sample) == 50 and np.array_equal(sample.labels, test.subset(50, seed=0).labels)


def test_idx_files_that_are_truncated_mismatched_or_not_idx_name_the_file(tmp_path):
    images = np.zeros((4, 2, 2))
    good = _idx(tmp_path / "i.gz", images)
    assert read_idx(good, 3).shape == (4, 2, 2)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(gzip.decompress(good.read_bytes())[:-3]))
    with pytest.raises(UserInputError, match=r"cut.gz.*announces 16"):
        read_idx(tmp_path / "cut.gz", 3)
    with pytest.raises(UserInputError, match="not an IDX file of unsigned bytes with 1 dimensions"):
        read_idx(good, 1)
    (tmp_path / "text.gz").write_bytes(b"hello")
    with pytest.raises(UserInputError, match="cannot be read as gzip"):
        read_idx(tmp_path / "text.gz", 3)
    folder = tmp_path / "fm"
    folder.mkdir()
    _idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
    _idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(UserInputError, match="4 images but 3 labels"):
        fashion_mnist(folder, "test")
    with pytest.raises(UserInputError, match="missing"):
        fashion_mnist(folder, "train")
