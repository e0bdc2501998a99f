"""Knowledge distillation into the variant's model, in one explicit loop.

loss = alpha x T^2 x KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) x CE(student, labels)
       + hidden_weight x hidden-state MSE

with T and alpha settable (seed study 000 used T = 6, alpha = 0.5 and a one-epoch warm-up of
the student on the labels alone: ``warmup_epochs = 1``). The optional hidden-state term,
by ``hidden_layers``:

- ``last``: MSE(P · pool(student's last hidden state), pool(teacher's)), mask-mean-pooled
  (pooling makes it independent of the two tokenizers) through a learned linear projection
  P from the student's width to the teacher's, trained with the student and discarded
  afterwards;
- ``each``: TinyBERT's layer-wise loss: every student layer's output, token by token
  (padding excluded), against the teacher layer it stands for, plus the embeddings. A
  ``prune_layers`` student maps layer j to the teacher layer it was cut from (kept layers
  (0, 2, 3, 5) learn the teacher's outputs after layers 1, 3, 4 and 6); any other student
  maps uniformly. Token alignment needs the teacher's tokenizer: only with teacher =
  ``baseline``.

The teacher is, by
default, this trial's fine-tuned baseline (same tokenizer, e.g. for a layer-dropped
student); ``teacher`` may instead name a model folder or hub id with its own tokenizer
(each model tokenizes the raw text itself, so logit distillation needs no alignment).

A teacher must itself be fine-tuned on the task (seed 000's method flaw was an
unfine-tuned teacher): wattcut refuses a teacher whose checkpoint has no trained
classification head, or whose accuracy on training rows is near chance. With
``teacher_finetune = true`` the named teacher is a *pretrained* model (MPNet-base, say)
that wattcut fine-tunes on the distillation rows first, once: the result is cached by a
content hash of the teacher's files, the rows and the settings, and every later trial
and study reuses it (the training runs in a metered ``teacher`` window; a cache hit
costs nothing and says so).

Distillation may read more of the training split than the baseline's fine-tune:
``train_rows`` rows of the full split (seeded, as ``[data] train_size``), which the
report states next to the variant.
The loop runs inside the variant's ``compress`` window, in its own nested ``distill`` window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.compress.energy_gates import GateSettings
from wattcut.errors import UserInputError

CHECK_ROWS = 200  # training rows used to check the teacher


@dataclass(frozen=True)
class DistillConfig(GateSettings):
    """Settings for ``distill``.

    Attributes:
        temperature: Softening temperature T.
        alpha: Weight of the distillation term (1 - alpha on the hard labels).
        epochs: Passes over the training rows.
        samples: Training rows used (None = the study's whole training subset).
        learning_rate: AdamW learning rate.
        batch_size: Rows per step.
        teacher: ``baseline`` (this trial's fine-tuned model) or a folder / hub id of a
            model fine-tuned on the same labels.
        min_teacher_margin: The teacher's accuracy on training rows must beat the
            majority-class rate by this much, or distillation is refused. A negative value
            switches the check off: only for toy data in tests, where no model learns.
        warmup_epochs: Epochs of plain fine-tuning on the labels before distillation.
        hidden_weight: Weight of the hidden-state loss (0 = logits only).
        hidden_layers: ``last`` (pooled last hidden state) or ``each`` (layer-wise, token-level;
            teacher = ``baseline`` only).
        train_rows: Rows of the full training split to distil on (None = the study's
            training subset); may be more than ``[data] train_size``.
        teacher_finetune: Fine-tune the named (pretrained) teacher on the distillation rows
            first, once, cached by content hash.
        teacher_epochs: Epochs of that teacher fine-tune.
        teacher_learning_rate: Its AdamW learning rate.
        energy_budget, gate_units, ffn_group, anneal, gate_learning_rate: energy regularization of the
            student (``energy_gates.GateSettings``; no budget = plain distillation).
    """

    temperature: float = 6.0
    alpha: float = 0.5
    epochs: int = 1
    samples: int | None = None
    learning_rate: float = 5e-5
    batch_size: int = 32
    teacher: str = "baseline"
    min_teacher_margin: float = 0.05
    warmup_epochs: int = 0
    hidden_weight: float = 0.0
    hidden_layers: Literal["last", "each"] = "last"
    train_rows: int | None = None
    teacher_finetune: bool = False
    teacher_epochs: int = 1
    teacher_learning_rate: float = 5e-5
    version: int = 5

    def __post_init__(self) -> None:
        self.check_gates('technique "distill"')
        if self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise UserInputError('technique "distill": temperature must be > 0 and alpha in [0, 1].', "Correct them.")
        if self.warmup_epochs < 0 or self.hidden_weight < 0:
            raise UserInputError(
                'technique "distill": warmup_epochs and hidden_weight must be 0 or more.', "Correct them."
            )
        if self.hidden_layers not in ("last", "each"):
            raise UserInputError(
                f'technique "distill": hidden_layers = "{self.hidden_layers}" is not one of "last", "each".',
                "Use one of them.",
            )
        if self.hidden_layers == "each" and self.teacher != "baseline":
            raise UserInputError(
                'technique "distill": hidden_layers = "each" matches hidden states token by token, which needs '
                f'the student\'s tokenizer, but teacher = "{self.teacher}" has its own.',
                'Use hidden_layers = "last" (pooled) with an external teacher, or teacher = "baseline".',
            )
        if self.teacher_finetune and self.teacher == "baseline":
            raise UserInputError(
                'technique "distill": teacher_finetune needs a pretrained teacher to fine-tune, but teacher = '
                '"baseline" is already this trial\'s fine-tuned model.',
                "Name the pretrained teacher (a folder or hub id), or leave teacher_finetune out.",
            )
        if (self.train_rows or 1) < 1 or self.teacher_epochs < 1 or self.teacher_learning_rate <= 0:
            raise UserInputError(
                'technique "distill": train_rows, teacher_epochs and teacher_learning_rate must be positive.',
                "Correct them.",
            )
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or (self.samples or 1) < 1:
            raise UserInputError(
                'technique "distill": epochs, samples, batch_size, learning_rate must be positive.', "Correct them."
            )


def _external_teacher(name: str, label_names: list[str]) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    from wattcut.models import folders
    from wattcut.models.loading import hf_call, hf_kwargs, resolve_model_source
    from wattcut.settings import ModelConfig

    teacher_cfg = ModelConfig(name_or_path=name)  # never runs the teacher folder's code or unpickles it
    source = resolve_model_source(teacher_cfg)
    model, info = hf_call(  # a wattcut-pruned teacher too
        lambda: folders.load(source, output_loading_info=True, **hf_kwargs(teacher_cfg)), source
    )
    head_missing = [k for k in info.get("missing_keys", []) if "classifier" in k or "score" in k]
    if head_missing:
        raise UserInputError(
            f'The distillation teacher "{name}" has no trained classification head (missing {head_missing[0]}): '
            "it was never fine-tuned on this task, so its logits carry no task knowledge.",
            'Fine-tune it first (wattcut\'s baseline is, and is the default teacher = "baseline"), then point '
            "teacher at the saved folder.",
        )
    if model.config.num_labels != len(label_names):
        raise UserInputError(
            f'The distillation teacher "{name}" predicts {model.config.num_labels} classes; the task has '
            f"{len(label_names)}.",
            "Use a teacher fine-tuned on the same labels.",
        )
    return model.eval(), AutoTokenizer.from_pretrained(source, trust_remote_code=False)


def _finetuned_teacher(config: DistillConfig, data: Any, max_length: int, ctx: CompressContext) -> tuple[Any, Any, str]:
    """The teacher fine-tuned on ``data``: from the cache, or trained now (metered) and cached.

    The key hashes the teacher's files, the rows, the labels and the settings, so any
    change trains a new teacher and nothing stale is reused.
    """
    import hashlib
    import json
    from pathlib import Path

    from transformers import AutoTokenizer

    from wattcut.models.gguf import cache_root
    from wattcut.models.loading import load_classifier_module, resolve_model_source
    from wattcut.settings import ModelConfig, TrainConfig
    from wattcut.tasks.sequence_classification import fine_tune

    model_cfg = ModelConfig(name_or_path=config.teacher)
    source = resolve_model_source(model_cfg)
    h = hashlib.sha256()
    folder = Path(source)
    if folder.is_dir():
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(folder)).encode() + f.read_bytes())
    else:
        h.update(source.encode())  # a hub id (with the hub's own caching)
    settings = [config.teacher_epochs, config.teacher_learning_rate, config.batch_size, max_length]
    h.update(json.dumps([data.texts, data.labels, data.label_names, settings]).encode())
    key = h.hexdigest()[:16]
    cached = cache_root().parent / "teachers" / key  # beside the GGUF conversions, under $WATTCUT_CACHE
    tok = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    if (cached / "wattcut_teacher.json").is_file():
        teacher, _ = _external_teacher(str(cached), data.label_names)
        return teacher, tok, f"cached teacher {key} (fine-tuned earlier; no energy spent now)"
    module = load_classifier_module(source, model_cfg, data.label_names)
    train = TrainConfig(
        epochs=config.teacher_epochs, batch_size=config.batch_size, learning_rate=config.teacher_learning_rate
    )
    with ctx.phase("teacher") as rec:
        rec.step = f"fine-tune {config.teacher} on {len(data)} rows (cached as {key})"
        fine_tune(module, tok, data, train, max_length, 0, rec)
    tmp = cached.with_name(key + ".partial")
    module.save_pretrained(tmp)
    (tmp / "wattcut_teacher.json").write_text(json.dumps({"teacher": config.teacher, "rows": len(data), "key": key}))
    tmp.rename(cached)  # complete or absent: a killed run leaves only a .partial folder
    return module.eval(), tok, f"teacher {key} fine-tuned now"


def _check_teacher(teacher: Any, tokenizer: Any, data: Any, max_length: int, margin: float, name: str) -> float:
    """Accuracy of the teacher on training rows; refuse one near chance."""
    import numpy as np
    import torch

    from wattcut.tasks.sequence_classification import encode

    texts, labels = data.texts[-CHECK_ROWS:], data.labels[-CHECK_ROWS:]
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            enc = encode(tokenizer, texts[i : i + 64], max_length)
            logits = teacher(**{k: torch.from_numpy(v) for k, v in enc.items()}).logits
            correct += int((logits.argmax(-1).numpy() == np.asarray(labels[i : i + 64])).sum())
    accuracy = correct / len(texts)
    majority = max(np.bincount(labels, minlength=len(data.label_names))) / len(labels)
    if accuracy < majority + margin:
        raise UserInputError(
            f'The distillation teacher "{name}" scores {accuracy:.3f} accuracy on {len(texts)} training rows, '
            f"not better than always predicting the majority class ({majority:.3f}) by {margin}: it is not "
            "fine-tuned on this task.",
            'Fine-tune the teacher first, or use teacher = "baseline" (this study\'s fine-tuned model).',
        )
    return accuracy


def _pool(hidden: Any, mask: Any) -> Any:
    """Mean of the hidden states over real (unpadded) tokens."""
    import torch

    m = torch.from_numpy(mask).unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def layer_map(student_layers: int, teacher_layers: int, notes: dict[str, Any] | None) -> list[int]:
    """For each student layer, the teacher hidden state it learns (index into ``hidden_states``; 0 = embeddings).

    A ``prune_layers`` student learns the outputs of the layers it was cut from; any other
    student maps its layers evenly onto the teacher's, the last onto the last.
    """
    cut = (notes or {}).get("prune_layers") or {}
    kept = cut.get("kept_layers")
    if kept is not None and len(kept) == student_layers and cut.get("of_layers") == teacher_layers:
        return [i + 1 for i in kept]
    return [round((j + 1) * teacher_layers / student_layers) for j in range(student_layers)]


def _layerwise_mse(s_hidden: Any, t_hidden: Any, mapped: list[int], mask: Any, projections: Any) -> Any:
    """Mean over the embeddings and every mapped layer of the token-level MSE, padding excluded."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    real = torch.from_numpy(mask).bool()  # [batch, tokens]: indexing keeps the real tokens' states
    pairs = [(s_hidden[0], t_hidden[0])] + [(s_hidden[j + 1], t_hidden[i]) for j, i in enumerate(mapped)]
    losses = [
        F.mse_loss((projections[k](s) if projections is not None else s)[real], t[real].clone())
        for k, (s, t) in enumerate(pairs)
    ]
    return torch.stack(losses).mean()


def _check_teacher_source(config: DistillConfig) -> None:
    """An external teacher's folder or package must exist and be safe to load: checked before any training."""
    if config.teacher == "baseline":
        return
    from wattcut.models.loading import resolve_model_source
    from wattcut.settings import ModelConfig

    resolve_model_source(ModelConfig(name_or_path=config.teacher))


@technique(
    "distill",
    DistillConfig,
    check_inputs=_check_teacher_source,
    search=SearchSpace("recover", fixed=(("samples", 2000), ("learning_rate", 1e-4)), cap_to_train_rows=("samples",)),
    uses_cost_profile=True,
)
def apply(model: Any, config: DistillConfig, ctx: CompressContext) -> Any:
    """Knowledge distillation from a fine-tuned teacher (KL at temperature T x T^2, plus CE).

    Distil into ``model.module`` in place; returns the handle.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    from wattcut.data import TextDataset
    from wattcut.tasks.sequence_classification import encode, length_grouped_batches
    from wattcut.ui import bar

    data = ctx.train_data
    if config.train_rows is not None:
        if ctx.train_rows is None:
            raise UserInputError("distill train_rows needs the study's [data] table.", "Run it in a study with [data].")
        data = ctx.train_rows(config.train_rows)
    if data is None or len(data) == 0:
        raise UserInputError("distill needs the study's training split.", "Add [data].")
    teacher_note = ""
    if config.teacher == "baseline":
        if ctx.teacher is None:
            raise UserInputError('distill with teacher = "baseline" needs a study baseline.', "Run it in a study.")
        teacher, teacher_tok = ctx.teacher.module.eval(), ctx.tokenizer
    elif config.teacher_finetune:
        teacher, teacher_tok, teacher_note = _finetuned_teacher(config, data, ctx.max_length, ctx)
    else:
        teacher, teacher_tok = _external_teacher(config.teacher, data.label_names)
    teacher_acc = _check_teacher(teacher, teacher_tok, data, ctx.max_length, config.min_teacher_margin, config.teacher)
    if config.samples is not None and config.samples < len(data):
        data = TextDataset(data.texts[: config.samples], data.labels[: config.samples], data.label_names, data.source)

    student = model.module
    t, alpha = config.temperature, config.alpha
    epochs = config.warmup_epochs + config.epochs
    steps = epochs * math.ceil(len(data) / config.batch_size)
    projection = projections = mapped = None
    params = list(student.parameters())
    widths = (student.config.hidden_size, teacher.config.hidden_size)
    if config.hidden_weight > 0 and config.hidden_layers == "last":  # student width -> teacher width, learned
        projection = torch.nn.Linear(*widths)
        params += list(projection.parameters())
    elif config.hidden_weight > 0:
        mapped = layer_map(student.config.num_hidden_layers, teacher.config.num_hidden_layers, model.notes)
        if widths[0] != widths[1]:  # one learned projection per matched state, as TinyBERT
            projections = torch.nn.ModuleList(torch.nn.Linear(*widths) for _ in range(len(mapped) + 1))
            params += list(projections.parameters())
    hidden = config.hidden_weight > 0
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, (steps - s) / steps))
    lengths = [len(x.split()) for x in data.texts]
    from wattcut.compress.finetune import energy_gates

    gates = energy_gates(model, config, ctx, "distill")
    step = 0
    with ctx.phase("distill") as rec, bar("distill", steps) as advance:
        note = f"; {teacher_note}" if teacher_note else ""
        rec.step = (
            f"teacher {config.teacher} (training-row accuracy {teacher_acc:.3f}){note}; {len(data)} training rows"
        )
        student.train()
        for epoch in range(epochs):
            distilling = epoch >= config.warmup_epochs  # the first warmup_epochs learn from the labels only
            for idx in length_grouped_batches(lengths, config.batch_size, ctx.seed * 1000 + 17 + epoch):
                texts = [data.texts[i] for i in idx]
                labels = torch.tensor([data.labels[i] for i in idx])
                # 1. Student forward and the hard-label loss.
                s_enc = encode(ctx.tokenizer, texts, ctx.max_length)
                s_out = student(**{k: torch.from_numpy(v) for k, v in s_enc.items()}, output_hidden_states=hidden)
                ce = F.cross_entropy(s_out.logits, labels)
                loss = ce if not distilling else (1 - alpha) * ce
                if distilling:
                    # 2. Teacher forward (no gradient), each model with its own tokenizer.
                    with torch.inference_mode():
                        t_enc = encode(teacher_tok, texts, ctx.max_length)
                        t_out = teacher(
                            **{k: torch.from_numpy(v) for k, v in t_enc.items()},
                            output_hidden_states=hidden,
                        )
                    t_logits = t_out.logits.clone()  # leave inference mode for the loss graph
                    s_soft = F.log_softmax(s_out.logits / t, -1)
                    kd = F.kl_div(s_soft, F.softmax(t_logits / t, -1), reduction="batchmean")
                    loss = loss + alpha * t * t * kd
                    if projection is not None:
                        s_pool = _pool(s_out.hidden_states[-1], s_enc["attention_mask"])
                        t_pool = _pool(t_out.hidden_states[-1].clone(), t_enc["attention_mask"])
                        loss = loss + config.hidden_weight * F.mse_loss(projection(s_pool), t_pool)
                    elif mapped is not None:
                        mask = s_enc["attention_mask"]  # same tokenizer: the same tokens on both sides
                        mse = _layerwise_mse(s_out.hidden_states, t_out.hidden_states, mapped, mask, projections)
                        loss = loss + config.hidden_weight * mse
                if gates is not None:  # 3. The energy penalty (its gates step with the student).
                    loss = loss + gates.penalty(step, steps)
                # 4. Step.
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if gates is not None:
                    gates.step()
                step += 1
                rec.samples += len(idx)
                rec.tokens += int(s_enc["attention_mask"].sum())
                advance(1)
        student.eval()
    if gates is not None:
        model.notes = {**(model.notes or {}), "distill": gates.finish()}
    return model
