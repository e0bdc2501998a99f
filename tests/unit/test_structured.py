"""Head pruning, per-layer widths, Taylor importance, structure-aware reload, FLOPs."""

from contextlib import contextmanager

import numpy as np
import pytest
import torch

from wattcut.compress import TECHNIQUES, CompressContext
from wattcut.compress.lowrank import SvdConfig
from wattcut.compress.prune_ffn import FfnNeuronsConfig
from wattcut.compress.prune_heads import HeadsConfig
from wattcut.data import TextDataset
from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.models import structure
from wattcut.runtimes.pytorch import TorchClassifier
from wattcut.tasks.sequence_classification import encode

TEXTS = ["a charming and often affecting journey", "bleak", "uneasy mishmash of styles and genres ."]
HEAD = 8  # tiny BERT: hidden 32, 4 heads of 8


@pytest.fixture
def model(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    return TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval())


@pytest.fixture
def ctx(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    phases = []

    @contextmanager
    def phase(name):
        rec = PhaseRecord(phase=name, duration_s=0.0)
        yield rec
        phases.append(rec)

    texts = ["great movie , loved it", "awful movie , hated it"] * 20
    c = CompressContext(AutoTokenizer.from_pretrained(tiny_bert), max_length=32, threads=1, workdir=tmp_path)
    c.train_data = TextDataset(texts, [1, 0] * 20, ["neg", "pos"], "test")
    c.phase = phase
    c.phases = phases  # type: ignore[attr-defined]
    return c


def reload_both_ways(out, folder):
    """Reload with plain transformers (remote code) and with wattcut's loader."""
    from transformers import AutoModelForSequenceClassification

    out.save(folder)
    plain = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    ours = structure.load(folder).eval()
    return TorchClassifier(plain), TorchClassifier(ours)


def test_head_pruning_removes_heads_and_reloads_with_same_logits(model, ctx, tmp_path):
    before = model.facts(ctx.workdir)
    out = TECHNIQUES.get("prune_heads").apply(model, HeadsConfig(amount=0.5), ctx)
    for layer in out.module.bert.encoder.layer:
        attn = layer.attention.self
        assert attn.query.out_features == attn.key.out_features == attn.value.out_features == 2 * HEAD
        assert layer.attention.output.dense.in_features == 2 * HEAD
        assert attn.num_attention_heads == 2 and attn.attention_head_size == HEAD
    assert out.facts(ctx.workdir).parameters < before.parameters
    batch = encode(ctx.tokenizer, TEXTS, 32)
    for again in reload_both_ways(out, tmp_path / "saved"):
        np.testing.assert_allclose(again.logits(batch), out.logits(batch), atol=1e-4)
    assert (tmp_path / "saved" / structure.REMOTE_FILE).is_file()


def test_head_pruning_by_magnitude_drops_the_head_with_zero_weights(model, ctx):
    attn = model.module.bert.encoder.layer[0].attention
    with torch.no_grad():
        for lin in (attn.self.query, attn.self.key, attn.self.value):
            lin.weight[2 * HEAD : 3 * HEAD] = 0
        attn.output.dense.weight[:, 2 * HEAD : 3 * HEAD] = 0
    kept_q = attn.self.query.weight[[0, HEAD, 3 * HEAD]].clone()  # first row of heads 0, 1, 3
    out = TECHNIQUES.get("prune_heads").apply(model, HeadsConfig(amount=0.25), ctx)
    q = out.module.bert.encoder.layer[0].attention.self.query.weight
    assert q.shape[0] == 3 * HEAD
    torch.testing.assert_close(q[[0, HEAD, 2 * HEAD]], kept_q)


def test_taylor_importance_uses_the_loss_not_the_weight_size(model, ctx):
    """A head with huge Q/K/V weights but no path to the output: magnitude keeps it, Taylor drops it."""
    attn = model.module.bert.encoder.layer[0].attention
    with torch.no_grad():
        for lin in (attn.self.query, attn.self.key, attn.self.value):
            lin.weight[:HEAD] *= 100
        attn.output.dense.weight[:, :HEAD] = 0
    marker = attn.self.query.weight[0].clone()
    by_magnitude = TECHNIQUES.get("prune_heads").apply(model.clone(), HeadsConfig(amount=0.25), ctx)
    by_taylor = TECHNIQUES.get("prune_heads").apply(model.clone(), HeadsConfig(amount=0.25, importance="taylor"), ctx)
    kept = lambda m: m.module.bert.encoder.layer[0].attention.self.query.weight  # noqa: E731
    assert torch.equal(kept(by_magnitude)[0], marker)
    assert not any(torch.equal(row, marker) for row in kept(by_taylor))
    assert [p.phase for p in ctx.phases] == ["calibrate"] and ctx.phases[0].samples == 40


def test_taylor_importance_needs_training_rows(model, ctx):
    ctx.train_data = None
    with pytest.raises(UserInputError, match="needs labelled training rows"):
        TECHNIQUES.get("prune_ffn_neurons").apply(model, FfnNeuronsConfig(importance="taylor"), ctx)


def test_per_layer_ffn_widths_reload_with_same_logits(model, ctx, tmp_path):
    out = TECHNIQUES.get("prune_ffn_neurons").apply(model, FfnNeuronsConfig(layer_amounts=(0.25, 0.75)), ctx)
    widths = [layer.intermediate.dense.out_features for layer in out.module.bert.encoder.layer]
    assert widths == [48, 16]
    batch = encode(ctx.tokenizer, TEXTS, 32)
    for again in reload_both_ways(out, tmp_path / "saved"):
        np.testing.assert_allclose(again.logits(batch), out.logits(batch), atol=1e-4)


def test_per_layer_amounts_must_match_the_layer_count(model, ctx):
    with pytest.raises(UserInputError, match="layer_amounts has 3 values but the model has 2 layers"):
        TECHNIQUES.get("prune_heads").apply(model, HeadsConfig(layer_amounts=(0.5, 0.5, 0.5)), ctx)
    with pytest.raises(UserInputError, match=r"must be in \[0, 1\)"):
        HeadsConfig(layer_amounts=(1.0, 0.0))


def test_uniform_ffn_pruning_needs_no_remote_code(model, ctx, tmp_path):
    out = TECHNIQUES.get("prune_ffn_neurons").apply(model, FfnNeuronsConfig(0.5), ctx)
    assert structure.describe(out.module) == {}
    out.save(tmp_path / "saved")
    assert not (tmp_path / "saved" / structure.REMOTE_FILE).exists()


def test_low_rank_model_reloads_with_plain_transformers(model, ctx, tmp_path):
    out = TECHNIQUES.get("lowrank_svd").apply(model, SvdConfig(targets="all", rank_fraction=0.25), ctx)
    spec = structure.describe(out.module)["linears"]
    assert spec["bert.encoder.layer.0.intermediate.dense"] == {"in": 32, "out": 64, "bias": True, "rank": 8}
    batch = encode(ctx.tokenizer, TEXTS, 32)
    for again in reload_both_ways(out, tmp_path / "saved"):
        np.testing.assert_allclose(again.logits(batch), out.logits(batch), atol=1e-4)


def test_pipeline_heads_then_layers_then_ffn_reloads(model, ctx, tmp_path):
    from wattcut.compress.prune_layers import LayersConfig

    out = TECHNIQUES.get("prune_heads").apply(model, HeadsConfig(layer_amounts=(0.5, 0.25)), ctx)
    out = TECHNIQUES.get("prune_layers").apply(out, LayersConfig(keep=(1,)), ctx)
    out = TECHNIQUES.get("prune_ffn_neurons").apply(out, FfnNeuronsConfig(0.5), ctx)
    assert out.module.bert.encoder.layer[0].attention.self.num_attention_heads == 3  # layer 1 kept 3 of 4
    batch = encode(ctx.tokenizer, TEXTS, 32)
    for again in reload_both_ways(out, tmp_path / "saved"):
        np.testing.assert_allclose(again.logits(batch), out.logits(batch), atol=1e-4)


def expected_tiny_bert_flops(seq, layers=2, hidden=32, ffn=64, heads_dim=32, labels=2):
    linear = 2 * seq * (3 * hidden * heads_dim + heads_dim * hidden + 2 * hidden * ffn)
    attention = 2 * 2 * seq * seq * heads_dim  # QK^T and AV
    return layers * (linear + attention) + 2 * hidden * hidden + 2 * hidden * labels  # + pooler, classifier


def test_flops_per_sequence_counts_what_runs(model, ctx):
    assert model.flops_per_sequence(16) == expected_tiny_bert_flops(16)
    pruned = TECHNIQUES.get("prune_ffn_neurons").apply(model.clone(), FfnNeuronsConfig(0.5), ctx)
    assert pruned.flops_per_sequence(16) == expected_tiny_bert_flops(16, ffn=32)
    heads = TECHNIQUES.get("prune_heads").apply(model.clone(), HeadsConfig(0.5), ctx)
    assert heads.flops_per_sequence(16) == expected_tiny_bert_flops(16, heads_dim=16)
    from wattcut.compress.prune_l1 import L1UnstructuredConfig

    sparse = TECHNIQUES.get("prune_l1_unstructured").apply(model.clone(), L1UnstructuredConfig(0.5), ctx)
    assert sparse.flops_per_sequence(16) == expected_tiny_bert_flops(16)  # dense kernels: nothing saved


def test_sparse_storage_halves_the_pruned_weights_on_disk_and_reloads_exactly(model, ctx, tmp_path):
    from wattcut.compress.prune_l1 import L1UnstructuredConfig
    from wattcut.models import folders, sparse

    dense = TECHNIQUES.get("prune_l1_unstructured").apply(model.clone(), L1UnstructuredConfig(0.5), ctx)
    packed = TECHNIQUES.get("prune_l1_unstructured").apply(
        model.clone(), L1UnstructuredConfig(0.5, storage="sparse"), ctx
    )
    fd, fs = dense.facts(ctx.workdir), packed.facts(ctx.workdir)
    assert fs.artifact.startswith("sparse") and fs.parameters == fd.parameters
    # the tiny model is mostly embeddings (dense either way); the pruned Linears shrink to ~2.125/4 bytes
    linear_bytes = sum(
        m.weight.numel() * 4 for m in dense.module.bert.encoder.modules() if isinstance(m, torch.nn.Linear)
    )
    assert fd.file_size_bytes - fs.file_size_bytes > 0.4 * linear_bytes
    packed.save(tmp_path / "saved")
    again, info = sparse.load(tmp_path / "saved")
    assert not [k for k in info["missing_keys"] if "weight" in k]
    batch = encode(ctx.tokenizer, TEXTS, 32)
    np.testing.assert_array_equal(TorchClassifier(again).logits(batch), packed.logits(batch))
    assert TorchClassifier(folders.load(tmp_path / "saved")).logits(batch).shape == (3, 2)
