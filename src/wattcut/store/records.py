"""The trial record, typed: what one trial of one variant measured, as the store keeps it.

A :class:`Trial` and its parts (:class:`Phase`, :class:`TaskResult`, :class:`InferRound`,
:class:`Latency`, :class:`ModelRecord`, :class:`Deployment`, :class:`Build`,
:class:`Contention`) are dataclasses with exact ``to_dict``/``from_dict``: a record read
from a store or a ``results.json`` and written back is the same document, key for key
(optional keys that were absent stay absent; keys this version does not know are kept).

``SCHEMA_VERSION`` is the store's layout; ``RECORD_VERSION`` the trial record's, written
into every record. :func:`upgrade` brings a record of an earlier version up to today's
when it is read, so studies run by earlier versions still load and report.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args, get_origin

SCHEMA_VERSION = 2  # the store's tables: 2 adds items and infer_rounds (a version-1 store is upgraded in place)
# 2: task, metric_spec and per-task results; 3: one name per runtime (OpenVINO GenAI LMs: "openvino-genai");
# 4: the metric spec names the task's secondary metrics (the variant table reads them from it)
RECORD_VERSION = 4

R = TypeVar("R", bound="Record")


def _record_type(tp: Any) -> tuple[str, type[Record] | None]:
    """How a field's value converts: ``("one"|"list"|"dict", Record subclass)`` or ``("plain", None)``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _record_type(inner[0]) if len(inner) == 1 else ("plain", None)
    if isinstance(tp, type) and issubclass(tp, Record):
        return "one", tp
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], Record):
        return "list", args[0]
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], Record):
        return "dict", args[1]
    return "plain", None


def _bookkeeping() -> Any:
    return field(default_factory=frozenset, repr=False, compare=False)


def _extra() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class Record:
    """Exact dict conversion for the record dataclasses below (each a keyword-only dataclass)."""

    absent: frozenset[str] = _bookkeeping()  # optional keys the source document did not have (not written back)
    extra: dict[str, Any] = _extra()  # keys this version does not know (kept, written back)
    _kinds: ClassVar[dict[str, tuple[str, type[Record] | None]]]

    @classmethod
    def _fields(cls) -> dict[str, tuple[str, type[Record] | None]]:
        if "_kinds" not in cls.__dict__:
            hints = typing.get_type_hints(cls)
            cls._kinds = {
                f.name: _record_type(hints[f.name])
                for f in dataclasses.fields(typing.cast(Any, cls))
                if f.name not in ("absent", "extra")
            }
        return cls._kinds

    @classmethod
    def from_dict(cls: type[R], d: dict[str, Any]) -> R:
        """The record ``d`` describes; a missing required key is a ``KeyError`` naming it."""
        kinds = cls._fields()
        values: dict[str, Any] = {}
        for name, (kind, sub) in kinds.items():
            if name not in d:
                continue
            v = d[name]
            if sub is None or v is None:
                values[name] = v
            elif kind == "one":
                values[name] = sub.from_dict(v)
            elif kind == "list":
                values[name] = [sub.from_dict(x) for x in v]
            else:
                values[name] = {k: sub.from_dict(x) for k, x in v.items()}
        required = {f.name for f in dataclasses.fields(typing.cast(Any, cls)) if _required(f)}
        missing = sorted(required - set(d))
        if missing:
            raise KeyError(f"{cls.__name__} record without {', '.join(missing)}")
        absent = frozenset(n for n in kinds if n not in d)
        extra = {k: v for k, v in d.items() if k not in kinds}
        made: R = typing.cast(Any, cls)(**values, absent=absent, extra=extra)  # every subclass is a dataclass
        return made

    def to_dict(self) -> dict[str, Any]:
        """The record as the store and ``results.json`` keep it."""
        out: dict[str, Any] = {}
        for name, (kind, sub) in self._fields().items():
            if name in self.absent:
                continue
            v = getattr(self, name)
            if sub is None or v is None:
                out[name] = v
            elif kind == "one":
                out[name] = v.to_dict()
            elif kind == "list":
                out[name] = [x.to_dict() for x in v]
            else:
                out[name] = {k: x.to_dict() for k, x in v.items()}
        out.update(self.extra)
        return out


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@dataclass(kw_only=True)
class Latency(Record):
    """Per-request latency of a task's timed requests (milliseconds)."""

    requests: int
    batch_size: int
    mean_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    per_request_ms: list[float] | None = None  # every request's latency, up to 5,000 of them


@dataclass(kw_only=True)
class InferRound(Record):
    """One interleaved round of one variant on one task: its window's energy and latency per request."""

    round: int
    position: int  # place in the round's order (it rotates)
    requests: int
    duration_s: float
    cpu_time_s: float | None = None
    energy_j: float | None = None
    energy_per_request_j: float | None = None
    estimated: bool | None = None
    low_j: float | None = None
    high_j: float | None = None
    energy_per_request_range_j: list[float] | None = None
    latency_mean_ms: float | None = None
    latency_p50_ms: float | None = None


@dataclass(kw_only=True)
class Phase(Record):
    """One metered window: train, profile, compress, load, evaluate or infer (per component in ``energy``)."""

    phase: str
    duration_s: float
    samples: int | None = None
    tokens: int | None = None
    requests: int | None = None
    step: str | None = None
    cpu_time_s: float | None = None
    started_at: float | None = None
    parent: str | None = None
    energy: dict[str, dict[str, Any]] = field(default_factory=dict)  # component -> figure, method, range, source
    crosscheck: dict[str, Any] | None = None
    thermal: dict[str, Any] | None = None
    energy_j: float | None = None
    low_j: float | None = None
    high_j: float | None = None
    energy_kwh: float | None = None
    net_energy_j: float | None = None
    estimated: bool | None = None
    energy_per_sample_j: float | None = None
    energy_per_token_j: float | None = None
    energy_per_1k_requests_j: float | None = None
    carbon: dict[str, Any] | None = None


@dataclass(kw_only=True)
class TaskResult(Record):
    """What one task measured for the variant: metrics (keyed by its metric spec), latency, rounds, items."""

    task: str | None = None  # the task's name (its key is where it sits in ``Trial.tasks``)
    data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    metric_spec: dict[str, Any] | None = None
    latency: Latency | None = None
    rounds: list[InferRound] = field(default_factory=list)
    items: dict[str, Any] | None = None  # per-item results, for the item-level paired tests
    exits: dict[str, Any] | None = None  # early exit: the threshold sweep and the depths served
    # [explain]: SHAP attributions of sampled evaluation items (items, features, labels, values)
    explain: dict[str, Any] | None = None
    requests: list[dict[str, Any]] | None = None  # per-request facts (TTFT, tokens, energy) where kept
    workload: dict[str, Any] | None = None


@dataclass(kw_only=True)
class ModelRecord(Record):
    """What the variant is: parameters, size on disk, runtime, precision, FLOPs."""

    parameters: int
    nonzero_parameters: int
    file_size_bytes: int
    runtime: str
    precision: str
    artifact: str = ""
    flops_per_sequence: int | None = None
    flops_seq_len: int | None = None  # the length FLOPs were counted at (absent in older records)
    embedding_parameters: int | None = None  # decoders: vocabulary x hidden size (absent in older records)
    tied_embeddings: bool | None = None
    saved_to: str | None = None


@dataclass(kw_only=True)
class Deployment(Record):
    """How the variant was served: threads (and whose setting), batch size, and whether batches were bucketed."""

    threads: int
    threads_source: str
    batch_size: int
    bucket: bool | None = None  # True: batches of texts grouped by length ([infer] bucket); absent otherwise


@dataclass(kw_only=True)
class Build(Record):
    """Whether the variant was built once per study and reused in this trial."""

    once_per_study: bool
    trial_index: int
    reused: bool


@dataclass(kw_only=True)
class Contention(Record):
    """The baseline sentinel around the trial's inference round: drift, repeats, and its energy per request."""

    sentinel_requests: int
    drift_rel: float | None
    drift_threshold: float
    rounds: int
    drifts: list[float] = field(default_factory=list)
    flagged: bool = False
    sentinel_energy_per_request_j: list[float | None] = field(default_factory=list)


@dataclass(kw_only=True)
class Trial(Record):
    """One trial of one variant: everything the statistics and the report read about it."""

    schema_version: int = SCHEMA_VERSION
    record_version: int = RECORD_VERSION
    variant: str
    trial_index: int
    seed: int
    derived_from: dict[str, Any] | None = None
    techniques: list[dict[str, Any]] = field(default_factory=list)
    task: str | None = None  # the primary task's key
    metric_spec: dict[str, Any] | None = None  # the primary task's
    phases: list[Phase] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # the primary task's
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    energy_task: str | None = None
    latency: Latency | None = None  # the energy task's
    model: ModelRecord
    deployment: Deployment | None = None
    build: Build | None = None
    technique_notes: dict[str, Any] | None = None
    cost_model: dict[str, Any] | None = None
    idle_baseline: dict[str, Any] | None = None
    contention: Contention | None = None
    started_at: str | None = None
    finished_at: str | None = None

    def metric(self, key: str, task: str | None = None) -> Any:
        """A metric by the key its task's metric spec names (the primary task's unless ``task`` is given)."""
        metrics = self.metrics if task is None else self.tasks[task].metrics
        return metrics.get(key)

    def infer_phase(self) -> Phase | None:
        """The infer phase whose energy per request drives decisions: the energy task's, else the primary task's.

        Older records have one infer phase, with no step.
        """
        task = self.energy_task or self.task
        return next((p for p in self.phases if p.phase == "infer" and p.step in (None, task)), None)

    def phases_named(self, name: str) -> list[Phase]:
        """The phases of one kind (``infer``, ``compress``...), in order."""
        return [p for p in self.phases if p.phase == name]


@dataclass(kw_only=True)
class Results(Record):
    """A study's ``results.json``: its config and provenance, every trial record, the summary and the statistics.

    The summary rows and the statistics are derived (recomputed from the trials by the report);
    the trials are the records the store keeps.
    """

    schema_version: int = SCHEMA_VERSION
    study: str
    started_at: str | None = None
    config: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    missing_trials: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    metric_spec: dict[str, Any] | None = None
    summary: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)
    search: dict[str, Any] | None = None
    # what ``wattcut run --dry-run`` (or the ledger) predicted before the run, and how it compared
    prediction: dict[str, Any] | None = None

    @classmethod
    def read(cls, path: Path) -> Results:
        """A ``results.json`` file, its trial records upgraded to this version."""
        return cls.from_dict(upgrade_results(json.loads(path.read_text(encoding="utf-8"))))

    def of(self, variant: str) -> list[Trial]:
        """One variant's trials, in stored order."""
        return [t for t in self.trials if t.variant == variant]


# Techniques whose models earlier versions recorded under another runtime name: (technique, old, new).
_RENAMED = (("ov_weight_compress", "openvino", "openvino-genai"),)
# The classification tasks' secondary metrics, as their spec has named them since record version 4; a record
# without a spec (version 1) was a sequence classification study scored on accuracy.
_CLASSIFICATION_TASKS = (None, "sequence_classification", "prompted_classification")
_CLASSIFICATION_SECONDARY = [["f1_macro", "F1 macro"], ["roc_auc", "ROC AUC"]]
_ACCURACY = {"key": "accuracy", "label": "accuracy", "higher_is_better": True, "bounded": True, "unit": ""}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as this version writes it (the same dict, changed in place; a current one is left alone)."""
    version = int(record.get("record_version") or 1)
    if version < 3:
        last = (record.get("techniques") or [{}])[-1].get("name")
        model = record.get("model") or {}
        for technique, old, new in _RENAMED:
            if last == technique and model.get("runtime") == old:
                model["runtime"] = new
    if version < 4:
        spec = record.get("metric_spec") or {**_ACCURACY, "format": ".4f", "version": 1}
        if spec["key"] == "accuracy" and record.get("task") in _CLASSIFICATION_TASKS and "secondary" not in spec:
            record["metric_spec"] = {**spec, "secondary": _CLASSIFICATION_SECONDARY}
        record["record_version"] = RECORD_VERSION
    return record


def upgrade_results(results: dict[str, Any]) -> dict[str, Any]:
    """A ``results.json`` document with every trial record upgraded."""
    for trial in results.get("trials", []):
        upgrade(trial)
    return results
