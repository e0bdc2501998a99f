"""Energy-regularized training: hard-concrete (L0) gates on heads and FFN groups, priced by measured cost.

Seed 004's "regularization term that penalizes energy", done as structured L0 training
(Louizos, Welling & Kingma 2018, "Learning Sparse Neural Networks through L0
Regularization"), with the Lagrangian that drives a gated model to a target size
(Wang, Wohlwend & Lei 2020; CoFi, Xia, Zhong & Chen 2022). The size here is *energy*:

- every attention head and every group of ``ffn_group`` FFN neurons of every layer gets a
  gate z in [0, 1], sampled from a hard-concrete distribution with a learned log_alpha
  while training, deterministic at evaluation; a forward pre-hook multiplies the block's
  output-projection input by it, so the model's code is untouched;
- a gate's price is what its block costs per request on this machine, from the measured
  cost profile (``models/cost.py``: seconds per head, per neuron); the expected energy
  ratio is (fixed work + sum of P(gate open) x price) / the baseline's predicted cost;
- the loss adds lambda (E - t)^2, where E is that expected ratio and t the target, annealed
  linearly from the model's starting ratio to ``budget`` over the first ``anneal`` fraction
  of the steps; lambda is trained by gradient *ascent*, a stiffness that grows for as long
  as the model is off its target. (The Lagrangian's linear term, lambda_1 (E - t), is left
  out on purpose: its multiplier winds up while the model is above the target and goes on
  closing gates long after it is below, overshooting the budget; the quadratic term's
  pull changes sign the moment E crosses t.)

:meth:`EnergyGates.finish` then removes the closed blocks physically: every gate whose
deterministic value is 0, and, if the prediction is still above the budget, the
lowest-scored open ones until it is not. Kept gates below 1 are folded into the output
projection's columns (W (z x) = (W z) x), so the pruned model computes what the gated
one did, and it saves and reloads like any structured-pruned model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wattcut.errors import UserInputError

BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1  # hard-concrete temperature and stretch (Louizos et al.)
INIT_LOG_ALPHA = 3.0  # P(open) ~ 0.99: training starts from the model as it is
UNITS = ("heads", "ffn")


@dataclass(frozen=True)
class GateSettings:
    """The energy-regularization settings that ``finetune`` and ``distill`` share (their configs inherit them).

    Attributes:
        energy_budget: Train L0 gates to this fraction of the baseline's predicted energy per request,
            then remove the closed heads and FFN groups (None = no energy penalty).
        gate_units: What the gates may close: ``heads``, ``ffn`` or both.
        ffn_group: FFN neurons per gate.
        anneal: Fraction of the steps over which the target falls from the start to the budget.
        gate_learning_rate: AdamW learning rate of the gates and (ascent) of the penalty's multiplier.
    """

    energy_budget: float | None = None
    gate_units: tuple[str, ...] = UNITS
    ffn_group: int = 32
    anneal: float = 0.5
    gate_learning_rate: float = 0.05

    @property
    def needs_cost_profile(self) -> bool:
        """An energy budget needs the study's measured cost profile."""
        return self.energy_budget is not None

    def check_gates(self, where: str) -> None:
        """Validate the settings (called from the config's ``__post_init__``)."""
        check_settings(where, self.energy_budget, self.gate_units, self.ffn_group, self.anneal, self.gate_learning_rate)


def check_settings(
    where: str, budget: float | None, units: tuple[str, ...], group: int, anneal: float, lr: float
) -> None:
    """Validate gate settings."""
    if budget is None:
        return
    if lr <= 0:
        raise UserInputError(f"{where}: gate_learning_rate = {lr} must be positive.", "Correct it.")
    if not 0.0 < budget < 1.0:
        raise UserInputError(f"{where}: energy_budget = {budget} must be between 0 and 1 (exclusive).", "Correct it.")
    bad = [u for u in units if u not in UNITS]
    if bad or not units:
        raise UserInputError(
            f'{where}: gate_units = {list(units)} must name "heads", "ffn" or both.', 'Write ["heads", "ffn"].'
        )
    if group < 1:
        raise UserInputError(f"{where}: ffn_group = {group} must be a positive neuron count.", "Correct it.")
    if not 0.0 < anneal <= 1.0:
        raise UserInputError(f"{where}: anneal = {anneal} must be in (0, 1].", "Correct it.")


def p_open(log_alpha: Any) -> Any:
    """P(z > 0) of a hard-concrete gate (Louizos et al., eq. 12)."""
    import torch

    return torch.sigmoid(log_alpha - BETA * math.log(-GAMMA / ZETA))


def gate_values(log_alpha: Any, training: bool) -> Any:
    """A sample of the stretched, clipped concrete gate while training; its deterministic value otherwise."""
    import torch

    if training:
        u = torch.rand_like(log_alpha).clamp(1e-6, 1.0 - 1e-6)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / BETA)
    else:
        s = torch.sigmoid(log_alpha)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


class EnergyGates:
    """Gates on one BERT-style encoder, their expected energy and the Lagrangian penalty (module docstring)."""

    def __init__(
        self,
        module: Any,
        profile: Any,
        budget: float,
        units: tuple[str, ...] = UNITS,
        ffn_group: int = 32,
        anneal: float = 0.5,
        learning_rate: float = 0.05,
        batch_size: int = 1,
        name: str = "finetune",
    ) -> None:
        import torch

        from wattcut.models.cost import structure_of
        from wattcut.models.surgery import attention_blocks, ffn_pairs

        self.module, self.budget, self.units, self.group, self.anneal, self.name = (
            module,
            budget,
            tuple(units),
            ffn_group,
            anneal,
            name,
        )
        self.blocks, self.pairs = attention_blocks(module), ffn_pairs(module)
        start = structure_of(module)
        if start is None or len(self.blocks) != len(self.pairs) or not self.blocks:
            raise UserInputError(
                f"{name} energy_budget needs BERT-style layers (attention.self + intermediate/output dense); "
                f"{type(module).__name__} does not have them.",
                "Leave energy_budget out for this model, or prune with prune_ffn_neurons / prune_layers.",
            )
        self.profile, self.batch_size = profile, batch_size
        self.coef = profile.at(batch_size)
        self.full_s = self.coef.predict_s(profile.full)
        self.start = start
        c = self.coef
        self.head_alpha = [
            torch.nn.Parameter(torch.full((h,), INIT_LOG_ALPHA)) if "heads" in units else None for h in start.heads
        ]
        self.ffn_alpha = [
            torch.nn.Parameter(torch.full((math.ceil(n / ffn_group),), INIT_LOG_ALPHA)) if "ffn" in units else None
            for n in start.ffn
        ]
        self.group_sizes = [
            torch.tensor(
                [min(ffn_group, n - g * ffn_group) for g in range(math.ceil(n / ffn_group))], dtype=torch.float
            )
            for n in start.ffn
        ]
        # What no gate can remove: embeddings/head, each layer's fixed work, and the ungated unit kind.
        self.fixed_s = c.base_s + start.layers * c.layer_s
        if "heads" not in units:
            self.fixed_s += sum(start.heads) * c.head_s
        if "ffn" not in units:
            self.fixed_s += sum(start.ffn) * c.neuron_s
        floor_s = self.fixed_s + start.layers * (
            (c.head_s if "heads" in units else 0) + (c.neuron_s if "ffn" in units else 0)
        )
        if floor_s > budget * self.full_s:
            raise UserInputError(
                f"{name}: energy_budget = {budget} cannot be reached by gating {' and '.join(units)} (at least "
                f"{floor_s / self.full_s:.0%} of the baseline's predicted energy stays: the layers' fixed work).",
                "Raise energy_budget, gate both heads and ffn, or remove layers first with prune_layers.",
            )
        self.stiffness = torch.nn.Parameter(torch.zeros(()))
        self.last = (0.0, 0.0)  # (E - t, lambda) of the latest step
        gates = [p for p in (*self.head_alpha, *self.ffn_alpha) if p is not None]
        self.gate_opt = torch.optim.AdamW(gates, lr=learning_rate, weight_decay=0.0)
        self.lambda_opt = torch.optim.AdamW([self.stiffness], lr=learning_rate, weight_decay=0.0, maximize=True)
        self.start_ratio = float(self.expected_ratio().detach())
        self.hooks = []
        for layer, (_, attn, output) in enumerate(self.blocks):
            if self.head_alpha[layer] is not None:
                self.hooks.append(
                    output.dense.register_forward_pre_hook(self._head_hook(layer, attn.attention_head_size))
                )
        for layer, (_, out) in enumerate(self.pairs):
            if self.ffn_alpha[layer] is not None:
                self.hooks.append(out.register_forward_pre_hook(self._ffn_hook(layer)))

    def _head_hook(self, layer: int, size: int) -> Any:
        def hook(mod: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
            z = gate_values(self.head_alpha[layer], mod.training).repeat_interleave(size)
            return (args[0] * z, *args[1:])

        return hook

    def _ffn_hook(self, layer: int) -> Any:
        def hook(mod: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
            z = gate_values(self.ffn_alpha[layer], mod.training)
            z = z.repeat_interleave(self.group_sizes[layer].long())
            return (args[0] * z, *args[1:])

        return hook

    def expected_ratio(self) -> Any:
        """Expected predicted energy per request under the gates, as a fraction of the baseline's (differentiable)."""
        import torch

        s = torch.tensor(self.fixed_s)
        for la in self.head_alpha:
            if la is not None:
                s = s + p_open(la).sum() * self.coef.head_s
        for la, sizes in zip(self.ffn_alpha, self.group_sizes, strict=True):
            if la is not None:
                s = s + (p_open(la) * sizes).sum() * self.coef.neuron_s
        return s / self.full_s

    def target(self, step: int, total: int) -> float:
        """The annealed target ratio at ``step`` of ``total``: from the starting ratio down to the budget."""
        progress = min(1.0, step / max(1.0, self.anneal * total))
        return self.start_ratio - (self.start_ratio - self.budget) * progress

    def penalty(self, step: int, total: int) -> Any:
        """Lambda (E - t)^2, added to the training loss."""
        d = self.expected_ratio() - self.target(step, total)
        self.last = (float(d.detach()), float(self.stiffness.detach()))
        return self.stiffness * d * d

    def step(self) -> None:
        """One step of the gates (descent) and of the multipliers (ascent), after ``loss.backward()``."""
        self.gate_opt.step()
        self.lambda_opt.step()
        self.gate_opt.zero_grad(set_to_none=True)
        self.lambda_opt.zero_grad(set_to_none=True)

    def finish(self) -> dict[str, Any]:
        """Remove closed blocks physically, fold kept gates into the weights, drop the hooks; returns what was done."""
        import torch

        from wattcut.models.cost import structure_of
        from wattcut.models.surgery import slice_ffn, slice_heads

        expected = float(self.expected_ratio().detach())
        c = self.coef
        # (log_alpha, kind, layer, gate index, price, deterministic z), every gated unit
        units: list[tuple[float, str, int, int, float, float]] = []
        with torch.no_grad():
            for layer, la in enumerate(self.head_alpha):
                if la is not None:
                    for i, (a, z) in enumerate(zip(la.tolist(), gate_values(la, False).tolist(), strict=True)):
                        units.append((a, "heads", layer, i, c.head_s, z))
            for layer, la in enumerate(self.ffn_alpha):
                if la is not None:
                    zs = gate_values(la, False).tolist()
                    for i, (a, z) in enumerate(zip(la.tolist(), zs, strict=True)):
                        units.append((a, "ffn", layer, i, float(self.group_sizes[layer][i]) * c.neuron_s, z))
        now_s = self.fixed_s + sum(u[4] for u in units)
        closed: set[tuple[str, int, int]] = set()
        left = {("heads", layer): len(la) for layer, la in enumerate(self.head_alpha) if la is not None}
        left |= {("ffn", layer): len(la) for layer, la in enumerate(self.ffn_alpha) if la is not None}
        forced = 0
        for _, kind, layer, i, price, z in sorted(units):  # lowest log_alpha first
            shut = z == 0.0
            if not shut and now_s <= self.budget * self.full_s:
                continue
            if left[(kind, layer)] <= 1:  # a layer keeps at least one head and one FFN group
                continue
            closed.add((kind, layer, i))
            left[(kind, layer)] -= 1
            now_s -= price
            forced += 0 if shut else 1
        for hook in self.hooks:
            hook.remove()
        self.hooks = []
        with torch.no_grad():
            for layer, (_, attn, output) in enumerate(self.blocks):
                la = self.head_alpha[layer]
                if la is None:
                    continue
                size = attn.attention_head_size
                output.dense.weight.mul_(gate_values(la, False).repeat_interleave(size)[None, :])
                kept = [i for i in range(len(la)) if ("heads", layer, i) not in closed]
                if len(kept) < len(la):
                    slice_heads(attn, output, torch.tensor(kept))
            for layer, (inter, out) in enumerate(self.pairs):
                la = self.ffn_alpha[layer]
                if la is None:
                    continue
                sizes = self.group_sizes[layer].long()
                out.weight.mul_(gate_values(la, False).repeat_interleave(sizes)[None, :])
                groups = [g for g in range(len(la)) if ("ffn", layer, g) not in closed]
                if len(groups) < len(la):
                    starts = [g * self.group for g in groups]
                    index = torch.cat([torch.arange(s, s + int(sizes[g])) for s, g in zip(starts, groups, strict=True)])
                    slice_ffn(self.module, inter, out, index)
        after = structure_of(self.module)
        assert after is not None  # the layers were found in __init__
        self.module.config.intermediate_size = max(after.ffn)
        ratio = self.profile.ratio(after, self.batch_size)
        return {
            "energy_budget": self.budget,
            "gate_units": list(self.units),
            "ffn_group": self.group,
            "start_ratio": self.start_ratio,
            "expected_ratio_at_end": expected,
            "predicted_ratio": ratio,
            "closed_by_gates": len(closed) - forced,
            "closed_to_meet_budget": forced,
            "structure": after.to_dict(),
        }
