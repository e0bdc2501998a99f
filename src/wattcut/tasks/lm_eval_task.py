"""Any lm-evaluation-harness task, run on the variant's loaded model, inside wattcut's energy windows.

The model object is handed to lm-eval as it is (``HFLM(pretrained=module, tokenizer=...)``),
so a pruned, low-rank or quantized PyTorch variant is evaluated without re-serialising it.
lm-eval's metrics become the task's metrics, keyed ``<task>.<metric>``; the primary one is
``[[tasks]] metric`` of the first lm-eval task, with lm-eval's own direction.

Offline, data must be local: wattcut ships ``wikitext2_local`` (WikiText-2 document-level
perplexity), ``mmlu_local`` (all 57 subjects, 5-shot from dev; one subject is
``mmlu_local_<subject>``) and ``ifeval_local`` (the 541 prompts, the harness's own scorer),
each reading the data folder with the stock task's definition; ``include_path`` adds
folders of your own task YAMLs. Stock tasks such as ``mmlu`` and ``ifeval`` download their
data from the hub; wattcut checks that before the study starts and says what is missing.
Per-item scores of mean metrics (``acc``, IFEval's prompt-level accuracies) are stored for
the item-level paired test.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.metric import MetricSpec
from wattcut.tasks.base import task
from wattcut.tasks.lm import CausalLMTask

LOCAL_TASKS = Path(__file__).parent / "lm_eval_local"
# wattcut's local tasks and their lm-eval output types: all answered exactly by ``HandleLM`` on any runtime.
LOCAL_OUTPUT_TYPES = {
    "mmlu_local": "multiple_choice",  # also every mmlu_local_<subject>
    "ifeval_local": "generate_until",
    "wikitext2_local": "loglikelihood_rolling",
}


def _local(name: str) -> bool:
    return name in LOCAL_OUTPUT_TYPES or name.startswith("mmlu_local_")


LOWER_IS_BETTER = ("perplexity", "bits_per_byte", "bpb", "loss")


@dataclass(frozen=True)
class LmEvalConfig:
    """``[[tasks]] name = "lm_eval"``.

    Attributes:
        tasks: lm-eval task names (e.g. ``["wikitext2_local"]``, ``["mmlu"]``, ``["ifeval"]``).
        metric: The primary metric of the first task (lm-eval's name, e.g. ``word_perplexity``, ``acc``).
        include_path: A folder of extra task YAMLs (wattcut's local tasks are always included).
        limit: Documents per task (None = all); for quick or CI studies.
        num_fewshot: Few-shot examples (None = the task's default).
        batch_size: lm-eval batch size.
        max_length: Context length lm-eval uses for rolling windows and truncation.
        max_gen_toks: New tokens at most per generation (None = the task's own, 1280 for IFEval); a lower
            value makes IFEval quicker and its scores not comparable with published ones (stated in the record).
    """

    tasks: tuple[str, ...] = ("wikitext2_local",)
    metric: str = "word_perplexity"
    include_path: str | None = None
    limit: int | None = None
    num_fewshot: int | None = None
    batch_size: int = 1
    max_length: int = 1024
    max_gen_toks: int | None = None
    version: int = 2

    def __post_init__(self) -> None:
        if self.max_gen_toks is not None and self.max_gen_toks < 1:
            raise UserInputError('[[tasks]] "lm_eval": max_gen_toks must be 1 or more.', "Correct it, or leave it out.")
        if not self.tasks:
            raise UserInputError('[[tasks]] "lm_eval" tasks is empty.', 'Name at least one, e.g. ["wikitext2_local"].')
        if (self.limit is not None and self.limit < 1) or self.batch_size < 1 or self.max_length < 16:
            raise UserInputError(
                '[[tasks]] "lm_eval": limit and batch_size must be 1 or more, max_length 16 or more.', "Correct them."
            )


@contextlib.contextmanager
def _quiet() -> Any:
    """lm-eval logs warnings and tables to stdout, wattcut's result channel: send them to stderr."""
    import sys

    for name in ("lm-eval", "lm_eval"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.redirect_stdout(sys.stderr):
        yield


@task
class LmEval(CausalLMTask):
    """Run lm-evaluation-harness tasks on the variant's model; store their metrics."""

    # PyTorch variants go to lm-eval's HFLM; other runtimes through HandleLM, for the local tasks whose output
    # types it answers exactly. Other tasks (your own YAMLs) may need is_greedy, which only HFLM computes.
    runtimes: tuple[str, ...] | None = ("pytorch",)
    name = "lm_eval"
    config_cls = LmEvalConfig
    summary = "lm-evaluation-harness tasks (WikiText-2, MMLU and IFEval from the data folder, or any) on the variant"

    def __init__(self, study: Any, config: LmEvalConfig, key: str | None = None) -> None:
        super().__init__(study, config, key)
        self.runtimes = None if all(_local(n) for n in config.tasks) else ("pytorch",)
        first = config.tasks[0]
        lower = any(k in config.metric for k in LOWER_IS_BETTER)  # lm-eval's own direction replaces this guess
        self.metric_spec = MetricSpec(
            f"{first}.{config.metric}",
            f"{first} {config.metric}",
            higher_is_better=not lower,
            bounded=not lower,
            format=".3f" if lower else ".4f",
        )

    @property
    def spec(self) -> MetricSpec:
        """The primary metric's spec (always set for this task)."""
        assert self.metric_spec is not None
        return self.metric_spec

    def _manager(self) -> Any:
        from lm_eval.tasks import TaskManager  # lm_eval.tasks.TaskManager is lazy and fails as an attribute

        paths = [str(LOCAL_TASKS)]
        if self.config.include_path:
            folder = Path(self.config.include_path).expanduser()
            if not folder.is_dir():
                raise UserInputError(
                    f'[[tasks]] "lm_eval" include_path = "{folder}" is not a folder.',
                    "Point it at a folder of lm-eval task YAML files.",
                )
            paths.append(str(folder))
        return TaskManager(include_path=paths)

    def prepare(self) -> None:
        """Check lm-eval is installed, the tasks exist and their data load (offline: local only)."""
        try:
            import lm_eval  # noqa: F401
        except ImportError:
            raise UserInputError(
                'The task "lm_eval" needs lm-evaluation-harness, which is not installed.',
                'Install the language-model extra: pip install -e ".[llm]" (scripts/setup.sh --llm does).',
            ) from None
        from lm_eval.tasks import get_task_dict

        from wattcut.errors import did_you_mean

        with _quiet():
            manager = self._manager()
            known = set(manager.all_tasks)
            for name in self.config.tasks:
                if name not in known:
                    raise UserInputError(
                        f'[[tasks]] "lm_eval": unknown lm-eval task "{name}".{did_you_mean(name, sorted(known))}',
                        "List them with `lm-eval ls tasks`, or add a folder of task YAMLs with include_path.",
                    )
            try:
                loaded = get_task_dict(list(self.config.tasks), manager)  # loads the data now, not mid-study
            except Exception as e:  # noqa: BLE001 - lm-eval and datasets raise many kinds; all mean "no data"
                raise UserInputError(
                    f'[[tasks]] "lm_eval": the data of {", ".join(self.config.tasks)} could not be loaded '
                    f"({type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else 'no message'}).",
                    "Stock tasks such as mmlu and ifeval download their data from the Hugging Face hub. Offline, use "
                    "wattcut's copies that read the data folder with the same definitions: mmlu_local (or "
                    "mmlu_local_<subject>), ifeval_local, wikitext2_local; or your own task YAMLs (include_path).",
                ) from None
        names = _metric_names(loaded)
        if names and self.config.metric not in names:  # checked now, not after lm-eval has run for an hour
            raise UserInputError(
                f'[[tasks]] "lm_eval" metric = "{self.config.metric}" is not a metric of '
                f"{', '.join(self.config.tasks)}.{did_you_mean(self.config.metric, sorted(names))}",
                f"Set metric to one of: {', '.join(sorted(names))}.",
            )

    def describe_data(self) -> str:
        """Tasks and limits."""
        limit = f", {self.config.limit} documents each" if self.config.limit else ""
        gen = f", at most {self.config.max_gen_toks} new tokens per generation" if self.config.max_gen_toks else ""
        return f"lm-eval tasks {', '.join(self.config.tasks)}{limit}{gen}; primary {self.spec.key}"

    def evaluate(self, model: Any, tokenizer: Any, rec: PhaseRecord) -> dict[str, Any]:
        """lm-eval's ``simple_evaluate`` on the loaded module; metrics as ``<task>.<metric>``."""
        from lm_eval import simple_evaluate

        cfg = self.config
        lm = self._lm(model, tokenizer)
        with _quiet():
            res = simple_evaluate(
                model=lm,
                tasks=list(cfg.tasks),
                task_manager=self._manager(),
                limit=cfg.limit,
                num_fewshot=cfg.num_fewshot,
                gen_kwargs={"max_gen_toks": cfg.max_gen_toks} if cfg.max_gen_toks else None,
                log_samples=True,  # per-item scores, for the item-level paired test
                bootstrap_iters=0,
            )
        metrics: dict[str, Any] = {}
        directions: dict[str, bool] = {}
        for task_name, values in (res.get("results") or {}).items():
            for key, value in values.items():
                metric = key.split(",")[0]
                if metric == "alias" or "_stderr" in metric:
                    continue
                metrics[f"{task_name}.{metric}"] = value if isinstance(value, int | float) else None
            for metric, higher in (res.get("higher_is_better") or {}).get(task_name, {}).items():
                directions[f"{task_name}.{metric}"] = bool(higher)
        if self.spec.key not in metrics:
            raise UserInputError(
                f'[[tasks]] "lm_eval" metric = "{cfg.metric}" is not among the metrics lm-eval returned: '
                f"{', '.join(sorted(metrics))}.",
                "Set metric to one of those (without the task prefix).",
            )
        if self.spec.key in directions and directions[self.spec.key] != self.spec.higher_is_better:
            from dataclasses import replace

            self.metric_spec = replace(self.spec, higher_is_better=directions[self.spec.key])
        samples = res.get("n-samples") or {}
        rec.samples += sum(int(v.get("effective", 0)) for v in samples.values() if isinstance(v, dict))
        metrics["n_samples"] = {k: v.get("effective") for k, v in samples.items() if isinstance(v, dict)}
        metrics["lm_eval_version"] = res.get("lm_eval_version") or _version()
        metrics["limit"] = cfg.limit
        metrics["max_length"] = cfg.max_length
        metrics["max_gen_toks"] = cfg.max_gen_toks
        metrics["items"] = {"scores": item_scores(res)}
        return metrics

    def _lm(self, model: Any, tokenizer: Any) -> Any:
        """lm-eval's ``HFLM`` on a PyTorch module; :class:`~wattcut.tasks.lm_eval_handle.HandleLM` on other runtimes."""
        if model.runtime != "pytorch":
            from wattcut.tasks.lm_eval_handle import HandleLM

            return HandleLM(model, tokenizer, self.config.max_length)
        from lm_eval.models.huggingface import HFLM

        module = model.module
        # HFLM re-ties input and output embeddings; they were tied at load already, and on a torch-quantized
        # module the output layer is a quantized Linear whose weight cannot be re-assigned: skip it there.
        module.tie_weights = lambda *args, **kwargs: None
        try:
            with _quiet():
                return HFLM(
                    pretrained=module,
                    tokenizer=tokenizer,
                    batch_size=self.config.batch_size,
                    max_length=self.config.max_length,
                )
        finally:
            del module.tie_weights

    def make_requests(self, tokenizer: Any, seed: int) -> list[Any]:
        """No separate request workload: lm-eval's evaluation energy is in the ``evaluate`` phase."""
        return []

    def serve(self, model: Any, requests: list[Any], rec: PhaseRecord, desc: str = "infer", window: Any = None):
        """Nothing to serve."""
        return []


def item_scores(res: dict[str, Any]) -> dict[str, list[float]]:
    """Per-item scores of every mean metric, keyed ``<task>.<metric>``; a group's items are its subtasks' in order.

    A group aggregated with ``weight_by_size`` (MMLU) is the mean over all its items, so its
    per-item scores are its subtasks' concatenated (subtasks sorted by name, items by doc id).
    """
    out: dict[str, list[float]] = {}
    for name, samples in (res.get("samples") or {}).items():
        for s in sorted(samples, key=lambda x: x["doc_id"]):
            for metric, value in s.items():
                if metric in ("doc_id", "target", "arguments", "resps", "filtered_resps", "doc", "filter"):
                    continue
                if isinstance(value, bool | int | float):
                    out.setdefault(f"{name}.{metric}", []).append(float(value))
    for group, subtasks in (res.get("group_subtasks") or {}).items():
        for metric in ("acc", "acc_norm"):
            parts = [out.get(f"{t}.{metric}") for t in sorted(subtasks)]
            if parts and all(p is not None for p in parts):
                out[f"{group}.{metric}"] = [x for p in parts for x in p]  # type: ignore[union-attr]
    return out


def _version() -> str:
    from importlib.metadata import version

    return version("lm-eval")


def _metric_names(tasks: Any) -> set[str]:
    """Every metric the loaded lm-eval tasks (groups walked down to their subtasks) declare."""
    names: set[str] = set()
    for value in tasks.values():
        if isinstance(value, dict):
            names |= _metric_names(value)
            continue
        for entry in getattr(getattr(value, "config", None), "metric_list", None) or []:
            if isinstance(entry, dict) and isinstance(entry.get("metric"), str):
                names.add(entry["metric"])
        names |= set((getattr(value, "_metric_fn_list", None) or {}).keys())
    return names
