"""Expand a study config into trials."""

from __future__ import annotations

from dataclasses import dataclass

from wattcut.settings import StudyConfig


@dataclass(frozen=True)
class TrialPlan:
    """One trial index of a study.

    The baseline is fine-tuned once with ``seed``; every variant of the trial is then
    derived from that fine-tuned model.

    Attributes:
        index: 0-based trial index.
        seed: Seed for everything random in this trial (head init, data order).
        variants: Variant names, baseline first.
    """

    index: int
    seed: int
    variants: tuple[str, ...]


def plan_trials(cfg: StudyConfig) -> list[TrialPlan]:
    """One :class:`TrialPlan` per trial, seeds ``seed, seed+1, ...``."""
    names = tuple(cfg.variant_names())
    return [TrialPlan(i, cfg.seed + i, names) for i in range(cfg.trials)]


def expected(cfg: StudyConfig) -> list[tuple[str, int]]:
    """Every (variant, trial_index) a complete study stores."""
    return [(v, t.index) for t in plan_trials(cfg) for v in t.variants]
