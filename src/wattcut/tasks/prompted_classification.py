"""Prompted classification (seed 002): an instruct LM labels texts, scored by label log-likelihood.

Each item becomes a chat: optional k-shot examples (drawn from the training split with a
fixed seed) as earlier user/assistant turns, then the template with the item's text. The
label is the argmax over the labels of ``log p(verbalizer | prompt)``, the verbalizer
being the assistant's reply, as lm-evaluation-harness's multiple-choice tasks score
choices: no free text is parsed, so nothing is "unparseable", and every item stores its
per-label log-likelihoods. Metrics are those of sequence classification (accuracy, P/R/F1,
confusion matrix) plus the share of items decided by less than ``low_margin`` nats.

Contextual calibration (Zhao et al., 2021, "Calibrate Before Use") is on by default: small
LMs favour some label words whatever the text, so each variant first scores content-free
inputs ("N/A", "", "[MASK]") with the same prompt; their mean label distribution p_cf is
the model's label prior, and an item's calibrated score is log softmax(loglik) - log p_cf
(the diagonal W = diag(p_cf)^-1 of the paper). The metrics are reported calibrated and
raw (``accuracy_raw``, ``accuracy_calibrated``); the primary ``accuracy`` is the one the
``calibration`` setting names. The prior costs three prompts per variant, outside the
timed workload.

The inference workload is classifying items: energy per request is energy per item. The
prompt is run once per item and its KV cache extends each label (one prefill, not one per
label); a k-shot prefix shared by every item is computed once per variant and reused
(prefix caching, as serving engines do), so k-shot costs what its new tokens cost.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.settings import DataConfig
from wattcut.tasks import classification
from wattcut.tasks.base import task
from wattcut.tasks.lm import CausalLMTask
from wattcut.ui import bar

# Chosen on 200 SST-2 *training* rows, never on evaluated items, as the best of four by calibrated accuracy
# (benchmarks/prompt_template.py; results in benchmarks/results/prompt_template.txt).
DEFAULT_TEMPLATE = "What is the sentiment of the following sentence, {labels}?\n\n{text}"
CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021's content-free inputs


@dataclass(frozen=True)
class PromptedClassificationConfig:
    """``[[tasks]] name = "prompted_classification"``.

    Attributes:
        data: The labelled dataset (the same table as ``[data]``: name, files or hub, splits, sizes).
        template: The user message; ``{text}`` is the item, ``{labels}`` the verbalizers joined by ", ".
        verbalizers: The reply word for each label, in the dataset's label order (default: what a known
            dataset's labels mean, e.g. negative/positive for SST-2's 0/1; else the label names).
        shots: Examples from the training split shown before each item (0 = zero-shot).
        shot_seed: Seed for drawing the examples (the same examples for every item and variant).
        system: Optional system message.
        chat_template: Wrap the prompt in the tokenizer's chat template (instruct models need it).
        low_margin: Items whose best label beats the second by less than this many nats are counted.
        calibration: ``contextual`` divides out the model's label prior on content-free inputs (Zhao et al.
            2021); ``none`` scores the raw log-likelihoods. Both are reported; this one is the primary metric.
        requests: Items classified in the timed inference workload; warmup_requests before it.
    """

    data: DataConfig = field(default_factory=lambda: DataConfig(name="sst2", eval_size=200))
    template: str = DEFAULT_TEMPLATE
    verbalizers: tuple[str, ...] | None = None
    shots: int = 0
    shot_seed: int = 1234
    system: str | None = None
    chat_template: bool = True
    low_margin: float = 0.5
    calibration: Literal["contextual", "none"] = "contextual"
    requests: int = 20
    warmup_requests: int = 2
    version: int = 2  # 2: contextual calibration (on by default)

    def __post_init__(self) -> None:
        if "{text}" not in self.template:
            raise UserInputError(
                '[[tasks]] "prompted_classification" template has no {text} placeholder, so every item would '
                "get the same prompt.",
                'Put {text} where the item goes, e.g. template = "Review: {text}\\nSentiment ({labels}):".',
            )
        if self.shots < 0 or self.requests < 1 or self.warmup_requests < 0 or self.low_margin < 0:
            raise UserInputError(
                '[[tasks]] "prompted_classification": shots, warmup_requests and low_margin must be 0 or more, '
                "requests 1 or more.",
                "Correct them.",
            )


def _meanings(data: DataConfig, names: list[str]) -> list[str]:
    """Default verbalizers: what a known dataset's coded labels mean ("0" → "negative"), else the label names."""
    from wattcut.data.catalog import DATASETS

    if data.name is not None and data.name in DATASETS:
        meanings = DATASETS.get(data.name).meanings
        if len(meanings) == len(names):
            return list(meanings)
    return list(names)


@task
class PromptedClassification(CausalLMTask):
    """Label texts with an instruct LM by comparing the log-likelihood of each label's verbalizer."""

    name = "prompted_classification"
    config_cls = PromptedClassificationConfig
    summary = "an instruct LM labels texts (k-shot prompt, label log-likelihood); accuracy, P/R/F1, confusion"
    metric_spec = classification.CLASSIFICATION

    def prepare(self) -> None:
        """Load the dataset and check the verbalizers fit its labels."""
        from wattcut.data import load_splits

        cfg = self.config
        self.train, self.evals = load_splits(cfg.data, seed=self.study.seed)
        names = self.train.label_names
        self.verbalizers = list(cfg.verbalizers) if cfg.verbalizers is not None else _meanings(cfg.data, names)
        if len(self.verbalizers) != len(names):
            raise UserInputError(
                f'[[tasks]] "prompted_classification" has {len(self.verbalizers)} verbalizers, but the dataset has '
                f"{len(names)} labels ({names}).",
                f"Give one reply word per label, in this order: {names}.",
            )
        empty = [repr(v) for v in self.verbalizers if not v.strip()]
        if empty:
            raise UserInputError(
                f'[[tasks]] "prompted_classification" verbalizer {", ".join(empty)} is blank: it tokenizes to nothing '
                "that could be scored as the model's answer.",
                'Give each label a word the model can answer with, e.g. verbalizers = ["negative", "positive"].',
            )
        if len(set(self.verbalizers)) != len(self.verbalizers):
            raise UserInputError(
                f'[[tasks]] "prompted_classification" verbalizers {self.verbalizers} repeat a word.',
                "Give each label its own word.",
            )
        if cfg.shots > len(self.train):
            raise UserInputError(
                f'[[tasks]] "prompted_classification" shots = {cfg.shots}, but the training split has only '
                f"{len(self.train)} rows.",
                "Use fewer shots.",
            )
        self._prefix_ids: list[int] | None = None
        rng = random.Random(cfg.shot_seed)
        self.shots = [
            (self.train.texts[i], self.train.labels[i]) for i in rng.sample(range(len(self.train)), cfg.shots)
        ]

    def describe_data(self) -> str:
        """Items, labels, verbalizers and shots."""
        return (
            f"{len(self.evals)} items from {self.evals.source}; labels {self.train.label_names} as "
            f"{self.verbalizers}; {self.config.shots}-shot"
        )

    def calibration_texts(self) -> list[str]:
        """Training texts (never the evaluated items)."""
        return self.train.texts

    def _prompt_ids(self, tokenizer: Any, text: str | None) -> list[int]:
        """The prompt's tokens; ``text=None`` gives the shared prefix (system message and shots) only."""
        cfg = self.config
        labels = ", ".join(self.verbalizers)

        def user(t: str) -> str:
            return cfg.template.replace("{labels}", labels).replace("{text}", t)

        if not cfg.chat_template or getattr(tokenizer, "chat_template", None) is None:
            prefix = "".join(f"{user(t)}\n{self.verbalizers[y]}\n\n" for t, y in self.shots)
            body = prefix if text is None else prefix + user(text) + "\n"
            return list(tokenizer(body, add_special_tokens=True)["input_ids"])
        messages = [{"role": "system", "content": cfg.system}] if cfg.system else []
        for t, y in self.shots:
            messages += [{"role": "user", "content": user(t)}, {"role": "assistant", "content": self.verbalizers[y]}]
        if text is not None:
            messages.append({"role": "user", "content": user(text)})
        if not messages:
            return []
        ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=text is not None, tokenize=True, return_dict=False
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def _request(self, tokenizer: Any, text: str, conts: list[list[int]]) -> tuple[list[int], list[list[int]], int]:
        """(prompt tokens, label continuations, length of the shared prefix to cache, or 0)."""
        ids = self._prompt_ids(tokenizer, text)
        if self._prefix_ids is None:
            prefix = self._prompt_ids(tokenizer, None) if (self.shots or self.config.system) else []
            self._prefix_ids = prefix
        n = len(self._prefix_ids)
        return ids, conts, n if n and ids[:n] == self._prefix_ids else 0  # tokenization may differ at the seam

    def _continuations(self, tokenizer: Any) -> list[list[int]]:
        conts = [list(tokenizer(v, add_special_tokens=False)["input_ids"]) for v in self.verbalizers]
        empty = [v for v, c in zip(self.verbalizers, conts, strict=True) if not c]
        if empty:
            raise UserInputError(
                f'[[tasks]] "prompted_classification" verbalizer(s) {empty} tokenize to nothing with this model\'s '
                "tokenizer, so they cannot be scored.",
                "Use ordinary words as verbalizers (e.g. negative, positive).",
            )
        return conts

    def check_model(self, source: str) -> None:
        """A causal LM, whose tokenizer turns every verbalizer into at least one token."""
        super().check_model(source)
        self._continuations(self.load_tokenizer(source))

    def _score(self, model: Any, tokenizer: Any, text: str, conts: list[list[int]]) -> tuple[list[float], int]:
        context, conts, prefix_len = self._request(tokenizer, text, conts)
        scores = model.continuation_loglikelihoods(context, conts, prefix_len)
        return scores, len(context) + sum(len(c) for c in conts)

    def label_prior(self, model: Any, tokenizer: Any, conts: list[list[int]]) -> np.ndarray:
        """The model's label distribution on content-free inputs with this prompt (mean over them)."""
        rows = [_log_softmax(np.asarray(self._score(model, tokenizer, t, conts)[0])) for t in CONTENT_FREE]
        return np.exp(np.stack(rows)).mean(axis=0)

    def evaluate(self, model: Any, tokenizer: Any, rec: PhaseRecord) -> dict[str, Any]:
        """Classification metrics from the per-item label log-likelihoods (stored per item), calibrated and raw."""
        conts = self._continuations(tokenizer)
        raw = np.zeros((len(self.evals), len(conts)))
        with bar("prompted", len(self.evals)) as advance:
            for i, text in enumerate(self.evals.texts):
                scores, tokens = self._score(model, tokenizer, text, conts)
                raw[i] = scores
                rec.samples += 1
                rec.tokens += tokens
                advance(1)
        prior = self.label_prior(model, tokenizer, conts)
        calibrated = _log_softmax(raw) - np.log(prior)
        names = self.train.label_names
        loglik = calibrated if self.config.calibration == "contextual" else raw
        metrics = classification.score(loglik, self.evals.labels, names)
        for tag, table in (("raw", raw), ("calibrated", calibrated)):
            other = classification.score(table, self.evals.labels, names)
            metrics[f"accuracy_{tag}"], metrics[f"f1_macro_{tag}"] = other["accuracy"], other["f1_macro"]
        metrics["calibration"] = {
            "method": self.config.calibration,
            "content_free_inputs": list(CONTENT_FREE),
            "label_prior": {n: round(float(p), 6) for n, p in zip(names, prior, strict=True)},
            "rule": "calibrated score = log softmax(loglik) - log p_cf (Zhao et al. 2021, W = diag(p_cf)^-1)",
        }
        top2 = np.sort(loglik, axis=1)[:, -2:]
        margins = top2[:, 1] - top2[:, 0]
        pred = loglik.argmax(axis=1)
        metrics.update(
            shots=self.config.shots,
            verbalizers=self.verbalizers,
            low_margin=self.config.low_margin,
            low_margin_share=float((margins < self.config.low_margin).mean()),
            predicted_share={n: float((pred == k).mean()) for k, n in enumerate(self.train.label_names)},
            scoring="argmax of sum log p(verbalizer tokens | prompt), lm-evaluation-harness multiple-choice style"
            + (", contextually calibrated" if self.config.calibration == "contextual" else ""),
            items={
                **classification.items(loglik, self.evals.labels, field="loglik"),
                "loglik_raw": [[round(float(x), 6) for x in row] for row in raw],  # calibration recomputes from these
            },
        )
        return metrics

    def make_requests(self, tokenizer: Any, seed: int) -> list[Any]:
        """Items drawn (seeded, cycling) from the evaluation split, prompts tokenized outside the timed window."""
        rng = random.Random(seed)
        pool = list(range(len(self.evals)))
        rng.shuffle(pool)
        n = self.config.warmup_requests + self.config.requests
        conts = self._continuations(tokenizer)
        return [self._request(tokenizer, self.evals.texts[pool[i % len(pool)]], conts) for i in range(n)]

    def serve(self, model: Any, requests: list[Any], rec: PhaseRecord, desc: str = "infer", window: Any = None):
        """Classify each item (one batched forward over its label continuations); latencies in seconds."""
        latencies = []
        with bar(desc, len(requests)) as advance:
            for context, conts, prefix_len in requests:
                t0 = time.perf_counter()
                model.continuation_loglikelihoods(context, conts, prefix_len)
                latencies.append(time.perf_counter() - t0)
                rec.requests += 1
                rec.samples += 1
                rec.tokens += len(context) + sum(len(c) for c in conts)
                advance(1)
        return latencies


def _log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-probabilities over the labels (the last axis)."""
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
