"""Sequence classification: an encoder with a fresh head, fine-tuned, scored on labelled texts.

The study's ``[data]`` gives the labelled training and evaluation splits, ``[train]``
the fine-tuning of the baseline, ``[evaluate]`` and ``[infer]`` the evaluation and the
timed request workload. The loops are written out top to bottom on purpose
(torchtune-style), so that what is measured in each phase window is exactly what you
read here. Techniques use :func:`encode`, :func:`fine_tune` and
:func:`length_grouped_batches` from this module (never from the runner).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from wattcut.data import TextDataset
from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.settings import DataConfig, EvaluateConfig, InferConfig, TrainConfig
from wattcut.tasks import classification
from wattcut.tasks.base import Task, serve_timed, task
from wattcut.ui import bar


def encode(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """Tokenize a batch, padded to its longest sequence, as int64 numpy arrays."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")
    return {k: v.astype(np.int64) for k, v in enc.items()}


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar length (less padding, same randomness per epoch).

    Indices are shuffled, cut into chunks of 16 batches, sorted by length inside each
    chunk, batched, and the batches shuffled again.
    """
    rng = random.Random(seed)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 16
    batches: list[list[int]] = []
    for start in range(0, len(idx), chunk):
        part = sorted(idx[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def fine_tune(
    module: Any,
    tokenizer: Any,
    data: TextDataset,
    cfg: TrainConfig,
    max_length: int,
    seed: int,
    rec: PhaseRecord,
    regularizer: Any = None,
) -> None:
    """Fine-tune ``module`` for classification with AdamW and linear warmup/decay.

    ``regularizer`` (e.g. ``compress.energy_gates.EnergyGates``) adds ``penalty(step, total)`` to
    the loss and takes its own ``step()`` after the model's.
    """
    import torch

    lengths = [len(t.split()) for t in data.texts]  # word count: a cheap proxy to group by length
    steps_per_epoch = math.ceil(len(data) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    warmup = max(1, int(cfg.warmup_ratio * total_steps))
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / total_steps)
    )
    module.train()
    step = 0
    with bar("fine-tune", total_steps) as advance:
        for epoch in range(cfg.epochs):
            for batch_idx in length_grouped_batches(lengths, cfg.batch_size, seed * 1000 + epoch):
                # 1. Tokenize this batch (padding to its own longest sequence).
                enc = encode(tokenizer, [data.texts[i] for i in batch_idx], max_length)
                feed = {k: torch.from_numpy(v) for k, v in enc.items()}
                labels = torch.tensor([data.labels[i] for i in batch_idx])
                # 2. Forward, loss, backward, step.
                loss = module(**feed, labels=labels).loss
                if regularizer is not None:  # 3. The energy penalty, if any (its gates step with the model).
                    loss = loss + regularizer.penalty(step, total_steps)
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if regularizer is not None:
                    regularizer.step()
                step += 1
                rec.samples += len(batch_idx)
                rec.tokens += int(enc["attention_mask"].sum())
                advance(1)
    module.eval()


def predict(model: Any, tokenizer: Any, data: TextDataset, cfg: EvaluateConfig, max_length: int, rec: PhaseRecord):
    """Logits for every row of ``data`` (original order), in length-sorted batches."""
    order = sorted(range(len(data)), key=lambda i: len(data.texts[i]))
    out: list[np.ndarray | None] = [None] * len(data)
    with bar("evaluate", len(data)) as advance:
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            enc = encode(tokenizer, [data.texts[i] for i in idx], max_length)
            for i, row in zip(idx, model.logits(enc), strict=True):
                out[i] = row
            rec.samples += len(idx)
            rec.tokens += int(enc["attention_mask"].sum())
            advance(len(idx))
    return np.stack(out)  # type: ignore[arg-type]


def evaluate(
    model: Any, tokenizer: Any, data: TextDataset, cfg: EvaluateConfig, max_length: int, rec: PhaseRecord
) -> dict[str, Any]:
    """Quality metrics of ``model`` on ``data``, with per-item predictions under ``items``."""
    logits = predict(model, tokenizer, data, cfg, max_length, rec)
    out = {
        **classification.score(logits, data.labels, data.label_names),
        "items": classification.items(logits, data.labels),
    }
    if hasattr(model, "exit_logits"):  # early exit: depth per item, and the threshold sweep on the same items
        out["exits"] = exit_sweep(model, tokenizer, data, cfg, max_length)
        out["items"]["depth"] = out["exits"].pop("depths")
    return out


def exit_sweep(model: Any, tokenizer: Any, data: TextDataset, cfg: EvaluateConfig, max_length: int) -> dict[str, Any]:
    """Every exit's logits on ``data`` (one full-depth pass), then accuracy and depths per threshold."""
    from wattcut.runtimes.early_exit import sweep

    order = sorted(range(len(data)), key=lambda i: len(data.texts[i]))
    out: list[np.ndarray | None] = [None] * len(data)
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        for i, row in zip(
            idx, model.exit_logits(encode(tokenizer, [data.texts[i] for i in idx], max_length)), strict=True
        ):
            out[i] = row
    z = np.stack(out)  # type: ignore[arg-type]
    labels = np.asarray(data.labels)
    args = (model.exits, model.n_layers, model.criterion)
    at = sweep(z, labels, *args, (model.threshold,), per_item=True)[0]
    return {
        "exits": list(model.exits),
        "layers": model.n_layers,
        "criterion": model.criterion,
        "threshold": model.threshold,
        "depths": at.pop("depths"),
        "at_threshold": at,
        "sweep": sweep(z, labels, *args, tuple(sorted({*model.sweep, model.threshold}))),
    }


def make_requests(
    tokenizer: Any, data: TextDataset, cfg: InferConfig, max_length: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """The inference workload: ``warmup + requests`` tokenized requests of ``batch_size`` texts.

    Texts are drawn (seeded, cycling) from the evaluation split, so every variant of a
    trial serves the identical workload. Tokenization happens here, outside the timed
    window: the ``infer`` phase measures the model, not the tokenizer.
    """
    rng = random.Random(seed)
    pool = list(range(len(data)))
    rng.shuffle(pool)
    n = (cfg.warmup_requests + cfg.requests) * cfg.batch_size
    picks = [pool[i % len(pool)] for i in range(n)]
    if cfg.bucket:  # the same texts, grouped by length 16 batches at a time (see InferConfig)
        texts = [data.texts[i] for i in picks]
        lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
        picks = [picks[i] for batch in length_grouped_batches(lengths, cfg.batch_size, seed) for i in batch]
    return [
        encode(tokenizer, [data.texts[i] for i in picks[j : j + cfg.batch_size]], max_length)
        for j in range(0, n, cfg.batch_size)
    ]


def serve(model: Any, requests: list[dict[str, np.ndarray]], rec: PhaseRecord, desc: str = "infer") -> list[float]:
    """Run each request through ``model``; returns per-request latencies in seconds."""
    return serve_timed(
        requests, rec, desc, model.logits, lambda r: (len(r["input_ids"]), int(r["attention_mask"].sum()))
    )


@dataclass(frozen=True)
class SequenceClassificationConfig:
    """The task's own table: empty, because it reads ``[data]``, ``[train]``, ``[evaluate]`` and ``[infer]``."""

    version: int = 1


@task
class SequenceClassification(Task):
    """Fine-tune a pretrained encoder with a new classification head; accuracy, P/R/F1, AUC."""

    name = "sequence_classification"
    buckets = True
    explains = True
    config_cls = SequenceClassificationConfig
    summary = (
        "encoder + new head fine-tuned on [data] (or a trained classifier as it is); accuracy, precision/recall/F1, "
        "ROC AUC, confusion matrix"
    )
    model_kind = "sequence-classifier"
    metric_spec = classification.CLASSIFICATION
    aligned = False  # the splits' labels are the model's class ids (already_trained)

    @property
    def trains(self) -> bool:  # type: ignore[override]
        """A new head is fine-tuned, unless the model is already trained (then it is used as it is)."""
        return not self.study.model.already_trained

    def _data(self) -> DataConfig:
        if self.study.data is None:
            raise UserInputError(
                "The sequence_classification task needs a [data] table (the labelled texts to fine-tune and score on).",
                'Add [data] with name = "sst2" (or train_file and eval_file).',
            )
        return self.study.data

    def prepare(self) -> None:
        """Load the training and evaluation splits (subsets seeded with the study's seed)."""
        from wattcut.data import load_splits

        self.train, self.evals = load_splits(self._data(), seed=self.study.seed)
        self.aligned = False

    def describe_data(self) -> str:
        """Rows and labels read (and, for a model used as it is, how they map onto its labels)."""
        mapped = getattr(self, "label_mapping", None)
        labels = (
            "labels mapped onto the model's: " + ", ".join(f"{d} -> {m}" for d, m in mapped.items())
            if mapped
            else f"labels {self.train.label_names}"
        )
        return (
            f"{len(self.train)} training rows from {self.train.source}; {len(self.evals)} evaluation rows from "
            f"{self.evals.source}; {labels}"
        )

    def calibration_texts(self) -> list[str]:
        """Training texts."""
        return self.train.texts

    def calibration_inputs(self, tokenizer: Any, n: int, batch_size: int = 1) -> list[dict[str, np.ndarray]]:
        """The first ``n`` training texts, tokenized in batches (padded to each batch's longest)."""
        texts = self.train.texts[:n]
        return [
            encode(tokenizer, texts[i : i + batch_size], self.max_length()) for i in range(0, len(texts), batch_size)
        ]

    def train_data(self) -> TextDataset:
        """The labelled training split."""
        return self.train

    def max_length(self) -> int:
        """``[data] max_length``."""
        return self._data().max_length

    def check_model(self, source: str) -> None:
        """Refuse ``[data] max_length`` above the model's position limit, before any training.

        For a model used as it is, the dataset's labels are mapped onto its ``id2label``
        now (or refused): from here on the splits' labels are the model's class ids.
        """
        from wattcut.models.loading import check_trained_classifier, load_config

        if self.study.model.already_trained:
            config = check_trained_classifier(source, self.study.model)
            self._align(config)
        else:
            config = load_config(source, self.study.model)
        limit = getattr(config, "max_position_embeddings", None)
        if isinstance(limit, int) and self.max_length() > limit:
            raise UserInputError(
                f"[data] max_length = {self.max_length()} is more than this model can take ({limit} positions).",
                f"Set [data] max_length to {limit} or less.",
            )

    def _align(self, config: Any) -> None:
        """Re-express both splits' labels as the model's class ids (:mod:`wattcut.models.labels`)."""
        from wattcut.data import TextDataset
        from wattcut.data.catalog import DATASETS
        from wattcut.models.labels import align, model_labels

        if self.aligned:
            return
        data = self._data()
        names = model_labels(getattr(config, "id2label", None), int(config.num_labels))
        meanings = DATASETS.get(data.name).meanings if data.name else ()
        ids = align(self.train.label_names, names, self.study.model.label_map, meanings)
        self.label_mapping = {d: names[i] for d, i in zip(self.train.label_names, ids, strict=True)}

        def remap(d: TextDataset) -> TextDataset:
            return TextDataset(d.texts, [ids[y] for y in d.labels], names, d.source)

        self.train, self.evals = remap(self.train), remap(self.evals)
        self.aligned = True

    def load_model(self, source: str) -> Any:
        """The pretrained encoder with a fresh head for the training labels, or the trained classifier as it is."""
        from wattcut.models.loading import load_classifier_module, load_trained_classifier_module
        from wattcut.runtimes.pytorch import TorchClassifier

        if self.study.model.already_trained:
            self.check_model(source)  # labels mapped onto the model's (a no-op once done)
            return TorchClassifier(load_trained_classifier_module(source, self.study.model))
        return TorchClassifier(load_classifier_module(source, self.study.model, self.train.label_names))

    def fine_tune(self, model: Any, tokenizer: Any, seed: int, rec: PhaseRecord) -> None:
        """Cross-entropy fine-tuning of the whole model (``[train]``)."""
        fine_tune(model.module, tokenizer, self.train, self.study.train, self.max_length(), seed, rec)

    def evaluate(self, model: Any, tokenizer: Any, rec: PhaseRecord) -> dict[str, Any]:
        """Classification metrics on the evaluation split."""
        return evaluate(model, tokenizer, self.evals, self.study.evaluate, self.max_length(), rec)

    def eval_items(self) -> int:
        """Evaluation rows."""
        return len(self.evals)

    def explain(self, model: Any, tokenizer: Any, items: list[int], cfg: Any, rec: Any) -> dict[str, Any]:
        """Token attributions of the gold label's logit on evaluation ``items`` (SHAP, Partition explainer)."""
        from wattcut.tasks.explain import explain_texts

        texts, targets = [self.evals.texts[i] for i in items], [int(self.evals.labels[i]) for i in items]

        def predict(batch: list[str]) -> np.ndarray:
            return np.asarray(model.logits(encode(tokenizer, batch, self.max_length())))

        out = explain_texts(predict, tokenizer, texts, targets, cfg.max_evals)
        rec.samples += len(items)
        return {"items": items, **out}

    def proxy(self, items: int, seed: int) -> SequenceClassification:
        """A copy scoring a seeded subset of ``items`` evaluation rows (the search's proxy)."""
        import copy
        import random

        idx = list(range(len(self.evals)))
        random.Random(seed).shuffle(idx)
        out = copy.copy(self)
        e = self.evals
        keep = idx[: min(items, len(idx))]
        out.evals = TextDataset([e.texts[i] for i in keep], [e.labels[i] for i in keep], e.label_names, e.source)
        return out

    def proxy_size(self) -> int | None:
        """Evaluation rows scored."""
        return len(self.evals)

    def make_requests(self, tokenizer: Any, seed: int) -> list[Any]:
        """``[infer]`` requests drawn from the evaluation split."""
        return make_requests(tokenizer, self.evals, self.study.infer, self.max_length(), seed)

    def serve(self, model: Any, requests: list[Any], rec: PhaseRecord, desc: str = "infer", window: Any = None):
        """Each request through ``model.logits``; latencies in seconds."""
        return serve(model, requests, rec, desc)
