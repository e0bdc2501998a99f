"""early_exit: exits trained in a metered window, stopping rule, per-row depths, sweep, save/reload."""

import numpy as np
import pytest

from tests.unit.test_structured import ctx, model  # noqa: F401  (fixtures)
from wattcut.compress import TECHNIQUES
from wattcut.compress.early_exit import EarlyExitConfig
from wattcut.errors import UserInputError
from wattcut.runtimes.early_exit import EarlyExitClassifier, sweep
from wattcut.tasks.sequence_classification import encode

TEXTS = ["a charming and often affecting journey", "bleak", "uneasy mishmash of styles and genres ."]


def exited(model, ctx, **kw):  # noqa: F811
    return TECHNIQUES.get("early_exit").apply(model.clone(), EarlyExitConfig(epochs=2, **kw), ctx)


def test_threshold_one_runs_every_layer_and_matches_the_model(model, ctx):  # noqa: F811
    h = exited(model, ctx, threshold=1.0)
    batch = encode(ctx.tokenizer, TEXTS, 16)
    np.testing.assert_allclose(h.logits(batch), model.logits(batch), atol=1e-5)
    assert h.depth_log == [2, 2, 2]
    assert [p.phase for p in ctx.phases] == ["train"] and ctx.phases[0].samples > 0


def test_a_low_threshold_stops_every_row_at_the_first_exit_with_its_logits(model, ctx):  # noqa: F811
    h = exited(model, ctx, threshold=0.01)
    batch = encode(ctx.tokenizer, TEXTS, 16)
    out = h.logits(batch)
    assert h.depth_log == [1, 1, 1]
    np.testing.assert_allclose(out, h.exit_logits(batch)[:, 0], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_rows_leave_the_batch_independently(model, ctx, pooling):  # noqa: F811
    """A mixed batch gives each row the logits it gets alone, at its own depth."""
    h = exited(model, ctx, threshold=0.5, pooling=pooling)
    z = h.exit_logits(encode(ctx.tokenizer, TEXTS, 16))
    p = np.exp(z[:, 0]) / np.exp(z[:, 0]).sum(-1, keepdims=True)
    h.threshold = float(np.median(p.max(-1)))  # some rows exit at layer 1, some do not
    batch = encode(ctx.tokenizer, TEXTS, 16)
    together = h.logits(batch)
    depths = list(h.depth_log)
    assert set(depths) == {1, 2}
    for i in range(len(TEXTS)):
        h.depth_log.clear()
        alone = h.logits({k: v[i : i + 1] for k, v in batch.items()})
        np.testing.assert_allclose(alone[0], together[i], atol=1e-4)
        assert h.depth_log == [depths[i]]


def test_sweep_counts_depths_and_accuracy():
    # two items, one exit after layer 1 of 2; item 0 confident at the exit, item 1 not
    z = np.array([[[4.0, 0.0], [0.0, 1.0]], [[0.1, 0.0], [0.0, 3.0]]])
    rows = sweep(z, np.array([0, 1]), [1], 2, "max_prob", (0.9, 1.0), per_item=True)
    assert rows[0]["depths"] == [1, 2] and rows[0]["accuracy"] == 1.0 and rows[0]["mean_depth"] == 1.5
    assert rows[1]["depths"] == [2, 2] and rows[1]["accuracy"] == 0.5


def test_saved_model_reloads_with_the_same_exits(model, ctx, tmp_path):  # noqa: F811
    h = exited(model, ctx, threshold=0.6)
    h.save(tmp_path / "m")
    again = EarlyExitClassifier.from_folder(tmp_path / "m")
    batch = encode(ctx.tokenizer, TEXTS, 16)
    np.testing.assert_allclose(again.exit_logits(batch), h.exit_logits(batch), atol=1e-5)
    assert (again.exits, again.threshold, again.pooling) == (h.exits, h.threshold, h.pooling)
    facts = h.facts(tmp_path)
    assert facts.parameters > sum(p.numel() for p in model.module.parameters())


def test_settings_are_checked():
    with pytest.raises(UserInputError, match="threshold"):
        EarlyExitConfig(threshold=1.5)
    with pytest.raises(UserInputError, match="criterion"):
        EarlyExitConfig(criterion="margin")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="below the model"):
        TECHNIQUES.get("early_exit").layers_after(EarlyExitConfig(exits=(2,)), 2)


def median_threshold(h, batch):
    """A threshold at which some rows exit at layer 1 and some do not."""
    z = h.exit_logits(batch)
    p = np.exp(z[:, 0]) / np.exp(z[:, 0]).sum(-1, keepdims=True)
    return float(np.median(p.max(-1)))


def test_onnx_segments_compute_what_pytorch_does_row_by_row(model, ctx, tmp_path):  # noqa: F811
    from wattcut.runtimes.ort_early_exit import OrtEarlyExitClassifier, export_segments

    h = exited(model, ctx, threshold=0.5)
    batch = encode(ctx.tokenizer, TEXTS, 16)
    h.threshold = median_threshold(h, batch)
    paths = export_segments(h, tmp_path / "seg")
    assert [p.name for p in paths] == ["segment-0.onnx", "segment-1.onnx"]  # one exit: two segments
    o = OrtEarlyExitClassifier(paths, h.input_names, h.exits, h.n_layers, h.threshold, h.criterion, 1, "fp32")
    np.testing.assert_allclose(o.exit_logits(batch), h.exit_logits(batch), atol=1e-4)
    np.testing.assert_allclose(o.logits(batch), h.logits(batch), atol=1e-4)
    assert o.depth_log == h.depth_log and set(o.depth_log) == {1, 2}


def test_int8_after_early_exit_quantizes_each_segment_and_reloads(model, ctx, tmp_path):  # noqa: F811
    from wattcut.compress.ort_int8 import OrtInt8DynamicConfig
    from wattcut.runtimes.ort_early_exit import OrtEarlyExitClassifier

    h = exited(model, ctx, threshold=0.01)
    q = TECHNIQUES.get("ort_int8_dynamic").apply(h, OrtInt8DynamicConfig(), ctx)
    assert isinstance(q, OrtEarlyExitClassifier) and q.precision == "int8-dynamic"
    batch = encode(ctx.tokenizer, TEXTS, 16)
    q.logits(batch)
    assert q.depth_log == [1, 1, 1]  # every row stops at the first exit
    facts = q.facts(tmp_path)
    assert facts.runtime == "onnxruntime" and "2 onnx segments" in facts.artifact
    again = OrtEarlyExitClassifier.from_folder(q.save(tmp_path / "saved"), threads=1)
    np.testing.assert_array_equal(again.exit_logits(batch), q.exit_logits(batch))


def test_steps_that_would_drop_the_exits_are_refused():
    from wattcut.compress import check_pipeline
    from wattcut.settings import TechniqueStep

    def step(name):
        return TechniqueStep(name, TECHNIQUES.get(name).config_cls())

    check_pipeline("ok", (step("prune_heads"), step("early_exit"), step("ort_int8_dynamic")))
    with pytest.raises(UserInputError, match="would drop the exit heads"):
        check_pipeline("bad", (step("early_exit"), step("prune_heads")))
