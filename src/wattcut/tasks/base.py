"""The task contract and its registry.

A task owns what is specific to a kind of problem, so that the runner, the statistics
and the report never name one:

- the data it reads (``prepare``, called before any expensive step, so bad input costs
  seconds), and what it can lend techniques (calibration texts, a labelled training set);
- how its model is loaded, and its head if any (``load_model``, ``load_tokenizer``);
- its training loss, for tasks that fine-tune a baseline (``fine_tune``);
- ``evaluate``, returning metrics, and the :class:`MetricSpec` that says which metric is
  primary, whether higher or lower is better, whether it is bounded, and its unit;
- its inference workload (``make_requests``, ``serve``): how requests are built and
  served, and what they count (requests, input tokens, output tokens).

A task class is registered under its name in :data:`TASKS` with a frozen config
dataclass (its ``[[tasks]]`` table); a new task is one module and its test. Task modules
import torch and transformers inside methods only: reading an experiment file stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from wattcut.metric import ACCURACY, MetricSpec
from wattcut.registry import Registry
from wattcut.settings import ModelConfig, StudyConfig


class Task:
    """Base class of every task: one instance per study and ``[[tasks]]`` entry.

    Subclasses set the class attributes and override the methods they need. ``study`` is
    the whole study config; ``config`` the task's own frozen settings table.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type]
    summary: ClassVar[str]
    trains: ClassVar[bool] = False  # fine-tunes the pretrained model into this study's baseline
    model_kind: ClassVar[str]  # "sequence-classifier" or "causal-lm": tasks of one study share a model
    metric_spec: MetricSpec | None = None  # None: the task measures cost only (no quality metric)
    # The request workload may be cut into interleaved rounds ([infer] rounds); False for a workload
    # that is one replay (chat_replay: its arrival times and per-request windows span the whole list).
    interleaves: ClassVar[bool] = True
    # Runtimes the task can serve (None: any); lm_eval's harness tasks run on PyTorch modules only.
    runtimes: tuple[str, ...] | None = None
    # The task has its own fine-tuning loop for a pipeline's recovery step (``recover``); text classifiers use
    # the shared text loop instead.
    recovers: ClassVar[bool] = False
    # The task computes SHAP attributions of its items (``[explain]``): ``explain`` and ``eval_items``.
    explains: ClassVar[bool] = False
    # The task's batched requests can be grouped by length (``[infer] bucket``): texts of different lengths.
    buckets: ClassVar[bool] = False

    def __init__(self, study: StudyConfig, config: Any, key: str | None = None) -> None:
        self.study = study
        self.config = config
        self.key = key or self.name  # the task's id in records (two prompted tasks may differ in shots)
        self.reference = False  # the model evaluated next is the baseline (set by the runner, for tasks that compare)

    @property
    def compares(self) -> bool:
        """The task compares each variant's outputs with the baseline's (e.g. KL divergence).

        The runner then says which evaluation is the baseline's through ``reference``.
        """
        return False

    # --- inputs, checked before work starts -------------------------------------------
    def prepare(self) -> None:
        """Load and check this task's data; raise ``UserInputError`` on bad input."""

    def describe_data(self) -> str:
        """One line on the data this task read, for the console."""
        return ""

    def calibration_texts(self) -> list[str]:
        """Texts a data-driven technique may calibrate on (never the evaluation items)."""
        return []

    def calibration_inputs(self, tokenizer: Any, n: int, batch_size: int = 1) -> list[dict[str, Any]]:
        """The first ``n`` training items as model inputs, in batches (never evaluation items); none by default."""
        return []

    def train_data(self) -> Any:
        """A labelled training set for techniques that fine-tune (None if the task has none)."""
        return None

    def max_length(self) -> int:
        """Tokens per sequence for techniques that tokenize (calibration, export)."""
        return 128

    def warmup_requests(self) -> int:
        """Requests of the workload served untimed before each variant's window."""
        return self.study.infer.warmup_requests

    def rewarm(self, requests: list[Any]) -> list[Any]:
        """What a variant serves untimed before its later rounds, to bring its weights back into cache.

        Any forward pass reads every weight once, so a task whose requests are long (a scored
        window of hundreds of tokens) may shorten them here; by default they are served as they are.
        """
        return requests

    # --- model ------------------------------------------------------------------------
    def resolve_source(self, model: ModelConfig) -> str:
        """Where ``[model]``'s weights are: a hub id or a checked local folder (Hugging Face's conventions)."""
        from wattcut.models.loading import resolve_model_source

        return resolve_model_source(model)

    def load_tokenizer(self, source: str) -> Any:
        """The tokenizer of ``source``."""
        from wattcut.models.loading import load_tokenizer

        return load_tokenizer(source, self.study.model)

    def load_model(self, source: str) -> Any:
        """A runtime handle on the pretrained model, with this task's head if any."""
        raise NotImplementedError

    def check_model(self, source: str) -> None:
        """Refuse a model this task cannot use (e.g. not a causal LM), before any work."""

    def fine_tune(self, model: Any, tokenizer: Any, seed: int, rec: Any) -> None:
        """Train ``model`` into the study's baseline (tasks with ``trains = True``)."""
        raise NotImplementedError

    def recover(self, model: Any, tokenizer: Any, cfg: Any, samples: int | None, seed: int, rec: Any) -> None:
        """Fine-tune ``model`` with the ``TrainConfig`` ``cfg`` on ``samples`` training items (``recovers`` tasks)."""
        raise NotImplementedError

    # --- quality and workload -----------------------------------------------------------
    def evaluate(self, model: Any, tokenizer: Any, rec: Any) -> dict[str, Any]:
        """Quality metrics of ``model`` (the primary one under ``metric_spec.key``).

        A task may add ``"items"``: per-item results (see :mod:`wattcut.stats.paired`), which
        the runner stores next to the metrics, for item-level paired tests.
        """
        return {}

    def eval_items(self) -> int:
        """How many evaluation items the task scores (what ``[explain] samples`` draws from)."""
        return 0

    def explain(self, model: Any, tokenizer: Any, items: list[int], cfg: Any, rec: Any) -> dict[str, Any]:
        """SHAP attributions of ``model`` on evaluation ``items`` (``cfg``: ``ExplainConfig``), for the gold class.

        Returns ``{"items", "features", "labels", "values"}`` (:mod:`wattcut.tasks.explain`).
        """
        raise NotImplementedError

    def proxy(self, items: int, seed: int) -> Task:
        """This task on at most ``items`` of its evaluation items (a seeded subset), for ``wattcut search``.

        A task without a cheaper form returns itself: the search then scores every item and says so.
        """
        return self

    def proxy_size(self) -> int | None:
        """How many evaluation items this task scores (None where it does not count items)."""
        return None

    def make_requests(self, tokenizer: Any, seed: int) -> list[Any]:
        """The inference workload, identical for every variant of a trial."""
        raise NotImplementedError

    def serve(
        self,
        model: Any,
        requests: list[Any],
        rec: Any,
        desc: str = "infer",
        window: Callable[[str], AbstractContextManager[Any]] | None = None,
    ) -> list[float]:
        """Serve ``requests``; fill ``rec``'s counts; return per-request latencies in seconds.

        ``window`` opens a nested, metered window that is not stored as a phase (for
        per-request energy); tasks that do not need it ignore it.
        """
        raise NotImplementedError

    def request_details(self) -> list[dict[str, Any]] | None:
        """Per-request facts of the last ``serve`` (TTFT, tokens, energy), if the task keeps them."""
        return None

    def workload_summary(self, details: list[dict[str, Any]], phase: dict[str, Any]) -> dict[str, Any]:
        """Study-level figures derived from a served workload (tokens per joule...)."""
        return {}


def serve_timed(
    requests: list[Any], rec: Any, desc: str, call: Callable[[Any], Any], count: Callable[[Any], tuple[int, int]]
) -> list[float]:
    """Serve each request through ``call``, timing it alone; add its (samples, tokens) to ``rec``.

    The loop every one-request-at-a-time workload shares; returns per-request latencies in seconds.
    """
    import time

    from wattcut.ui import bar

    latencies = []
    with bar(desc, len(requests)) as advance:
        for req in requests:
            t0 = time.perf_counter()
            call(req)
            latencies.append(time.perf_counter() - t0)
            samples, tokens = count(req)
            rec.requests += 1
            rec.samples += samples
            rec.tokens += tokens
            advance(1)
    return latencies


TASKS: Registry[type[Task]] = Registry("task", "[[tasks]] name")

DEFAULT_TASK = "sequence_classification"


def task(cls: type[Task]) -> type[Task]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    TASKS.add(cls.name, cls)
    return cls


__all__ = ["ACCURACY", "DEFAULT_TASK", "TASKS", "MetricSpec", "Task", "serve_timed", "task"]
