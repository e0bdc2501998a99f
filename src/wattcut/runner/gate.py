"""``wattcut gate``: measure a candidate against a reference on this machine until the evidence decides.

The reference is a finished study (its folder, or a committed ``results.json``): its ``[model]`` is the reference
model and its primary task the quality test. The candidate is one variant: a variant of that study by name (any
pipeline), a model folder used as it is, or an unchanged copy; ``threads`` overrides its serving threads (a
deployment change). The gate runs them as a study of its own into ``out`` with the same runner as ``wattcut run``
(one trial at a time, each ``rounds`` interleaved paired rounds) and asks after each trial whether the decision
is made (:mod:`wattcut.stats.gate`); it stops there, or when the round budget is spent.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError, VariantsFailedError
from wattcut.settings import BASELINE, ModelConfig, StudyConfig, VariantConfig
from wattcut.stats.gate import GateDecision, decide
from wattcut.store.records import Results

CANDIDATE = "candidate"


@dataclass(frozen=True)
class GateConfig:
    """What to compare and how sure to be.

    Attributes:
        energy_margin: Relative energy increase tolerated (0.10: the candidate may cost up to 10% more per request).
        quality_margin: Non-inferiority margin of the primary metric (None: the reference study's).
        min_rounds: Paired rounds before any decision.
        max_rounds: The round budget: beyond it, an undecided gate is inconclusive.
        rounds_per_trial: Interleaved paired rounds in each trial (each trial also re-checks quality).
        task: The task the reference must have been scored on (None: any), e.g. ``sequence_classification``.
        metric: The primary metric it must have been decided on (None: any), e.g. ``accuracy``.
    """

    energy_margin: float = 0.10
    quality_margin: float | None = None
    min_rounds: int = 6
    max_rounds: int = 30
    rounds_per_trial: int = 6
    task: str | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.energy_margin < 10) or math.isnan(self.energy_margin):
            raise UserInputError(
                f"--energy-margin {self.energy_margin} is not a relative margin.", "Give e.g. 0.1 for 10%."
            )
        if self.quality_margin is not None and not (0 <= self.quality_margin < 1e6):
            raise UserInputError(f"--quality-margin {self.quality_margin} is not valid.", "Give 0 or more.")
        if not 2 <= self.min_rounds <= self.max_rounds:
            raise UserInputError(
                f"--min-rounds {self.min_rounds} and --max-rounds {self.max_rounds} do not make a budget.",
                "Give 2 <= min-rounds <= max-rounds.",
            )
        if not 2 <= self.rounds_per_trial <= self.max_rounds:
            raise UserInputError(
                f"--rounds-per-trial {self.rounds_per_trial} is not valid.", "Give 2 or more, at most --max-rounds."
            )


def reference_config(reference: Results, gate: GateConfig) -> StudyConfig:
    """The reference study's config, checked against what the gate expects (task, metric)."""
    from wattcut.experiment import parse_experiment
    from wattcut.settings import to_doc

    spec = reference.metric_spec or {}
    task = (reference.trials[0].task if reference.trials else None) or "sequence_classification"
    if gate.task is not None and gate.task != task:
        raise UserInputError(
            f'The reference study "{reference.study}" was scored on task "{task}", not "{gate.task}".',
            "Give a reference study of the same task (or drop --task).",
        )
    if gate.metric is not None and gate.metric != spec.get("key"):
        raise UserInputError(
            f'The reference study "{reference.study}" decided on "{spec.get("key")}", not "{gate.metric}".',
            f"Give a reference study whose primary metric is {gate.metric} (or drop --metric).",
        )
    if not reference.trials:
        raise UserInputError(f'The reference study "{reference.study}" has no finished trial.', "Finish it first.")
    try:
        return parse_experiment(to_doc(reference.config), f"the reference study {reference.study}")
    except (KeyError, TypeError) as e:
        raise UserInputError(
            f"The reference study's config cannot be read back ({e}).", "Run the reference with this wattcut version."
        ) from None


def candidate_variant(cfg: StudyConfig, variant: str | None, model: str | None, threads: int | None) -> VariantConfig:
    """The candidate: a variant of the reference study, a model folder as it is, or an unchanged copy."""
    if variant is not None and model is not None:
        raise UserInputError("Give the candidate as --variant or --model, not both.", "Keep one.")
    if variant is not None:
        found = next((v for v in cfg.variants if v.name == variant), None)
        if found is None:
            from wattcut.errors import did_you_mean

            names = [v.name for v in cfg.variants]
            raise UserInputError(
                f'The reference study has no variant "{variant}".{did_you_mean(variant, names)}',
                f"Choose one of: {', '.join(names) or '(none)'}; or give --model PATH.",
            )
        chosen = dataclasses.replace(found, name=CANDIDATE)
    elif model is not None:
        path = Path(model)
        if not (path / "config.json").is_file():
            raise UserInputError(
                f'The candidate model "{model}" is not a model folder (no config.json).',
                "Give the folder model.save_pretrained() wrote.",
            )
        _same_labels(cfg.model, path)
        own = dataclasses.replace(cfg.model, name_or_path=str(path), package=None, subdir="", already_trained=True)
        chosen = VariantConfig(name=CANDIDATE, techniques=(), model=own)
    else:
        chosen = VariantConfig(name=CANDIDATE, techniques=())  # an unchanged copy: the control
    return dataclasses.replace(chosen, threads=threads) if threads is not None else chosen


def _labels(folder: Path) -> dict[str, str] | None:
    try:
        doc = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in (doc.get("id2label") or {}).items()} or None


def _same_labels(reference: ModelConfig, candidate: Path) -> None:
    """A candidate classifier must predict the reference's labels, or item-level pairing compares nothing."""
    if reference.name_or_path is None or not Path(reference.name_or_path).is_dir():
        return  # a packaged or hub reference: its labels are checked by the task when both load
    ref, cand = _labels(Path(reference.name_or_path)), _labels(candidate)
    if ref is not None and cand is not None and ref != cand:
        raise UserInputError(
            f'The candidate model "{candidate}" has labels {cand}; the reference model has {ref}.',
            "Give a candidate trained for the same labels (same id2label), or relabel its config.json.",
        )


def gate_study(cfg: StudyConfig, candidate: VariantConfig, gate: GateConfig, out: Path) -> StudyConfig:
    """The study the gate runs: the reference model and the candidate, rounds in trials, no extras."""
    from wattcut.settings_measure import ExplainConfig

    trials = math.ceil(gate.max_rounds / gate.rounds_per_trial)
    evaluate = cfg.evaluate
    if gate.quality_margin is not None:
        evaluate = dataclasses.replace(evaluate, quality_margin=gate.quality_margin)
    return dataclasses.replace(
        cfg,
        name=f"gate: {cfg.name}",
        variants=(candidate,),
        trials=trials,
        out=str(out),
        evaluate=evaluate,
        infer=dataclasses.replace(cfg.infer, rounds=gate.rounds_per_trial),
        explain=ExplainConfig(samples=0),
    )


def run_gate(cfg: StudyConfig, gate: GateConfig, out: Path) -> tuple[GateDecision, Results]:
    """Run the gate study into ``out`` until decided or out of budget; the decision and the study's results."""
    from wattcut.report.build import build_results
    from wattcut.runner.execute import run_study
    from wattcut.store import Store

    def decided(store: Store) -> bool:
        stats = build_results(store).statistics
        d = decide(stats, CANDIDATE, gate.energy_margin)
        pairs = d.energy.n_pairs
        return pairs >= gate.max_rounds or (pairs >= gate.min_rounds and d.verdict != "inconclusive")

    failed = None
    try:
        run_study(cfg, out, header=f"gate: {CANDIDATE} against {BASELINE}\n", until=decided)
    except VariantsFailedError as e:
        failed = "; ".join(f"{f['stage']}: {f['reason']}" for f in e.failures)
    store = Store.open_study(out)
    try:
        results = build_results(store)
    finally:
        store.close()
    return decide(results.statistics, CANDIDATE, gate.energy_margin, failed), results


def noise_floor(results: Results) -> dict[str, Any] | None:
    """The gate study's own noise floor (a metered baseline sentinel's run-to-run spread), if it measured one."""
    floor = results.statistics.get("noise_floor")
    return floor if isinstance(floor, dict) else None
