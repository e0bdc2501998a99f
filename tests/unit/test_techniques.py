import numpy as np
import pytest
import torch

from wattcut.compress import TECHNIQUES, CompressContext
from wattcut.compress.ort_int8 import OrtInt8DynamicConfig
from wattcut.compress.prune_ffn import FfnNeuronsConfig
from wattcut.compress.prune_l1 import L1UnstructuredConfig
from wattcut.runtimes.ort import OnnxClassifier, export_onnx
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


def test_pt_int8_dynamic_is_smaller_and_close(model, ctx):
    from wattcut.compress.pt_int8 import PtInt8DynamicConfig

    batch = encode(ctx.tokenizer, TEXTS, 32)
    reference, size = model.logits(batch), model.facts(ctx.workdir).file_size_bytes
    out = TECHNIQUES.get("pt_int8_dynamic").apply(model.clone(), PtInt8DynamicConfig(), ctx)
    assert "int8" in out.precision
    np.testing.assert_allclose(out.logits(batch), reference, atol=0.05)
    # the tiny model is mostly embeddings (not quantized), so the size gain is small but real
    assert out.facts(ctx.workdir).file_size_bytes < size


def test_lowrank_full_rank_is_exact_and_low_rank_is_smaller(model, ctx):
    from wattcut.compress.lowrank import SvdConfig, factorize

    layer = model.module.bert.encoder.layer[0].intermediate.dense
    x = torch.randn(3, layer.in_features)
    exact = factorize(layer, min(layer.weight.shape))
    torch.testing.assert_close(exact(x), layer(x), atol=1e-5, rtol=1e-4)
    before = model.facts(ctx.workdir).parameters
    out = TECHNIQUES.get("lowrank_svd").apply(model, SvdConfig(targets="ffn", rank_fraction=0.25), ctx)
    layer = out.module.bert.encoder.layer[0]
    seq = layer.intermediate.dense
    assert isinstance(seq, torch.nn.Sequential) and seq[0].out_features == 8  # 0.25 x min(64, 32)
    assert isinstance(layer.output.dense, torch.nn.Sequential)
    assert isinstance(layer.attention.output.dense, torch.nn.Linear)  # "ffn" leaves attention alone
    assert isinstance(layer.attention.self.query, torch.nn.Linear)
    assert out.facts(ctx.workdir).parameters < before


def test_lowrank_energy_rank_keeps_the_share():
    from wattcut.compress.lowrank import SvdConfig, _rank

    s = torch.tensor([3.0, 2.0, 1.0, 0.1], dtype=torch.float64)  # squared: 9, 4, 1, 0.01
    assert _rank(s, SvdConfig(energy=0.6)) == 1
    assert _rank(s, SvdConfig(energy=0.9)) == 2
    assert _rank(s, SvdConfig(energy=0.999)) == 3  # 14/14.01 = 0.99929 retained
    assert _rank(s, SvdConfig(energy=0.9995)) == 4


def test_prune_layers_removes_layers_and_reloads(model, ctx, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from wattcut.compress.prune_layers import LayersConfig, layers_to_keep

    assert layers_to_keep(6, LayersConfig(amount=0.5)) == [0, 2, 4]
    assert layers_to_keep(6, LayersConfig(amount=0.5, strategy="top")) == [0, 1, 2]
    out = TECHNIQUES.get("prune_layers").apply(model, LayersConfig(keep=(1,)), ctx)
    assert len(out.module.bert.encoder.layer) == 1 and out.module.config.num_hidden_layers == 1
    batch = encode(ctx.tokenizer, TEXTS, 32)
    out.module.save_pretrained(tmp_path / "saved")
    reloaded = TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval())
    np.testing.assert_allclose(reloaded.logits(batch), out.logits(batch), atol=1e-5)


def test_finetune_trains_inside_a_nested_window(model, ctx):
    from wattcut.compress.finetune import FinetuneConfig
    from wattcut.data import TextDataset
    from wattcut.measure import EnergySession

    ctx.train_data = TextDataset(TEXTS * 4, [1, 0, 0] * 4, ["neg", "pos"], "test")
    session = EnergySession([])
    ctx.phase = session.phase
    before = model.module.classifier.weight.detach().clone()
    with session.phase("compress"):
        out = TECHNIQUES.get("finetune").apply(model, FinetuneConfig(samples=8, batch_size=4), ctx)
    assert not torch.equal(before, out.module.classifier.weight)
    train, compress = session.records
    assert (train.phase, train.parent, train.samples) == ("train", "compress", 8)
    assert compress.phase == "compress"


def test_openvino_fp32_matches_pytorch(model, ctx):
    from wattcut.runtimes.ov import OpenVinoClassifier, to_openvino

    ov_model = OpenVinoClassifier(to_openvino(model), model.input_names, threads=1, weights="fp32", hint="f32")
    assert ov_model.precision == "fp32 (compute f32)"
    for texts in (TEXTS, ["one"]):
        batch = encode(ctx.tokenizer, texts, 32)
        np.testing.assert_allclose(ov_model.logits(batch), model.logits(batch), atol=1e-4)


def test_openvino_performance_hint_recompiles_with_the_same_threads_and_logits(model, ctx):
    import numpy as np

    from wattcut.runtimes.ov import OpenVinoClassifier, to_openvino
    from wattcut.tasks.sequence_classification import encode

    ov_model = OpenVinoClassifier(to_openvino(model), model.input_names, threads=1, weights="fp32", hint="f32")
    assert ov_model.capabilities.performance_hint and ov_model.performance_hint == "LATENCY"
    batch = encode(ctx.tokenizer, ["a fine film", "dull"], 16)
    before = ov_model.logits(batch)
    ov_model.set_performance_hint("THROUGHPUT")
    assert str(ov_model.compiled.get_property("PERFORMANCE_HINT")) == "THROUGHPUT"
    assert int(ov_model.compiled.get_property("INFERENCE_NUM_THREADS")) == 1  # the deployment's threads kept
    np.testing.assert_allclose(ov_model.logits(batch), before, rtol=1e-4, atol=1e-5)


def test_ov_int8_static_calibrates_in_its_own_window(model, ctx):
    from wattcut.compress.ov_int8 import OvInt8Config
    from wattcut.measure import EnergySession

    session = EnergySession([])
    ctx.phase = session.phase
    texts = TEXTS * 10  # what the task lends: training texts, tokenized in batches
    ctx.calibration_inputs = lambda n, size: [
        encode(ctx.tokenizer, texts[:n][i : i + size], 32) for i in range(0, n, size)
    ]
    batch = encode(ctx.tokenizer, TEXTS, 32)
    reference = model.logits(batch)
    out = TECHNIQUES.get("ov_int8_static").apply(model, OvInt8Config(calibration_samples=20), ctx)
    (calibrate,) = session.records
    assert calibrate.phase == "calibrate" and calibrate.samples == 20
    assert out.runtime == "openvino" and out.precision.startswith("int8")
    assert np.abs(out.logits(batch) - reference).max() < 0.1
    facts = out.facts(ctx.workdir)
    assert facts.file_size_bytes > 0 and facts.parameters > 0


def test_two_four_mask_keeps_two_largest_of_every_four():
    from wattcut.compress.prune_2_4 import two_four_mask

    w = torch.tensor([[0.1, -3.0, 2.0, 0.5, 9.0, 1.0, -8.0, 0.0, 5.0, 4.0]])
    mask = two_four_mask(w)
    assert mask.tolist() == [[False, True, True, False, True, False, True, False, True, True]]


def test_prune_2_4_gives_half_zeros_per_group(model, ctx):
    from wattcut.compress.prune_2_4 import TwoFourConfig

    out = TECHNIQUES.get("prune_2_4").apply(model, TwoFourConfig(), ctx)
    for w in linear_weights(out):
        groups = (w != 0).view(w.shape[0], -1, 4).sum(dim=2)
        assert (groups <= 2).all()


def test_ov_weight_only_int8_and_int4(model, ctx):
    from wattcut.compress.ov_weights import OvWeightsConfig

    batch = encode(ctx.tokenizer, TEXTS, 32)
    reference = model.logits(batch)
    int8 = TECHNIQUES.get("ov_weight_only").apply(model, OvWeightsConfig(bits="int8"), ctx)
    assert int8.precision.startswith("int8 weights")
    np.testing.assert_allclose(int8.logits(batch), reference, atol=0.02)
    int4 = TECHNIQUES.get("ov_weight_only").apply(model, OvWeightsConfig(bits="int4", group_size=16), ctx)
    assert int4.facts(ctx.workdir).file_size_bytes <= int8.facts(ctx.workdir).file_size_bytes


def _polarity_data():
    from wattcut.data import TextDataset

    texts = ["great movie , loved it", "awful movie , hated it"] * 40
    return TextDataset(texts, [1, 0] * 40, ["neg", "pos"], "test")


@pytest.fixture
def trained_teacher(model, ctx):
    from wattcut.measure.base import PhaseRecord
    from wattcut.settings import TrainConfig
    from wattcut.tasks.sequence_classification import fine_tune

    cfg = TrainConfig(epochs=10, batch_size=8, learning_rate=3e-3, warmup_ratio=0.0)
    fine_tune(model.module, ctx.tokenizer, _polarity_data(), cfg, 32, 0, PhaseRecord("train", 0.0))
    return model


def test_distill_from_a_fine_tuned_teacher(trained_teacher, ctx):
    from wattcut.compress.distill import DistillConfig
    from wattcut.compress.prune_layers import LayersConfig
    from wattcut.measure import EnergySession

    session = EnergySession([])
    ctx.phase, ctx.teacher, ctx.train_data = session.phase, trained_teacher, _polarity_data()
    student = TECHNIQUES.get("prune_layers").apply(trained_teacher.clone(), LayersConfig(keep=(0,)), ctx)
    before = student.module.classifier.weight.detach().clone()
    out = TECHNIQUES.get("distill").apply(student, DistillConfig(temperature=6.0, alpha=0.5, batch_size=8), ctx)
    assert not torch.equal(before, out.module.classifier.weight)
    (rec,) = session.records
    assert rec.phase == "distill" and rec.samples == 80 and "teacher baseline" in rec.step


def test_distill_warmup_skips_the_teacher_and_hidden_loss_trains_a_projection(trained_teacher, ctx, monkeypatch):
    from wattcut.compress import distill
    from wattcut.compress.distill import DistillConfig
    from wattcut.compress.prune_layers import LayersConfig
    from wattcut.measure import EnergySession

    session = EnergySession([])
    ctx.phase, ctx.teacher, ctx.train_data = session.phase, trained_teacher, _polarity_data()
    student = TECHNIQUES.get("prune_layers").apply(trained_teacher.clone(), LayersConfig(keep=(0,)), ctx)
    calls = {"teacher": 0, "pool": 0}
    teacher_forward = trained_teacher.module.forward

    def counting_forward(*a, **k):
        calls["teacher"] += 1
        return teacher_forward(*a, **k)

    monkeypatch.setattr(trained_teacher.module, "forward", counting_forward)
    pool = distill._pool
    monkeypatch.setattr(distill, "_pool", lambda h, m: (calls.__setitem__("pool", calls["pool"] + 1), pool(h, m))[1])
    cfg = DistillConfig(batch_size=8, warmup_epochs=1, epochs=1, hidden_weight=0.5, min_teacher_margin=-1.0)
    TECHNIQUES.get("distill").apply(student, cfg, ctx)
    (rec,) = session.records
    batches = 80 // 8
    assert rec.samples == 2 * 80  # warm-up epoch + distillation epoch
    assert calls["teacher"] == 2 + batches  # the teacher check (80 rows in batches of 64) + 1 distillation epoch only
    assert calls["pool"] == 2 * batches  # student and teacher pooled, distillation epoch only


def test_distill_layer_map_follows_the_layers_a_student_was_cut_from():
    from wattcut.compress.distill import layer_map

    cut = {"prune_layers": {"kept_layers": [0, 2, 3, 5], "of_layers": 6}}
    assert layer_map(4, 6, cut) == [1, 3, 4, 6]  # outputs after teacher layers 1, 3, 4, 6 (0 = embeddings)
    assert layer_map(4, 6, None) == [2, 3, 4, 6]  # uniform, the last onto the last
    assert layer_map(3, 6, {"prune_layers": {"kept_layers": [0, 2, 3, 5], "of_layers": 6}}) == [2, 4, 6]


def test_distill_layerwise_hidden_loss_pulls_each_student_layer_to_its_teacher_layer(trained_teacher, ctx):
    import torch

    from wattcut.compress.distill import DistillConfig, _layerwise_mse, layer_map
    from wattcut.compress.prune_layers import LayersConfig
    from wattcut.measure import EnergySession
    from wattcut.tasks.sequence_classification import encode

    session = EnergySession([])
    ctx.phase, ctx.teacher, ctx.train_data = session.phase, trained_teacher, _polarity_data()
    n = trained_teacher.module.config.num_hidden_layers
    student = TECHNIQUES.get("prune_layers").apply(trained_teacher.clone(), LayersConfig(keep=(n - 1,)), ctx)
    assert student.notes["prune_layers"] == {"kept_layers": [n - 1], "of_layers": n}
    mapped = layer_map(1, n, student.notes)
    enc = encode(ctx.tokenizer, _polarity_data().texts[:16], 16)
    feed = {k: torch.from_numpy(v) for k, v in enc.items()}

    def gap() -> float:
        with torch.no_grad():
            s = student.module(**feed, output_hidden_states=True).hidden_states
            t = trained_teacher.module(**feed, output_hidden_states=True).hidden_states
            return float(_layerwise_mse(s, t, mapped, enc["attention_mask"], None))

    before = gap()
    cfg = DistillConfig(batch_size=8, epochs=3, hidden_weight=5.0, hidden_layers="each", min_teacher_margin=-1.0)
    cfg = DistillConfig(**{**cfg.__dict__, "learning_rate": 1e-3})
    TECHNIQUES.get("distill").apply(student, cfg, ctx)
    assert before > 0 and gap() < before  # the cut student's layer now imitates the teacher's last layer


def test_distill_layerwise_needs_the_students_tokenizer():
    from wattcut.compress.distill import DistillConfig
    from wattcut.errors import UserInputError

    with pytest.raises(UserInputError, match='teacher = "baseline"'):
        DistillConfig(hidden_weight=1.0, hidden_layers="each", teacher="some/folder")


def test_distill_refuses_an_untrained_teacher(model, ctx):
    from wattcut.compress.distill import DistillConfig
    from wattcut.errors import UserInputError

    ctx.teacher, ctx.train_data = model, _polarity_data()  # random head: chance-level teacher
    with pytest.raises(UserInputError, match="not fine-tuned on this task"):
        TECHNIQUES.get("distill").apply(model.clone(), DistillConfig(), ctx)


def test_distill_refuses_an_external_teacher_without_a_head(model, ctx, tmp_path):
    from transformers import AutoTokenizer

    from wattcut.compress.distill import DistillConfig
    from wattcut.errors import UserInputError

    model.module.bert.save_pretrained(tmp_path / "encoder-only")  # no classification head
    AutoTokenizer.from_pretrained(model.module.name_or_path).save_pretrained(tmp_path / "encoder-only")
    assert not (tmp_path / "encoder-only" / "config.json").read_text().count("ForSequenceClassification")
    ctx.train_data = _polarity_data()
    with pytest.raises(UserInputError, match="no trained classification head"):
        TECHNIQUES.get("distill").apply(model.clone(), DistillConfig(teacher=str(tmp_path / "encoder-only")), ctx)


@pytest.mark.parametrize("technique", ["prune_ffn_neurons", "pt_int8_dynamic", "ort_int8_dynamic", "ov_weight_only"])
def test_every_runtime_saves_an_artifact_that_loads(model, ctx, tmp_path, technique):
    t = TECHNIQUES.get(technique)
    out = t.apply(model, t.config_cls(), ctx)
    folder = out.save(tmp_path / "artifact")
    batch = encode(ctx.tokenizer, TEXTS, 32)
    if technique == "prune_ffn_neurons":
        from transformers import AutoModelForSequenceClassification

        again = TorchClassifier(AutoModelForSequenceClassification.from_pretrained(folder).eval())
    elif technique == "pt_int8_dynamic":
        again = TorchClassifier(torch.load(folder / "model.pt", weights_only=False))
    elif technique == "ort_int8_dynamic":
        again = OnnxClassifier(folder / "model.onnx", model.input_names, threads=1, precision="int8")
    else:
        import openvino as ov

        from wattcut.runtimes.ov import OpenVinoClassifier

        again = OpenVinoClassifier(ov.Core().read_model(folder / "model.xml"), model.input_names, 1, "int8", "f32")
    np.testing.assert_allclose(again.logits(batch), out.logits(batch), atol=1e-5)


def test_distill_fine_tunes_a_pretrained_teacher_once_and_reuses_it(model, ctx, tiny_bert, tmp_path, monkeypatch):
    from wattcut.compress.distill import DistillConfig
    from wattcut.measure import EnergySession

    monkeypatch.setenv("WATTCUT_CACHE", str(tmp_path / "cache"))
    data = _polarity_data()
    ctx.train_rows = lambda n: type(data)(data.texts[:n], data.labels[:n], data.label_names, data.source)
    cfg = DistillConfig(
        teacher=str(tiny_bert),
        teacher_finetune=True,
        teacher_learning_rate=3e-3,
        teacher_epochs=2,
        train_rows=40,
        batch_size=8,
        min_teacher_margin=-1.0,
    )
    for attempt in range(2):
        session = EnergySession([])
        ctx.phase = session.phase
        TECHNIQUES.get("distill").apply(model.clone(), cfg, ctx)
        phases = [r.phase for r in session.records]
        distill = session.records[-1]
        assert "40 training rows" in distill.step
        if attempt == 0:  # trained now, in its own metered window, and cached
            assert phases == ["teacher", "distill"] and session.records[0].samples == 2 * 40
            assert len(list((tmp_path / "cache" / "teachers").iterdir())) == 1
        else:  # the second trial reuses it: no teacher window, and the record says so
            assert phases == ["distill"] and "cached teacher" in distill.step


def test_distill_teacher_finetune_needs_a_named_teacher():
    from wattcut.compress.distill import DistillConfig
    from wattcut.errors import UserInputError

    with pytest.raises(UserInputError, match="teacher_finetune needs a pretrained teacher"):
        DistillConfig(teacher_finetune=True)


def test_a_technique_that_reads_the_cost_profile_declares_it():
    """The runner asks the registry, not the config: a config with an energy budget must be declared there."""
    from wattcut.compress import TECHNIQUES

    for name in TECHNIQUES:
        t = TECHNIQUES.get(name)
        assert t.uses_cost_profile == hasattr(t.config_cls, "needs_cost_profile"), name
    prune = TECHNIQUES.get("prune_heads")
    assert not prune.needs_cost_profile(prune.config_cls(amount=0.25))
    assert prune.needs_cost_profile(prune.config_cls(energy_budget=0.8))
    assert not TECHNIQUES.get("pt_int8_dynamic").needs_cost_profile(TECHNIQUES.get("pt_int8_dynamic").config_cls())
