"""Low-rank (SVD) factorization of Linear layers.

Each chosen Linear ``W`` (out x in) becomes two Linears ``B @ A`` with rank ``r``:
``A = S_r^{1/2} V_r^T`` (r x in), ``B = U_r S_r^{1/2}`` (out x r). It only saves
compute and memory when ``r < out*in/(out+in)``; layers where it would not are left
alone. Rank is set by ``rank_fraction`` of ``min(out, in)`` or by the smallest rank that
keeps ``energy`` of the squared singular values. Usually needs recovery fine-tuning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, fraction, technique
from wattcut.errors import UserInputError

# Layer-relative module names per target group (BERT-style naming: encoder.layer.N.<name>).
TARGETS = {
    "ffn": re.compile(r"\.layer\.\d+\.(intermediate|output)\.dense$"),
    "attention": re.compile(r"\.layer\.\d+\.attention\.(self\.(query|key|value)|output\.dense)$"),
    "all": re.compile(r"\.layer\.\d+\."),
}


@dataclass(frozen=True)
class SvdConfig:
    """Settings for ``lowrank_svd``.

    Attributes:
        targets: Which Linears: ``ffn``, ``attention`` or ``all`` encoder Linears.
        rank_fraction: Rank as a fraction of ``min(out, in)`` (ignored when ``energy`` is set).
        energy: Keep the smallest rank retaining this share of spectral energy (0-1).
    """

    targets: Literal["ffn", "attention", "all"] = "ffn"
    rank_fraction: float = 0.25
    energy: float | None = None
    version: int = 1

    def __post_init__(self) -> None:
        fraction('technique "lowrank_svd"', "rank_fraction", self.rank_fraction)
        if self.energy is not None:
            fraction('technique "lowrank_svd"', "energy", self.energy)


def _rank(s: Any, config: SvdConfig) -> int:
    import torch

    if config.energy is not None:
        share = torch.cumsum(s**2, 0) / (s**2).sum()
        return int(torch.searchsorted(share, torch.tensor(config.energy, dtype=share.dtype)).item()) + 1
    return max(1, round(config.rank_fraction * len(s)))


def factorize(linear: Any, rank: int) -> Any:
    """Two-Linear ``Sequential`` approximating ``linear`` at ``rank``."""
    import torch

    w = linear.weight.detach().double()
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    root = s[:rank].sqrt()
    first = torch.nn.Linear(w.shape[1], rank, bias=False)
    second = torch.nn.Linear(rank, w.shape[0], bias=linear.bias is not None)
    with torch.no_grad():
        first.weight.copy_((root[:, None] * vh[:rank]).to(linear.weight.dtype))
        second.weight.copy_((u[:, :rank] * root[None, :]).to(linear.weight.dtype))
        if linear.bias is not None:
            second.bias.copy_(linear.bias.detach())
    return torch.nn.Sequential(first, second)


@technique("lowrank_svd", SvdConfig, deterministic=True)
def apply(model: Any, config: SvdConfig, ctx: CompressContext) -> Any:
    """Replace Linear layers by two low-rank Linears from their SVD (rank by fraction or energy).

    Factorize the targeted Linears of ``model.module`` in place.
    """
    import torch

    pattern = TARGETS[config.targets]
    replaced = 0
    for name, module in list(model.module.named_modules()):
        if not isinstance(module, torch.nn.Linear) or not pattern.search(f".{name}"):
            continue
        out_f, in_f = module.weight.shape
        s = torch.linalg.svdvals(module.weight.detach().double())
        rank = _rank(s, config)
        if rank * (out_f + in_f) >= out_f * in_f:
            continue  # no saving at this rank
        parent_name, _, child = name.rpartition(".")
        setattr(model.module.get_submodule(parent_name), child, factorize(module, rank))
        replaced += 1
    if replaced == 0:
        raise UserInputError(
            f"lowrank_svd replaced no layer of {type(model.module).__name__} (targets {config.targets!r}).",
            "Lower rank_fraction or energy, or check that the model is a BERT-style encoder.",
        )
    return model
