"""Image classification end to end, through the runner, statistics and report that text uses (vision_smoke.toml)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import assert_user_error

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
SMOKE = (REPO / "examples" / "vision_smoke.toml").read_text(encoding="utf-8")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "wattcut", *args], capture_output=True, text=True, cwd=REPO)


def test_mobilenet_v2_on_fashion_mnist_runs_and_reports(tmp_path):
    exp = tmp_path / "v.toml"
    exp.write_text(SMOKE.replace("train_size = 256", "train_size = 192").replace("eval_size = 128", "eval_size = 96"))
    r = _cli("run", str(exp), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    base, copy = (next(t for t in res["trials"] if t["variant"] == v) for v in ("baseline", "copy"))
    assert [p["phase"] for p in base["phases"]][0] == "train" and base["task"] == "image_classification"
    assert base["model"]["parameters"] == 2_236_682  # MobileNetV2 with a 10-class head (3.5 M with ImageNet's)
    assert base["model"]["flops_per_sequence"] > 0 and base["model"]["artifact"].startswith("safetensors")
    # fine-tuned from ImageNet: well above the 10% of chance after one epoch on 192 images
    assert base["metrics"]["accuracy"] > 0.3 and 0 <= base["metrics"]["top3_accuracy"] <= 1
    assert copy["metrics"]["accuracy"] == base["metrics"]["accuracy"]  # the same model on the same items
    quality = res["statistics"]["paired"]["copy"]["quality"]
    assert quality["n_items"] == 96 and quality["non_inferior"]  # item-level paired test, as for text
    assert len(base["tasks"]["image_classification"]["rounds"]) == 3
    assert "F1 macro" in (tmp_path / "o" / "report.html").read_text()
    # static INT8 on ONNX Runtime: the convolutions quantized, calibrated on training images in its own window
    int8 = next(t for t in res["trials"] if t["variant"] == "ort-int8")
    assert (int8["model"]["runtime"], int8["model"]["precision"]) == ("onnxruntime", "int8-static")
    assert int8["model"]["file_size_bytes"] < base["model"]["file_size_bytes"] / 2
    calibrate = next(p for p in int8["phases"] if p["phase"] == "calibrate")
    assert calibrate["parent"] == "compress" and calibrate["samples"] == 32 and "training items" in calibrate["step"]
    assert abs(int8["metrics"]["accuracy"] - base["metrics"]["accuracy"]) < 0.1
    ov = next(t for t in res["trials"] if t["variant"] == "ov-int8")  # the same on OpenVINO, calibrated by NNCF
    assert ov["model"]["runtime"] == "openvino" and ov["model"]["precision"].startswith("int8")
    assert next(p for p in ov["phases"] if p["phase"] == "calibrate")["samples"] == 32
    assert abs(ov["metrics"]["accuracy"] - base["metrics"]["accuracy"]) < 0.1
    # channel pruning: physically smaller (parameters, file, FLOPs); Taylor scores and recovery in their own windows
    pruned = next(t for t in res["trials"] if t["variant"] == "pruned")
    for fact in ("parameters", "file_size_bytes", "flops_per_sequence"):
        assert pruned["model"][fact] < 0.6 * base["model"][fact], fact
    nested = [(p["phase"], p["parent"]) for p in pruned["phases"] if p["parent"]]
    assert ("calibrate", "compress") in nested and ("train", "compress") in nested
    # a compact pretrained model as a variant: its own train window, the same items and requests, paired tests
    lite = next(t for t in res["trials"] if t["variant"] == "lite0")
    assert lite["derived_from"]["model"] == "efficientnet_lite0" and lite["phases"][0]["phase"] == "train"
    assert lite["model"]["parameters"] == 3_383_818  # EfficientNet-Lite0 with a 10-class head
    assert (
        lite["tasks"]["image_classification"]["items"]["gold"] == base["tasks"]["image_classification"]["items"]["gold"]
    )
    assert lite["latency"]["requests"] == base["latency"]["requests"]
    assert res["statistics"]["paired"]["lite0"]["quality"]["n_items"] == 96
    train_j = lite["phases"][0]["energy_j"]
    assert res["statistics"]["payback"]["variants"]["lite0"]["one_off_energy_j"] >= train_j > 0  # its own cost
    # [explain]: attributions in their own window, never inference; agreement with the baseline per variant
    explain = next(p for p in base["phases"] if p["phase"] == "explain")
    assert explain["samples"] == 4 and explain["parent"] is None
    assert len(base["tasks"]["image_classification"]["explain"]["values"]) == 4
    assert copy["tasks"]["image_classification"]["explain"] == base["tasks"]["image_classification"]["explain"]
    agreement = res["statistics"]["explain"]
    assert agreement["copy"]["top_k_overlap"]["mean"] == 1.0 and agreement["lite0"]["n_items"] == 4
    assert (tmp_path / "o" / "figures" / "attributions.png").is_file()
    report = (tmp_path / "o" / "report.md").read_text()
    assert "efficientnet\\_lite0 (fine-tuned, its own pretrained model)" in report and "stands in for it" in report


def test_a_text_technique_or_an_unknown_model_is_refused_by_validate(tmp_path):
    exp = tmp_path / "bad.toml"
    exp.write_text(SMOKE.replace("techniques = []", 'techniques = [{ name = "prune_heads", amount = 0.25 }]'))
    assert_user_error(
        _cli("validate", str(exp)), "works on sequence-classifier models", "for that kind: finetune, ort_int8_static"
    )
    exp.write_text(SMOKE.replace('name_or_path = "mobilenet_v2"', 'name_or_path = "resnet50"'))
    assert_user_error(_cli("validate", str(exp)), '"resnet50" is not an image classifier', "mobilenet_v2")
    exp.write_text(SMOKE.replace('model = "efficientnet_lite0"', 'model = "resnet50"'))
    assert_user_error(_cli("validate", str(exp)), 'Variant "lite0" model: [model] "resnet50" is not an image')
    exp.write_text(SMOKE.replace('{ name = "finetune" }', '{ name = "finetune", energy_budget = 0.5 }'))
    assert_user_error(_cli("validate", str(exp)), "energy budget", "prune_channels with an amount")
    exp.write_text(SMOKE.replace("samples = 4\n", "samples = 500\n"))
    assert_user_error(_cli("validate", str(exp)), "[explain] samples = 500 is more than the 128 evaluation items")
    exp.write_text(SMOKE.replace("eval_size = 128", "eval_size = 20000"))
    assert_user_error(_cli("validate", str(exp)), "eval_size = 20000 is more than the 10,000 test images")
    # your own images: a class folder with a file that is not an image, and one too far from square to resize
    from PIL import Image

    for i, label in enumerate(("cat", "cat", "dog", "dog")):
        (tmp_path / "imgs" / label).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40 + 10 * i, 40)).save(tmp_path / "imgs" / label / f"{i}.png")
    (tmp_path / "imgs" / "dog" / "notes.png").write_text("not an image")
    own = f'dataset = "files"\ntrain_images = "{tmp_path / "imgs"}"\neval_images = "{tmp_path / "imgs"}"'
    files = SMOKE.replace('dataset = "fashion_mnist"', own).replace("train_size = 256", "train_size = 4")
    exp.write_text(files.replace("eval_size = 128", "eval_size = 4"))
    assert_user_error(_cli("validate", str(exp)), "cannot be read as images: notes.png", "Remove or replace them")
    (tmp_path / "imgs" / "dog" / "notes.png").unlink()
    Image.new("RGB", (300, 20)).save(tmp_path / "imgs" / "dog" / "banner.png")
    assert_user_error(_cli("validate", str(exp)), "banner.png (300x20)", "Crop or pad them")


def test_bad_sizes_an_imagenet_model_used_as_it_is_and_foreign_labels_are_refused_by_validate(tmp_path):
    """Everything run would refuse, validate refuses first (exit 2, the fix named)."""
    from wattcut.models.vision import MobileNetV2
    from wattcut.runtimes.pytorch_vision import TorchImageClassifier

    exp = tmp_path / "bad.toml"
    exp.write_text(SMOKE.replace("train_size = 256", "train_size = 70000"))
    assert_user_error(_cli("validate", str(exp)), "train_size = 70000 is more than the 60,000 training images")
    exp.write_text(SMOKE.replace("image_size = 64", "image_size = 64\ntop_k = 11"))
    assert_user_error(_cli("validate", str(exp)), "top_k = 11 is more than the dataset's 10 classes")
    exp.write_text(
        SMOKE.replace('name_or_path = "mobilenet_v2"', 'name_or_path = "mobilenet_v2"\nalready_trained = true')
    )
    assert_user_error(_cli("validate", str(exp)), "is the ImageNet model (1,000 classes)", "saved image variant")
    saved = TorchImageClassifier(MobileNetV2(num_classes=2, width=0.5), ("cat", "dog"), width=0.5).save(tmp_path / "m")
    used_as_is = f'name_or_path = "{saved}"\nalready_trained = true'
    exp.write_text(SMOKE.replace('name_or_path = "mobilenet_v2"', used_as_is))
    assert_user_error(_cli("validate", str(exp)), "labels ['cat', 'dog'] are not the dataset's")
    exp.write_text(SMOKE.replace('name_or_path = "mobilenet_v2"', f'name_or_path = "{saved}"'))
    r = _cli("validate", str(exp))  # fine-tuned here: a new head for the dataset's classes, so accepted
    assert r.returncode == 0, r.stdout + r.stderr
