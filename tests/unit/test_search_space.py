"""The search space of ``wattcut search``: every sampled point is a valid pipeline of registered techniques."""

import itertools

from wattcut.compress import TECHNIQUES, check_pipeline
from wattcut.runner.search import RUNTIMES, _steps, starting_points
from wattcut.settings import TechniqueStep


def _pipeline(params):
    steps = _steps(params)
    check_pipeline("candidate", tuple(TechniqueStep(n, TECHNIQUES.get(n).config_cls(**s)) for n, s in steps))
    return [n for n, _ in steps]


def test_every_point_of_the_space_is_a_valid_pipeline():
    for layers, heads, ffn, runtime, recover in itertools.product(
        [0, 1, 2], [0.0, 0.25, 0.5], [0.0, 0.25, 0.5], RUNTIMES, ["none", "finetune", "distill"]
    ):
        params = {
            "layers_drop": layers,
            "heads_amount": heads,
            "ffn_amount": ffn,
            "runtime": runtime,
            "threads": 1,
            "recover": recover,
            "recover_rows": 100,
        }
        names = _pipeline(params)
        pruned = bool(layers or heads or ffn)
        assert ("finetune" in names or "distill" in names) == (pruned and recover != "none")


def test_a_new_search_starts_from_the_unpruned_fast_runtimes():
    points = starting_points()
    assert [_pipeline(p) for p in points] == [
        ["ort_optimize", "ort_int8_dynamic"],
        ["ort_optimize"],
        ["ort_int8_static"],
    ]
    assert all(p["threads"] == 1 for p in points)
