"""The image_classification task: its settings, preprocessing, metrics and a saved classifier that reloads exactly."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wattcut.data.images import ImageSet  # noqa: E402
from wattcut.errors import UserInputError  # noqa: E402
from wattcut.measure.base import PhaseRecord  # noqa: E402
from wattcut.models.vision import MobileNetV2  # noqa: E402
from wattcut.runtimes import pytorch_vision  # noqa: E402
from wattcut.tasks.image_classification import ImageClassificationConfig, Preprocessor  # noqa: E402


def test_settings_are_checked_when_the_file_is_read():
    with pytest.raises(UserInputError, match="image_size = 16 is too small"):
        ImageClassificationConfig(image_size=16)
    with pytest.raises(UserInputError, match='dataset = "cifar10" is not a named image dataset'):
        ImageClassificationConfig(dataset="cifar10")
    with pytest.raises(UserInputError, match="train_size"):
        ImageClassificationConfig(train_size=0)


def test_grayscale_images_become_normalised_three_channel_tensors():
    x = Preprocessor(40)(np.full((2, 28, 28), 255, dtype=np.uint8))
    assert x.shape == (2, 3, 40, 40) and x.dtype == np.float32
    # white, normalised per channel with ImageNet's mean and SD: (1 - mean) / sd
    assert np.allclose(x[0, :, 0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], atol=1e-5)


def test_a_saved_classifier_reloads_without_pickle_and_gives_the_same_logits(tmp_path):
    torch.manual_seed(0)
    module = MobileNetV2(num_classes=4, width=0.5).eval()
    with torch.no_grad():  # untrained batch norms: give them statistics so the outputs are not degenerate
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model = pytorch_vision.TorchImageClassifier(module, ("a", "b", "c", "d"), width=0.5)
    batch = {"pixel_values": np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)}
    folder = model.save(tmp_path / "v")
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "wattcut_image.json"]
    again = pytorch_vision.load(folder)
    assert again.labels == model.labels and np.array_equal(again.logits(batch), model.logits(batch))
    facts = model.facts(tmp_path)
    assert facts.parameters == sum(p.numel() for p in module.parameters()) and facts.file_size_bytes > 0
    assert model.flops_per_sequence(32) > 0
    with pytest.raises(UserInputError, match="not an image classifier saved by wattcut"):
        pytorch_vision.load(tmp_path)


def test_evaluate_reports_top_k_and_per_item_results(tmp_path):
    from wattcut.experiment import parse_experiment
    from wattcut.tasks.image_classification import ImageClassification

    study = parse_experiment(
        {
            "study": {"name": "t"},
            "model": {"name_or_path": "mobilenet_v2"},
            "tasks": [{"name": "image_classification", "image_size": 32, "top_k": 2}],
            "variants": [],
        }
    )
    t = ImageClassification(study, study.tasks[0].config)
    labels = np.array([0, 1, 2, 1, 0, 2])
    t.evals = ImageSet(np.zeros((6, 28, 28), dtype=np.uint8), labels, ("x", "y", "z"), "test")

    class Fixed:  # scores each image by its index: predictions 0, 1, 2, 0, 1, 2
        calls = 0

        def logits(self, batch):
            n = len(batch["pixel_values"])
            out = np.zeros((n, 3), dtype=np.float32)
            for i in range(n):
                out[i, (Fixed.calls + i) % 3] = 2.0
                out[i, (Fixed.calls + i + 1) % 3] = 1.0
            Fixed.calls += n
            return out

    rec = PhaseRecord("evaluate", 0.0)
    m = t.evaluate(Fixed(), Preprocessor(32), rec)
    assert m["accuracy"] == pytest.approx(4 / 6) and rec.samples == 6  # items 3 and 4 are wrong
    # the second choice is (pred + 1) % 3: item 3 (gold 1, pred 0) has it, item 4 (gold 0, pred 1) does not
    assert m["top2_accuracy"] == pytest.approx(5 / 6)
    assert m["items"]["gold"] == labels.tolist() and m["items"]["pred"] == [0, 1, 2, 0, 1, 2]


def test_a_saved_folder_that_is_malformed_is_named_with_the_fix(tmp_path):
    module = MobileNetV2(num_classes=2, width=0.5).eval()
    folder = pytorch_vision.TorchImageClassifier(module, ("a", "b"), width=0.5).save(tmp_path / "v")
    (folder / "wattcut_image.json").write_text('{"architecture": "resnet50", "width": 1, "labels": ["a", "b"]}')
    with pytest.raises(UserInputError, match="does not describe an image classifier"):
        pytorch_vision.load(folder)
    (folder / "wattcut_image.json").write_text('{"architecture": "mobilenet_v2", "width": 0.5, "labels": ["a", "b"]}')
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    conv = "features.2.conv.0.0.weight"  # a 1x1 expansion whose input no longer matches the layer before it
    save_file({**state, conv: state[conv][:, :4].contiguous()}, str(folder / "model.safetensors"))
    with pytest.raises(UserInputError, match="does not hold the weights"):
        pytorch_vision.load(folder)
    save_file({k: v for k, v in state.items() if k != conv}, str(folder / "model.safetensors"))  # a tensor missing
    with pytest.raises(UserInputError, match="does not hold the weights"):
        pytorch_vision.load(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserInputError, match="no model.safetensors"):
        pytorch_vision.load(folder)
