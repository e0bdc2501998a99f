"""The technique contract.

A technique is a frozen ``<Name>Config`` dataclass (with a ``version``) plus one
``apply(model, config, ctx) -> model`` function, registered together under a name in
:data:`TECHNIQUES`. ``model`` is a runtime handle (:mod:`wattcut.runtimes.base`): a
``TorchClassifier``, an ``OnnxClassifier``, a language model on llama.cpp... Techniques
declare which runtime they take and which they return (names in
:data:`wattcut.runtimes.registry.RUNTIMES`), so a pipeline such as "prune FFN, then INT8 on
ONNX Runtime" is checked when the experiment file is read, before anything runs.

Technique modules must not import torch or a runtime at module level (import inside
``apply``): validating an experiment file stays fast and light.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from wattcut.errors import UserInputError
from wattcut.registry import Registry

if TYPE_CHECKING:
    from wattcut.settings import TechniqueStep

Runtime = str  # a name in wattcut.runtimes.registry.RUNTIMES
Route = tuple[tuple[str, ...], str, tuple[str, ...]]  # runtimes a step takes, the one it returns, model kinds


@contextmanager
def _unmetered(name: str) -> Iterator[Any]:
    """Stand-in for ``ctx.phase`` outside a study: yields a record nobody keeps."""
    from wattcut.measure.base import PhaseRecord

    yield PhaseRecord(phase=name, duration_s=0.0)


@dataclass
class CompressContext:
    """What a technique may need besides the model.

    Attributes:
        tokenizer: The model's Hugging Face tokenizer.
        max_length: Tokens per sequence used everywhere in the study.
        threads: Intra-op threads for runtimes that create sessions.
        workdir: A scratch folder owned by this variant (exports, artifacts).
        calibration_texts: Texts from the training split, for data-driven techniques.
        seed: The trial's seed.
        train_data: The study's training ``TextDataset`` (texts and labels).
        teacher: This trial's fine-tuned baseline, the default distillation teacher.
        phase: Opens a nested, metered window (e.g. ``ctx.phase("calibrate")``) and yields
            its record, for a technique's data passes; a no-op outside a study.
        model_source: The resolved pretrained model folder or hub id.
        train_rows: ``n ->`` n seeded rows of the full training split.
        cost_profile: ``() ->`` the study's cost profile of the baseline (measured once, cached).
        calibration_inputs: ``(n, batch) ->`` the first n training items as model inputs in batches of
            ``batch`` (tokenized texts, preprocessed images): what a calibrated quantizer runs.
        recover: ``(model, train_config, samples, seed, rec) ->`` the task's own fine-tuning loop on its
            training data, for tasks that declare one (images); None: the text loop on ``train_data``.
    """

    tokenizer: Any
    max_length: int
    threads: int
    workdir: Path
    calibration_texts: Sequence[str] = ()
    seed: int = 0
    train_data: Any = None  # the study's training TextDataset, for recovery fine-tuning
    teacher: Any = None  # this trial's fine-tuned baseline (TorchClassifier), for distillation
    phase: Callable[[str], AbstractContextManager[Any]] = field(default_factory=lambda: _unmetered)
    model_source: str = ""  # the resolved model folder (GGUF export reads which GGUF it came from)
    # n -> n seeded rows of the full training split (distillation may read more than [data] train_size)
    train_rows: Callable[[int], Any] | None = None
    # () -> the study's measured cost profile of the baseline (compress/cost.py), for energy budgets
    cost_profile: Callable[[], Any] | None = None
    calibration_inputs: Callable[[int, int], list[dict[str, Any]]] | None = None
    recover: Callable[[Any, Any, int | None, int, Any], None] | None = None


@dataclass(frozen=True)
class SearchSpace:
    """Where ``wattcut search`` may put a technique in the pipelines it proposes, and what it may set.

    Attributes:
        role: ``prune`` (optional, first; left out when its first knob is ``off``), ``recover``
            (one of them after any pruning, or none) or ``runtime`` (last: one chain of runtime
            steps, or none).
        knobs: ``(setting, choices)`` pairs the search samples.
        fixed: ``(setting, value)`` pairs always given.
        off: The first knob's value that leaves a ``prune`` step out.
        follows: Runtime steps this one may come right after in one chain (``ort_optimize``
            before ``ort_int8_dynamic``).
        cap_to_train_rows: Settings capped at the training split's size (``samples``).
        order: Place among the prune steps (coarse first: layers, then heads, then neurons).
    """

    role: Literal["prune", "recover", "runtime"]
    knobs: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    off: Any = None
    follows: tuple[str, ...] = ()
    cap_to_train_rows: tuple[str, ...] = ()
    order: int = 0


@dataclass(frozen=True)
class Technique:
    """A registered technique: its config type, transform and runtimes."""

    name: str
    config_cls: type
    apply: Callable[[Any, Any, CompressContext], Any]
    takes: Runtime | tuple[Runtime, ...]  # one runtime, or several (ORT INT8 also takes a fused ONNX model)
    returns: Runtime
    summary: str
    layers_after: Callable[[Any, int], int] | None = None  # a step that changes the layer count says how
    kinds: tuple[str, ...] = ("sequence-classifier",)  # model kinds it works on (a task's model_kind)
    check_inputs: Callable[[Any], None] | None = None  # inputs a step reads (a teacher folder), checked up front
    adds_exits: bool = False  # the step gives the model exit heads (early_exit)
    keeps_exits: bool = False  # the step carries a model's exit heads over (others would silently drop them)
    # The result depends only on the model it takes and its settings, not on the trial's seed: a study whose
    # baseline is not re-trained per trial builds such a variant once and reuses it in every trial.
    deterministic: bool = False
    # inputs that depend on the model folder (e.g. its architecture), checked up front by run and validate
    check_source: Callable[[Any, str], None] | None = None
    # a step whose runtimes and model kinds depend on its settings (to_runtime) says which, per config
    route: Callable[[Any], Route] | None = None
    search: SearchSpace | None = None  # how `wattcut search` may use it (None: not searched)
    # its config has a ``needs_cost_profile`` property (true with an energy budget): the runner then measures
    # the baseline's cost profile once, before building variants
    uses_cost_profile: bool = False

    def needs_cost_profile(self, config: Any) -> bool:
        """Whether a step with ``config`` reads the study's measured cost profile."""
        return self.uses_cost_profile and bool(config.needs_cost_profile)

    def routes(self, config: Any) -> Route:
        """The runtimes this step takes, the one it returns and the model kinds it works on, for ``config``."""
        if self.route is not None:
            return self.route(config)
        takes = self.takes if isinstance(self.takes, tuple) else (self.takes,)
        return takes, self.returns, self.kinds

    def check_model(self, variant: str, step: TechniqueStep, layers: int) -> int:
        """Refuse settings that do not fit a model with ``layers`` layers; return the count after this step.

        Called by the runner before any training. The generic check is ``layer_amounts``
        (one fraction per layer); a technique that removes layers registers ``layers_after``.
        """
        amounts = getattr(step.config, "layer_amounts", None)
        if amounts is not None and len(amounts) != layers:
            raise UserInputError(
                f'Variant "{variant}": technique "{step.name}" has {len(amounts)} layer_amounts, but the '
                f"model has {layers} layers at that step.",
                f"Give one fraction per layer ({layers} values), or use amount for the same fraction everywhere.",
            )
        return self.layers_after(step.config, layers) if self.layers_after else layers


TECHNIQUES: Registry[Technique] = Registry("technique", "variants[].techniques[].name")


def technique(
    name: str,
    config_cls: type,
    *,
    takes: Runtime | tuple[Runtime, ...] = "pytorch",
    returns: Runtime = "pytorch",
    layers_after: Callable[[Any, int], int] | None = None,
    kinds: tuple[str, ...] = ("sequence-classifier",),
    check_inputs: Callable[[Any], None] | None = None,
    adds_exits: bool = False,
    keeps_exits: bool = False,
    deterministic: bool = False,
    check_source: Callable[[Any, str], None] | None = None,
    route: Callable[[Any], Route] | None = None,
    search: SearchSpace | None = None,
    uses_cost_profile: bool = False,
) -> Callable:
    """Register ``apply`` as the transform for ``config_cls`` under ``name`` (PyTorch in, PyTorch out unless said).

    The first paragraph of ``apply``'s docstring is the technique's summary (``wattcut techniques``).
    """

    def deco(apply: Callable[[Any, Any, CompressContext], Any]) -> Callable:
        summary = docstring_summary(apply)
        technique = Technique(
            name,
            config_cls,
            apply,
            takes,
            returns,
            summary,
            layers_after,
            kinds,
            check_inputs,
            adds_exits,
            keeps_exits,
            deterministic,
            check_source,
            route,
            search,
            uses_cost_profile,
        )
        TECHNIQUES.add(name, technique)
        return apply

    return deco


def docstring_summary(fn: Callable[..., Any]) -> str:
    """A function's summary as a list shows it: its docstring's first paragraph on one line, without the period."""
    doc = inspect.getdoc(fn) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    if not first:
        raise TypeError(f"{fn.__module__}.{fn.__qualname__}: a technique's transform needs a docstring (its summary)")
    return first.removesuffix(".")


def check_pipeline(variant: str, steps: tuple[TechniqueStep, ...]) -> None:
    """Refuse pipelines whose runtimes do not chain (e.g. pruning after ONNX export)."""
    runtime: Runtime = "pytorch"
    exits = ""
    for step in steps:
        tech = TECHNIQUES.get(step.name)
        if exits and not tech.keeps_exits:
            raise UserInputError(
                f'Variant "{variant}": technique "{step.name}" after "{exits}" would drop the exit heads.',
                "Put pruning, distillation and fine-tuning before early_exit; after it only "
                + ", ".join(sorted(n for n in TECHNIQUES.names() if TECHNIQUES.get(n).keeps_exits))
                + " (which quantizes each exit segment).",
            )
        exits = step.name if tech.adds_exits else exits
        takes, returns, _ = tech.routes(step.config)
        if runtime not in takes:
            raise UserInputError(
                f'Variant "{variant}": technique "{step.name}" works on a {" or ".join(takes)} model, but the step '
                f"before it produced a {runtime} model.",
                "Put runtime conversions such as ort_int8_dynamic last in the techniques list.",
            )
        runtime = returns


@contextmanager
def nncf_to_stderr() -> Iterator[None]:
    """Run NNCF with its info tables silenced and its progress bars on stderr.

    NNCF prints bit-width tables and rich progress bars to stdout, which is wattcut's
    primary output (result tables); they are progress, so they belong with ours.
    """
    import contextlib
    import logging
    import sys

    import nncf

    nncf.set_log_level(logging.WARNING)
    with contextlib.redirect_stdout(sys.stderr):
        yield


def fraction(where: str, name: str, value: float) -> None:
    """Validate a fraction in (0, 1) for a technique setting."""
    if not 0.0 < value < 1.0:  # false for NaN too
        raise UserInputError(f"{where}: {name} = {value} must be between 0 and 1 (exclusive).", "Correct it.")
