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


def _png(path, size, value=128):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 0, 255 - value)).save(path)
    return path


def test_your_own_images_from_a_class_folder_or_a_csv_of_mixed_sizes(tmp_path):
    from wattcut.data.images import image_files

    _png(tmp_path / "train" / "dog" / "a.png", (30, 40), 10)
    _png(tmp_path / "train" / "cat" / "b.png", (64, 48), 200)
    _png(tmp_path / "train" / "cat" / "c.jpg", (20, 20), 90)
    train = image_files(tmp_path / "train", 32)
    assert train.images.shape == (3, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.label_names == ("cat", "dog") and train.labels.tolist() == [0, 0, 1]  # sorted, as ImageFolder
    (tmp_path / "eval.csv").write_text("path,label\ntrain/dog/a.png,dog\ntrain/cat/b.png, cat\n")
    evals = image_files(tmp_path / "eval.csv", 32, train.label_names)  # paths relative to the CSV's folder
    assert evals.labels.tolist() == [1, 0] and np.array_equal(evals.images[0], train.images[2])


def test_bad_image_files_are_named_with_the_fix(tmp_path):
    from wattcut.data.images import image_files

    _png(tmp_path / "t" / "a" / "1.png", (32, 32))
    _png(tmp_path / "t" / "b" / "2.png", (32, 32))
    (tmp_path / "t" / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserInputError, match=r"1 of the 3 files .* cannot be read as images: broken.png.*Remove"):
        image_files(tmp_path / "t", 32)
    (tmp_path / "t" / "b" / "broken.png").unlink()
    _png(tmp_path / "t" / "b" / "strip.png", (200, 20))
    with pytest.raises(UserInputError, match=r"too small or too far from square .* strip.png \(200x20\).*Crop or pad"):
        image_files(tmp_path / "t", 32)
    (tmp_path / "t" / "b" / "strip.png").unlink()
    (tmp_path / "e.csv").write_text("path,label\nt/a/1.png,zebra\n")
    with pytest.raises(UserInputError, match="label\\(s\\) the training images lack: zebra"):
        image_files(tmp_path / "e.csv", 32, ("a", "b"))
    (tmp_path / "e.csv").write_text("file,class\nt/a/1.png,a\n")
    with pytest.raises(UserInputError, match="needs a header with path and label columns"):
        image_files(tmp_path / "e.csv", 32, ("a", "b"))
    (tmp_path / "e.csv").write_text("path,label\nt/a/missing.png,a\n")
    with pytest.raises(UserInputError, match="do not exist: .*missing.png"):
        image_files(tmp_path / "e.csv", 32, ("a", "b"))
    with pytest.raises(UserInputError, match="neither an image folder nor a CSV"):
        image_files(tmp_path / "nowhere", 32)


def test_your_own_images_need_both_sets_and_dataset_files():
    from wattcut.tasks.image_classification import ImageClassificationConfig

    with pytest.raises(UserInputError, match='dataset = "files" needs both train_images and eval_images'):
        ImageClassificationConfig(dataset="files", train_images="t")
    with pytest.raises(UserInputError, match='Set dataset = "files" to read your images'):
        ImageClassificationConfig(train_images="t", eval_images="e")
