import numpy as np
import pytest
import torch

from wattcut.compress import TECHNIQUES, CompressContext
from wattcut.compress.ort_int8 import OrtInt8DynamicConfig
from wattcut.compress.prune_ffn import FfnNeuronsConfig
from wattcut.compress.prune_l1 import L1UnstructuredConfig
from wattcut.models.handles import OnnxClassifier, TorchClassifier, export_onnx
from wattcut.runner.loops import encode

TEXTS = ["a charming and often affecting journey", "bleak", "uneasy mishmash of styles and genres ."]


@pytest.fixture
def model(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    return TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval())


@pytest.fixture
def ctx(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    return CompressContext(AutoTokenizer.from_pretrained(tiny_bert), max_length=32, threads=1, workdir=tmp_path)


def linear_weights(m):
    return [
        mod.weight
        for n, mod in m.module.named_modules()
        if isinstance(mod, torch.nn.Linear) and not n.startswith("classifier")
    ]


def test_every_technique_has_a_versioned_frozen_config():
    for name in TECHNIQUES:
        cfg = TECHNIQUES.get(name).config_cls()
        assert cfg.version >= 1
        with pytest.raises(AttributeError):
            cfg.version = 99


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_l1_unstructured_zeroes_the_fraction_and_leaves_no_hooks(model, ctx, scope):
    out = TECHNIQUES.get("prune_l1_unstructured").apply(model, L1UnstructuredConfig(0.5, scope=scope), ctx)
    ws = linear_weights(out)
    zero = sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws)
    assert zero == pytest.approx(0.5, abs=0.01)
    assert not any(hasattr(m, "weight_orig") for m in out.module.modules())
    assert (out.module.classifier.weight != 0).all()  # head untouched by default
    facts = out.facts(ctx.workdir)
    assert facts.nonzero_parameters < facts.parameters


def test_ffn_pruning_removes_neurons_and_reloads_with_transformers(model, ctx, tmp_path):
    from transformers import AutoModelForSequenceClassification

    before = model.facts(ctx.workdir)
    out = TECHNIQUES.get("prune_ffn_neurons").apply(model, FfnNeuronsConfig(0.5), ctx)
    for layer in out.module.bert.encoder.layer:
        assert layer.intermediate.dense.out_features == 32 and layer.output.dense.in_features == 32
    assert out.module.config.intermediate_size == 32
    after = out.facts(ctx.workdir)
    assert after.parameters < before.parameters and after.file_size_bytes < before.file_size_bytes
    batch = encode(ctx.tokenizer, TEXTS, 32)
    out.module.save_pretrained(tmp_path / "saved")
    reloaded = TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval())
    np.testing.assert_allclose(reloaded.logits(batch), out.logits(batch), atol=1e-5)


def test_ffn_pruning_keeps_the_most_important_neurons(model, ctx):
    layer = model.module.bert.encoder.layer[0]
    with torch.no_grad():
        layer.intermediate.dense.weight[7] *= 100  # make neuron 7 clearly the most important
        layer.intermediate.dense.weight[3] = 0
        layer.output.dense.weight[:, 3] = 0  # and neuron 3 clearly useless
    w7 = layer.intermediate.dense.weight[7].clone()
    out = TECHNIQUES.get("prune_ffn_neurons").apply(model, FfnNeuronsConfig(0.5), ctx)
    kept = out.module.bert.encoder.layer[0].intermediate.dense.weight
    assert any(torch.equal(row, w7) for row in kept)
    assert not any(torch.all(row == 0) for row in kept)


def test_onnx_export_matches_pytorch_on_new_shapes(model, ctx):
    path = export_onnx(model, ctx.workdir / "m.onnx")
    onnx_model = OnnxClassifier(path, model.input_names, threads=1, precision="fp32")
    for texts in (TEXTS, ["one"], TEXTS * 3):  # batch and sequence sizes unlike the export example
        batch = encode(ctx.tokenizer, texts, 32)
        np.testing.assert_allclose(onnx_model.logits(batch), model.logits(batch), atol=1e-4)


def test_ort_int8_is_smaller_and_close(model, ctx):
    fp32 = model.facts(ctx.workdir)
    batch = encode(ctx.tokenizer, TEXTS, 32)
    reference = model.logits(batch)
    out = TECHNIQUES.get("ort_int8_dynamic").apply(model, OrtInt8DynamicConfig(), ctx)
    assert out.runtime == "onnxruntime" and out.precision == "int8-dynamic"
    facts = out.facts(ctx.workdir)
    assert facts.file_size_bytes < 0.4 * fp32.file_size_bytes
    assert facts.parameters == pytest.approx(fp32.parameters, rel=0.01)
    np.testing.assert_allclose(out.logits(batch), reference, atol=0.05)
    assert not (ctx.workdir / "model.fp32.onnx").exists()
