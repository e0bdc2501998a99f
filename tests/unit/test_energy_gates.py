"""Energy-regularized training: hard-concrete gates priced by the cost profile, on the tiny BERT."""

import numpy as np
import pytest
import torch

from tests.unit.test_energy_aware import synthetic_profile
from tests.unit.test_structured import TEXTS, ctx, model, reload_both_ways  # noqa: F401  (fixtures)
from wattcut.compress import TECHNIQUES
from wattcut.compress.distill import DistillConfig
from wattcut.compress.energy_gates import EnergyGates, gate_values, p_open
from wattcut.compress.finetune import FinetuneConfig
from wattcut.errors import UserInputError
from wattcut.models import cost
from wattcut.tasks.sequence_classification import encode


def test_hard_concrete_gate_matches_its_closed_form():
    la = torch.tensor([-4.0, 0.0, 4.0])
    det = gate_values(la, training=False)
    assert det[0] == 0.0 and det[2] == 1.0 and 0.0 < det[1] < 1.0
    torch.manual_seed(0)
    samples = torch.stack([gate_values(la, training=True) for _ in range(20000)])
    # P(z > 0) of the stretched, clipped concrete distribution (Louizos et al. eq. 12), by sampling
    np.testing.assert_allclose((samples > 0).float().mean(0).numpy(), p_open(la).detach().numpy(), atol=0.01)


def test_expected_ratio_prices_each_gate_by_its_measured_cost(model):  # noqa: F811
    full = cost.structure_of(model.module)  # 2 layers x (4 heads, 64 neurons)
    profile = synthetic_profile(full, head_s=1e-4, neuron_s=1e-5, layer_s=1e-4, base_s=1e-4)
    gates = EnergyGates(model.module, profile, 0.5, ffn_group=16)
    with torch.no_grad():
        for la in (*gates.head_alpha, *gates.ffn_alpha):
            la.fill_(50.0)  # every gate surely open: the full model's cost
    assert float(gates.expected_ratio().detach()) == pytest.approx(1.0, rel=1e-6)
    with torch.no_grad():
        gates.head_alpha[0][:2] = -50.0  # two heads of layer 1 surely closed
        gates.ffn_alpha[1][:1] = -50.0  # one group of 16 neurons of layer 2 surely closed
    full_s = profile.at(1).predict_s(full)
    assert float(gates.expected_ratio().detach()) == pytest.approx(1.0 - (2 * 1e-4 + 16 * 1e-5) / full_s, rel=1e-5)


def test_finish_folds_the_gates_exactly_and_removes_closed_blocks(model, ctx, tmp_path):  # noqa: F811
    full = cost.structure_of(model.module)
    gates = EnergyGates(model.module, synthetic_profile(full), 0.9, ffn_group=16)
    torch.manual_seed(1)
    with torch.no_grad():
        for la in (*gates.head_alpha, *gates.ffn_alpha):
            la.copy_(torch.randn_like(la) * 3)  # a mix of closed, partly open and open gates
    batch = encode(ctx.tokenizer, TEXTS, 32)
    gated = model.logits(batch)  # eval mode: deterministic gates through the hooks
    closed = sum(int((gate_values(la, False) == 0).sum()) for la in (*gates.head_alpha, *gates.ffn_alpha))
    assert closed > 0
    plan = gates.finish()
    assert plan["closed_to_meet_budget"] == 0 or plan["predicted_ratio"] <= 0.9
    after = cost.structure_of(model.module)
    assert sum(after.heads) + sum(after.ffn) < sum(full.heads) + sum(full.ffn)
    np.testing.assert_allclose(model.logits(batch), gated, atol=1e-5)  # the pruned model computes the gated one
    for again in reload_both_ways(model, tmp_path / "saved"):
        np.testing.assert_array_equal(again.logits(batch), model.logits(batch))


@pytest.mark.parametrize("technique", ["finetune", "distill"])
def test_energy_regularized_training_reaches_its_budget_and_reloads(model, ctx, tmp_path, technique):  # noqa: F811
    full = cost.structure_of(model.module)
    profile = synthetic_profile(full, head_s=2e-4, neuron_s=1e-5, layer_s=1e-4, base_s=1e-4)
    ctx.cost_profile = lambda: profile
    ctx.teacher = model.clone()
    settings = {"energy_budget": 0.6, "ffn_group": 8, "gate_learning_rate": 0.2, "batch_size": 8, "epochs": 6}
    config = (
        FinetuneConfig(**settings, learning_rate=1e-4)
        if technique == "finetune"
        else DistillConfig(**settings, min_teacher_margin=-1.0)
    )
    out = TECHNIQUES.get(technique).apply(model, config, ctx)
    plan = out.notes[technique]
    ratio = profile.ratio(cost.structure_of(out.module))
    assert ratio == pytest.approx(plan["predicted_ratio"])
    assert 0.55 <= ratio <= 0.6 + 1e-9  # within 5% of the budget, from below
    assert plan["expected_ratio_at_end"] < 0.8  # the penalty, not only the final cut, moved the gates
    batch = encode(ctx.tokenizer, TEXTS, 32)
    for again in reload_both_ways(out, tmp_path / "saved"):
        np.testing.assert_array_equal(again.logits(batch), out.logits(batch))


def test_unreachable_energy_budget_is_a_clear_error(model, ctx):  # noqa: F811
    full = cost.structure_of(model.module)
    ctx.cost_profile = lambda: synthetic_profile(full, layer_s=1.0)  # fixed work dominates
    with pytest.raises(UserInputError, match="cannot be reached"):
        TECHNIQUES.get("finetune").apply(model, FinetuneConfig(energy_budget=0.5), ctx)


def test_gate_settings_are_validated():
    with pytest.raises(UserInputError, match="gate_units"):
        FinetuneConfig(energy_budget=0.5, gate_units=("layers",))
    with pytest.raises(UserInputError, match="energy_budget"):
        DistillConfig(energy_budget=1.5)
    assert FinetuneConfig(energy_budget=0.5).needs_cost_profile and not FinetuneConfig().needs_cost_profile
