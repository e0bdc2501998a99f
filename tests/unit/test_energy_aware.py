"""Cost profile (fit, prediction, cache key) and pruning to an energy budget, on the tiny BERT."""

import numpy as np
import pytest

from tests.unit.test_structured import ctx, model, reload_both_ways  # noqa: F401  (fixtures)
from wattcut.compress import TECHNIQUES
from wattcut.compress.prune_budget import PruneBudgetConfig
from wattcut.compress.prune_heads import HeadsConfig
from wattcut.compress.prune_layers import LayersConfig
from wattcut.errors import UserInputError
from wattcut.models import cost
from wattcut.models.cost import Coefficients, CostProfile, Structure


def synthetic_profile(full, head_s=1e-4, neuron_s=1e-5, layer_s=1e-4, base_s=1e-4):
    c = Coefficients(1, base_s, layer_s, head_s, neuron_s, r2=1.0, max_rel_error=0.0)
    return CostProfile("test cpu", 1, "pytorch", 10.0, full, (c,), ())


def test_structure_of_reads_heads_and_ffn_per_layer(model):  # noqa: F811
    assert cost.structure_of(model.module) == Structure((4, 4), (64, 64))


def test_design_model_keeps_the_asked_fractions_and_leaves_the_original(model):  # noqa: F811
    m = cost.design_model(model, 0.5, 0.5, 0.25)
    assert cost.structure_of(m.module) == Structure((2,), (16,))
    assert cost.structure_of(model.module) == Structure((4, 4), (64, 64))


def test_measured_profile_fits_its_design_points_and_round_trips(model, ctx):  # noqa: F811
    texts = ["a charming and often affecting journey", "bleak", "uneasy mishmash of styles"] * 4
    p = cost.measure(model, ctx.tokenizer, texts, 16, threads=1, batch_sizes=(1, 4), requests=4, rounds=1)
    assert [c.batch_size for c in p.coefficients] == [1, 4]
    assert len(p.points) == 2 * len(cost.DESIGN)
    assert p.ratio(p.full, 1) == pytest.approx(1.0)
    assert cost.CostProfile.from_dict(p.to_dict()) == p
    for point in p.points:  # the stored fit is the coefficients' prediction, recomputable
        s = Structure(tuple(point["structure"]["heads"]), tuple(point["structure"]["ffn"]))
        assert p.at(point["batch_size"]).predict_s(s) == pytest.approx(point["fit_s_per_request"])


def test_profile_key_changes_with_threads_and_lengths(model):  # noqa: F811
    a = cost.profile_key(model.module, 1, (1,), [5, 6])
    assert a == cost.profile_key(model.module, 1, (1,), [5, 6])
    assert a != cost.profile_key(model.module, 2, (1,), [5, 6])
    assert a != cost.profile_key(model.module, 1, (1,), [5, 7])


@pytest.mark.parametrize("aware", [True, False])
def test_prune_to_budget_reaches_the_budget_and_reloads(model, ctx, tmp_path, aware):  # noqa: F811
    full = cost.structure_of(model.module)
    profile = synthetic_profile(full)
    ctx.cost_profile = lambda: profile
    out = TECHNIQUES.get("prune_to_budget").apply(
        model.clone(), PruneBudgetConfig(budget=0.7, importance="magnitude", energy_aware=aware), ctx
    )
    after = cost.structure_of(out.module)
    ratio = profile.ratio(after)
    assert 0.7 - profile.at(1).head_s / profile.at(1).predict_s(full) < ratio <= 0.7
    assert out.notes["prune_to_budget"]["predicted_ratio"] == pytest.approx(ratio)
    plain, ours = reload_both_ways(out, tmp_path / "m")
    batch = {k: v for k, v in ctx.tokenizer(["a fine film"], return_tensors="np").items()}
    batch = {k: v.astype(np.int64) for k, v in batch.items()}
    np.testing.assert_allclose(plain.logits(batch), out.logits(batch), atol=1e-5)


def test_energy_aware_ranking_prefers_the_costly_unit(model, ctx):  # noqa: F811
    """Neurons cost next to nothing: energy-aware removes heads only; importance alone strips neurons first."""
    full = cost.structure_of(model.module)
    profile = synthetic_profile(full, head_s=1e-3, neuron_s=1e-7)
    ctx.cost_profile = lambda: profile
    cfg = dict(budget=0.8, importance="magnitude")
    aware = TECHNIQUES.get("prune_to_budget").apply(model.clone(), PruneBudgetConfig(**cfg), ctx)
    blind = TECHNIQUES.get("prune_to_budget").apply(model.clone(), PruneBudgetConfig(**cfg, energy_aware=False), ctx)
    s_aware, s_blind = cost.structure_of(aware.module), cost.structure_of(blind.module)
    assert s_aware.ffn == (64, 64) and sum(s_aware.heads) < 8
    assert sum(s_blind.ffn) < 128 and sum(s_blind.heads) >= sum(s_aware.heads)


def test_an_unreachable_budget_says_what_to_do(model, ctx):  # noqa: F811
    profile = synthetic_profile(cost.structure_of(model.module), layer_s=1.0)  # fixed work dominates
    ctx.cost_profile = lambda: profile
    with pytest.raises(UserInputError, match="cannot be reached"):
        TECHNIQUES.get("prune_heads").apply(model.clone(), HeadsConfig(energy_budget=0.5), ctx)


def test_layer_budget_drops_whole_layers(model, ctx):  # noqa: F811
    profile = synthetic_profile(cost.structure_of(model.module), base_s=0.0)
    ctx.cost_profile = lambda: profile
    out = TECHNIQUES.get("prune_layers").apply(model.clone(), LayersConfig(energy_budget=0.6), ctx)
    assert cost.structure_of(out.module).layers == 1
    assert out.notes["prune_layers"]["predicted_ratio"] == pytest.approx(0.5)


def test_budget_settings_are_checked():
    with pytest.raises(UserInputError, match="budget"):
        PruneBudgetConfig(budget=1.5)
    with pytest.raises(UserInputError, match="units"):
        PruneBudgetConfig(units=("layers",))  # type: ignore[arg-type]
    assert HeadsConfig(energy_budget=0.5).needs_cost_profile and not HeadsConfig().needs_cost_profile
