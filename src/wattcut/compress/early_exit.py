"""Early exit: a small classifier after encoder layers; an easy input stops at the first confident one.

Seed 004's dynamic inference. After each chosen layer an exit head (dense + tanh + linear,
the shape of BERT's own pooler and classifier, and initialised from them) predicts the
label from the mask-mean of the layer's token states (``pooling = "mean"``, the default:
an early layer's [CLS] vector has not yet gathered the sentence, its mean has), or from
the [CLS] vector (``pooling = "cls"``). The exits are trained by self-distillation from the model's own
final layer (soft targets at temperature ``temperature``, mixed with the gold labels by
``alpha``), with the backbone frozen, so the full-depth path is unchanged and training is
cheap: the [CLS] vectors of the training rows are computed once, then the heads are
trained on them for ``epochs``. This runs in its own metered ``train`` window.

At inference (``runtimes/early_exit.py``) the request runs layer by layer; after an exit
layer, rows whose confidence passes ``threshold`` (maximum probability, or entropy below
``threshold`` in nats) return that exit's logits and leave the batch; the rest go on. The
exit depth of every request is recorded. ``threshold`` is a variant setting; the
evaluation also sweeps ``sweep`` thresholds over the same items (every exit's prediction
is computed once), giving accuracy and mean depth per threshold on real inputs.

``ort_int8_dynamic`` after ``early_exit`` exports the model as one ONNX graph per segment
between exits and quantizes each (``runtimes/ort_early_exit.py``): exits composed with INT8
on ONNX Runtime. Other steps after ``early_exit`` are refused (they would drop the exits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, technique
from wattcut.errors import UserInputError

SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1.0)


@dataclass(frozen=True)
class EarlyExitConfig:
    """Settings for ``early_exit``.

    Attributes:
        threshold: Confidence at which a request stops (max probability in (0, 1]; with
            ``criterion = "entropy"``, the entropy in nats at or below which it stops).
        criterion: ``max_prob`` or ``entropy``.
        exits: Layers (1-based counts: 2 = after the second layer) that get an exit; default
            every layer but the last (which is the model's own classifier).
        epochs: Passes over the training rows for the exit heads.
        samples: Training rows used (None = the study's training split).
        learning_rate: AdamW learning rate for the heads.
        temperature: Softening of the final layer's distribution for self-distillation.
        alpha: Weight of the distillation loss (1 - alpha on the gold labels).
        sweep: Thresholds evaluated on the evaluation items besides ``threshold``.
        pooling: The exit heads' input: ``mean`` of the token states or the ``cls`` vector.
        train_rows: Rows of the full training split to train the exits on (None = the study's
            training subset); the frozen backbone's states are computed once, so more rows cost
            one inference pass each.
    """

    threshold: float = 0.9
    criterion: Literal["max_prob", "entropy"] = "max_prob"
    exits: tuple[int, ...] | None = None
    epochs: int = 8
    samples: int | None = None
    learning_rate: float = 1e-3
    temperature: float = 2.0
    alpha: float = 0.5
    batch_size: int = 64
    sweep: tuple[float, ...] = SWEEP
    pooling: Literal["mean", "cls"] = "mean"
    train_rows: int | None = None
    version: int = 2

    def __post_init__(self) -> None:
        where = 'technique "early_exit"'
        if self.criterion not in ("max_prob", "entropy"):
            raise UserInputError(f'{where}: criterion = "{self.criterion}" is unknown.', 'Use "max_prob" or "entropy".')
        if self.criterion == "max_prob" and not 0.0 < self.threshold <= 1.0:
            raise UserInputError(f"{where}: threshold = {self.threshold} must be in (0, 1].", "Correct it.")
        if self.criterion == "entropy" and self.threshold < 0:
            raise UserInputError(f"{where}: an entropy threshold must be >= 0 (nats).", "Correct it.")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.temperature <= 0:
            raise UserInputError(
                f"{where}: epochs, batch_size, learning_rate and temperature must be positive.", "Correct them."
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise UserInputError(f"{where}: alpha = {self.alpha} must be in [0, 1].", "Correct it.")
        if self.pooling not in ("mean", "cls"):
            raise UserInputError(f'{where}: pooling = "{self.pooling}" is unknown.', 'Use "mean" or "cls".')
        if (self.train_rows or 1) < 1:
            raise UserInputError(f"{where}: train_rows must be positive.", "Correct it.")
        if self.exits is not None and (not self.exits or min(self.exits) < 1):
            raise UserInputError(f"{where}: exits = {list(self.exits)} must be layer counts >= 1.", "Correct them.")


def _check_model(config: EarlyExitConfig, layers: int) -> int:
    if any(e >= layers for e in config.exits or ()):
        raise UserInputError(
            f"early_exit exits = {list(config.exits or ())} must be below the model's {layers} layers at that step "
            "(the last layer's exit is the model's own classifier).",
            f"Use layer counts from 1 to {layers - 1}.",
        )
    return layers


@technique("early_exit", EarlyExitConfig, layers_after=_check_model, adds_exits=True)
def apply(model: Any, config: EarlyExitConfig, ctx: CompressContext) -> Any:
    """Exit heads after encoder layers, self-distilled; easy inputs stop at the first confident exit.

    Attach and train exit heads; returns an early-exit handle.
    """
    import numpy as np
    import torch

    from wattcut.runtimes.early_exit import EarlyExitClassifier, backbone_parts, pooled

    if getattr(model, "precision", "fp32") != "fp32":
        raise UserInputError("early_exit needs an fp32 PyTorch model.", "Put quantization after early_exit.")
    parts = backbone_parts(model.module)
    n_layers = len(parts.layers)
    exits = sorted(set(config.exits)) if config.exits is not None else list(range(1, n_layers))
    data = ctx.train_data
    if config.train_rows is not None:
        if ctx.train_rows is None:
            raise UserInputError("early_exit train_rows needs the study's [data] table.", "Run it in a study.")
        data = ctx.train_rows(config.train_rows)
    if data is None or len(data) == 0:
        raise UserInputError(
            "early_exit trains its exits on the study's training split; none was given.", "Add [data]."
        )
    if config.samples is not None and config.samples < len(data):
        data = type(data)(data.texts[: config.samples], data.labels[: config.samples], data.label_names, data.source)
    handle = EarlyExitClassifier.attach(model.module, exits, config.threshold, config.criterion, config.pooling)
    torch.manual_seed(ctx.seed + 104729)
    with ctx.phase("train") as rec:
        # One pass of the frozen backbone gives every exit's input and the final layer's logits.
        cls, final = [], []
        model.module.eval()
        with torch.inference_mode():
            for start in range(0, len(data), 64):
                texts = data.texts[start : start + 64]
                enc = ctx.tokenizer(
                    texts, truncation=True, max_length=ctx.max_length, padding=True, return_tensors="pt"
                )
                states, logits = handle.all_states(dict(enc))
                mask = enc["attention_mask"]
                cls.append(torch.stack([pooled(states[e], mask, config.pooling) for e in exits], 1))
                final.append(logits)
                rec.samples += len(texts)
                rec.tokens += int(enc["attention_mask"].sum())
        x = torch.cat(cls)  # [rows, exits, hidden]
        teacher = torch.softmax(torch.cat(final) / config.temperature, -1)
        gold = torch.tensor(data.labels)
        params = [p for h in handle.heads for p in h.parameters()]
        opt = torch.optim.AdamW(params, lr=config.learning_rate)
        rng = np.random.default_rng(ctx.seed)
        handle.heads.train()
        for _ in range(config.epochs):
            for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // config.batch_size)):
                i = torch.from_numpy(idx)
                loss = torch.zeros(())
                for k, head in enumerate(handle.heads):
                    out = head(x[i, k])
                    kd = torch.nn.functional.kl_div(
                        torch.log_softmax(out / config.temperature, -1), teacher[i], reduction="batchmean"
                    )
                    ce = torch.nn.functional.cross_entropy(out, gold[i])
                    loss = loss + config.alpha * kd * config.temperature**2 + (1 - config.alpha) * ce
                opt.zero_grad()
                loss.backward()
                opt.step()
                rec.samples += len(idx)
        handle.heads.eval()
    handle.sweep = tuple(config.sweep)
    handle.threads = getattr(model, "threads", 0)
    return handle
