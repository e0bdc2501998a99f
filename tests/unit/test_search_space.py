"""The search space of ``wattcut search`` comes from what techniques declare; every point is a valid pipeline."""

import itertools

import pytest

from wattcut.compress import TECHNIQUES, check_pipeline
from wattcut.runner.search_space import NONE, chain_label, space_for, starting_points, steps
from wattcut.settings import TechniqueStep


class Fixed:
    """An Optuna-trial stand-in that answers each categorical with a chosen index."""

    def __init__(self, pick):
        self.pick = pick

    def suggest_categorical(self, name, choices):
        return choices[self.pick(name, len(choices))]


def _pipeline(params, space):
    pipeline = steps(params, space, train_rows=100)
    check_pipeline("candidate", tuple(TechniqueStep(n, TECHNIQUES.get(n).config_cls(**s)) for n, s in pipeline))
    return pipeline


@pytest.mark.parametrize("kind", ["sequence-classifier", "causal-lm"])
def test_every_point_of_the_space_is_a_valid_pipeline_of_techniques_for_the_model_kind(kind):
    from wattcut.runner.search_space import suggest

    space = space_for(kind, None, (1, 2))
    assert space.chains, "every kind has runtimes to search"
    for name in (*space.prune, *space.recover, *(n for c in space.chains for n in c)):
        assert kind in TECHNIQUES.get(name).kinds  # nothing for another kind of model is proposed
    dims = 4 + len(space.prune)
    for combo in itertools.islice(itertools.product(range(6), repeat=dims), 0, None, 7):
        calls = iter(combo)
        params = suggest(Fixed(lambda name, n, calls=calls: next(calls, 0) % n), space)
        pipeline = _pipeline(params, space)
        pruned = any(TECHNIQUES.get(n).search.role == "prune" for n, _ in pipeline)
        recovered = any(TECHNIQUES.get(n).search.role == "recover" for n, _ in pipeline)
        assert recovered <= pruned  # recovery only after pruning
        for _, settings in pipeline:
            if "samples" in settings:
                assert settings["samples"] <= 100  # capped at the training rows


def test_the_decoder_space_is_the_gguf_types_the_lm_runtimes_and_the_study_threads():
    space = space_for("causal-lm", None, (2,))
    assert space.prune == () and space.recover == ()
    labels = {chain_label(c) for c in space.chains}
    assert {"gguf_quantize", "ov_weight_compress", "ort_genai", "pt_int8_dynamic", NONE} <= labels
    points = starting_points(space)
    gguf = sorted(p["gguf_quantize.type"] for p in points if p["runtime"] == "gguf_quantize")
    assert gguf == ["Q4_K_M", "Q8_0"] and all(p["threads"] == 2 for p in points)


def test_a_task_that_serves_only_pytorch_keeps_the_search_on_pytorch():
    space = space_for("causal-lm", {"pytorch"}, (2,))
    assert {chain_label(c) for c in space.chains} == {NONE, "pt_int8_dynamic"}


def test_a_new_encoder_search_starts_from_every_runtime_chain_unpruned_on_one_thread():
    space = space_for("sequence-classifier", None, (1, 2))
    points = starting_points(space)
    assert [[n for n, _ in _pipeline(p, space)] for p in points] == [list(c) for c in space.chains if c]
    assert ["ort_optimize", "ort_int8_dynamic"] in [list(c) for c in space.chains]  # declared: int8 follows fusion
    assert all(p["threads"] == 1 for p in points)
