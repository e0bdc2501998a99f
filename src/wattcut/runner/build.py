"""Building a variant: a copy of the trial's baseline through its techniques, one metered window per step.

Also what a build leaves for the record: FLOPs, the cost model's structure and prediction,
technique notes, and whether the variant is built once per study and reused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wattcut.settings import BASELINE, StudyConfig, VariantConfig
from wattcut.ui import console


@dataclass
class Built:
    """A variant built once per study: its runtime handle and the facts measured when it was built."""

    model: Any
    flops: Any
    structure: Any
    vdir: Path
    trial_index: int


def reusable(primary: Any, variant: VariantConfig | None) -> bool:
    """Whether a variant is the same model in every trial, so it may be built once per study.

    True when the baseline is not re-trained per trial (a pretrained LM, a classifier used as it is)
    and every technique of the variant declares itself ``deterministic`` (independent of the seed).
    The baseline itself is loaded per trial (cheap, and its record carries the train phase if any).
    """
    from wattcut.compress import TECHNIQUES

    if primary.trains or variant is None:
        return False
    return all(TECHNIQUES.get(step.name).deterministic for step in variant.techniques)


def build_variant(
    cfg: StudyConfig,
    primary: Any,
    variant: VariantConfig | None,
    base: Any,
    tokenizer: Any,
    threads: int,
    vdir: Path,
    seed: int,
    session: Any,
    source: str,
    cost_profile: Any,
) -> tuple[Any, Any, Any]:
    """A variant from a copy of ``base``: one ``compress`` window per technique, then ``load`` for LM runtimes.

    Returns the runtime handle, FLOPs per sequence and (with a cost profile) the structure,
    both taken from the last PyTorch fp32 step.
    """
    from wattcut.compress import TECHNIQUES, CompressContext

    model = base.clone()
    ctx = CompressContext(
        tokenizer=tokenizer,
        max_length=primary.max_length(),
        threads=threads,
        workdir=vdir,
        calibration_texts=primary.calibration_texts(),
        train_data=primary.train_data(),
        teacher=base,
        seed=seed,
        phase=session.phase,
        model_source=source,
        train_rows=_train_rows(cfg),
        cost_profile=cost_profile,
        calibration_inputs=lambda n, batch: primary.calibration_inputs(tokenizer, n, batch),
        recover=(
            (lambda m, train, n, s, rec: primary.recover(m, tokenizer, train, n, s, rec)) if primary.recovers else None
        ),
    )
    flops = model.flops_per_sequence(primary.max_length())
    structure = _structure(model) if cost_profile is not None else None
    for i, step in enumerate(variant.techniques if variant else ()):
        with session.phase("compress", step=f"{i + 1}:{step.name}"):
            model = TECHNIQUES.get(step.name).apply(model, step.config, ctx)
        if model.capabilities.module and model.precision == "fp32":
            flops = model.flops_per_sequence(primary.max_length())  # outside the window
            structure = _structure(model) if cost_profile is not None else None
    if variant is not None and variant.threads:  # a deployment setting: served with this many threads
        model.set_threads(variant.threads)
    if model.capabilities.load_phase:  # open/compile the model in its own window
        with session.phase("load"):
            model.load()
    return model, flops, structure


def _needs_profile(cfg: StudyConfig) -> bool:
    from wattcut.compress import TECHNIQUES

    return cfg.cost.profile or any(
        TECHNIQUES.get(step.name).needs_cost_profile(step.config) for v in cfg.variants for step in v.techniques
    )


def cost_profile_of(cfg: StudyConfig, session: Any, task: Any, base: Any, tokenizer: Any, threads: int) -> Any:
    """``() -> CostProfile`` of this trial's baseline, measured at most once per run (then cached); None if unused."""
    if not _needs_profile(cfg) or task.model_kind != "sequence-classifier":
        return None
    from wattcut.models.cost import load_or_measure

    held: list[Any] = []

    def get() -> Any:
        if not held:
            with session.phase("profile") as rec:
                profile, cached = load_or_measure(
                    base,
                    tokenizer,
                    list(task.calibration_texts()),
                    task.max_length(),
                    threads,
                    batch_sizes=cfg.cost.batch_sizes,
                    requests=cfg.cost.requests,
                    rounds=cfg.cost.rounds,
                    rec=rec,
                )
            note = "read from the cache" if cached else f"measured in {profile.duration_s:.0f} s"
            console.print(f"cost profile {profile.key}: {note}", highlight=False, markup=False)
            held.append(profile)
        return held[0]

    return get


def _structure(model: Any) -> Any:
    from wattcut.models.cost import structure_of

    return structure_of(model.module) if model.capabilities.module and model.precision == "fp32" else None


def cost_entry(cfg: StudyConfig, cost_profile: Any, structure: Any, model: Any, name: str) -> dict[str, Any]:
    """The record's ``cost_model`` (prediction for a PyTorch fp32 variant) and ``technique_notes``."""
    out: dict[str, Any] = {}
    if model.notes:
        out["technique_notes"] = model.notes
    if cost_profile is None or structure is None or not model.capabilities.module:
        return out
    profile = cost_profile()
    b = cfg.infer.batch_size
    out["cost_model"] = {
        "profile_key": profile.key,
        "batch_size": b,
        "structure": structure.to_dict(),
        "predicted_energy_ratio": profile.ratio(structure, b),
        "predicted_cpu_s_per_request": profile.at(b).predict_s(structure),
        **({"profile": profile.to_dict()} if name == BASELINE else {}),
    }
    if model.capabilities.depth_log:  # early exit: the structure is the deepest path
        out["cost_model"]["note"] = "deepest path; the mean depth is lower (see early_exit)"
    return out


def _train_rows(cfg: StudyConfig) -> Any:
    """``n -> n`` seeded rows of the full training split (as ``[data] train_size = n`` gives); None without data."""
    if cfg.data is None:
        return None
    data = cfg.data

    def load(n: int) -> Any:
        from wattcut.data import load_splits

        return load_splits(replace(data, train_size=n), seed=cfg.seed)[0]

    return load


def folder_name(name: str) -> str:
    """A file-system-safe folder name for a variant, distinct for distinct names ("x/y" vs "x_y")."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
    return safe if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class _Unmetered:
    """A session stand-in for builds that are timed by their caller, not metered (the search's proxy)."""

    @contextmanager
    def phase(self, name: str, step: str | None = None) -> Iterator[Any]:
        from wattcut.measure.base import PhaseRecord

        yield PhaseRecord(phase=name, duration_s=0.0)

    def take(self) -> list[Any]:
        return []


UNMETERED = _Unmetered()
