"""The space ``wattcut search`` samples, built from what the registered techniques declare.

Each technique that may be searched declares a :class:`~wattcut.compress.base.SearchSpace`:
its role in a pipeline (prune, recover, runtime), the settings to try and which runtime
step it may follow. A candidate is: any prune steps (each left out at its ``off`` value),
one recovery step after pruning or none, one chain of runtime steps or none, and a thread
count. Only techniques for the study's model kind, whose runtime every task can serve,
are in it; so one search serves encoders and decoders alike.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from wattcut.compress import TECHNIQUES
from wattcut.compress.base import SearchSpace

NONE = "none"


@dataclass(frozen=True)
class Space:
    """The searchable techniques of one study, by role, and the thread counts to try."""

    prune: tuple[str, ...]
    recover: tuple[str, ...]
    chains: tuple[tuple[str, ...], ...]  # runtime chains, e.g. ("ort_optimize", "ort_int8_dynamic")
    threads: tuple[int, ...]

    def declared(self, name: str) -> SearchSpace:
        """What technique ``name`` declares for the search."""
        space = TECHNIQUES.get(name).search
        assert space is not None
        return space


def chain_label(chain: tuple[str, ...]) -> str:
    """A runtime chain's name in the search: its steps joined by "+" ("none": stay on PyTorch)."""
    return "+".join(chain) or NONE


def space_for(kind: str, served: set[str] | None, threads: tuple[int, ...]) -> Space:
    """The space for a model of ``kind`` whose tasks serve the runtimes ``served`` (None: any)."""
    searchable: dict[str, SearchSpace] = {}
    for name in TECHNIQUES:
        t = TECHNIQUES.get(name)
        if t.search is not None and kind in t.routes(t.config_cls())[2]:
            searchable[name] = t.search
    by_role = {role: [n for n, t in searchable.items() if t.role == role] for role in ("prune", "recover")}
    prune = tuple(sorted(by_role["prune"], key=lambda n: searchable[n].order))
    runtime = [n for n, t in searchable.items() if t.role == "runtime"]
    chains: list[tuple[str, ...]] = [()]
    chains += [(n,) for n in runtime]
    chains += [(a, b) for a in runtime for b in runtime if a in (searchable[b].follows or ())]
    returns = {c: TECHNIQUES.get(c[-1]).returns if c else "pytorch" for c in chains}
    usable = tuple(c for c in chains if served is None or returns[c] in served)
    return Space(prune, tuple(by_role["recover"]), usable, threads)


def _knob(trial: Any, name: str, setting: str, choices: tuple[Any, ...]) -> Any:
    return trial.suggest_categorical(f"{name}.{setting}", list(choices))


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """One point of ``space`` from an Optuna trial (conditional settings only where they apply)."""
    params: dict[str, Any] = {}
    for name in space.prune:
        for setting, choices in space.declared(name).knobs:
            params[f"{name}.{setting}"] = _knob(trial, name, setting, choices)
    if space.recover and any(
        params[f"{n}.{space.declared(n).knobs[0][0]}"] != space.declared(n).off for n in space.prune
    ):
        params["recover"] = trial.suggest_categorical("recover", [NONE, *space.recover])
    chain = trial.suggest_categorical("runtime", [chain_label(c) for c in space.chains])
    params["runtime"] = chain
    for name in () if chain == NONE else chain.split("+"):
        for setting, choices in space.declared(name).knobs:
            params[f"{name}.{setting}"] = _knob(trial, name, setting, choices)
    params["threads"] = trial.suggest_categorical("threads", list(space.threads))
    return params


def steps(params: dict[str, Any], space: Space, train_rows: int) -> list[tuple[str, dict[str, Any]]]:
    """The technique pipeline a point stands for: ``(name, settings)`` per step."""

    def settings(name: str) -> dict[str, Any]:
        declared = space.declared(name)
        out = dict(declared.fixed)
        out |= {s: params[f"{name}.{s}"] for s, _ in declared.knobs if f"{name}.{s}" in params}
        for s in declared.cap_to_train_rows:
            if out.get(s) is not None:
                out[s] = min(out[s], train_rows)
        return out

    pipeline = []
    for name in space.prune:
        first = space.declared(name).knobs[0][0]
        if params.get(f"{name}.{first}", space.declared(name).off) != space.declared(name).off:
            pipeline.append((name, settings(name)))
    if pipeline and params.get("recover", NONE) != NONE:
        pipeline.append((params["recover"], settings(params["recover"])))
    if params["runtime"] != NONE:
        pipeline += [(name, settings(name)) for name in params["runtime"].split("+")]
    return pipeline


def starting_points(space: Space) -> list[dict[str, Any]]:
    """What every new search tries first: each runtime chain at each of its settings, unpruned, one thread.

    Pruning amounts are most of the space, so random sampling rarely proposes an unpruned
    pipeline, yet a runtime change alone often loses little or nothing: the front must
    contain those for the sampler to improve on.
    """
    points = []
    unpruned = {f"{n}.{space.declared(n).knobs[0][0]}": space.declared(n).off for n in space.prune}
    for chain in space.chains:
        if not chain:
            continue
        knobs = [(f"{n}.{s}", choices) for n in chain for s, choices in space.declared(n).knobs]
        for values in itertools.product(*(choices for _, choices in knobs)):
            point = {**unpruned, "runtime": chain_label(chain), "threads": min(space.threads)}
            point |= {k: v for (k, _), v in zip(knobs, values, strict=True)}
            points.append(point)
    return points
