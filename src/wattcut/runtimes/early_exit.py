"""An encoder classifier with exit heads, run layer by layer in PyTorch (see ``compress/early_exit.py``).

Supports BERT-style sequence classifiers whose module has ``bert`` (embeddings, encoder
layers, pooler), ``dropout`` and ``classifier``: BERT, MiniLM. The exit depth of every row
served is appended to ``depth_log`` (the number of layers it ran), which the runner and
the task read to record the distribution of exit layers.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wattcut.errors import UserInputError
from wattcut.runtimes.base import Capabilities
from wattcut.runtimes.pytorch import TorchClassifier

HEADS_FILE = "early_exit.safetensors"
META_FILE = "early_exit.json"


@dataclass
class Parts:
    """The pieces of a BERT-style classifier that a layer-by-layer forward needs."""

    encoder: Any  # BertModel
    layers: Any  # ModuleList of encoder layers
    head: Any  # (sequence_output -> logits): the model's own pooler + dropout + classifier


def backbone_parts(module: Any) -> Parts:
    """Find embeddings, layers and head of a BERT-style classifier, or say what is supported."""
    bert = getattr(module, "bert", None)
    if bert is None or getattr(bert, "encoder", None) is None or getattr(module, "classifier", None) is None:
        raise UserInputError(
            f"early_exit runs BERT-style classifiers layer by layer (module.bert + module.classifier); "
            f"{type(module).__name__} is not one.",
            "Use it with BERT or MiniLM models, or leave it out of this variant.",
        )

    def head(seq: torch.Tensor) -> torch.Tensor:
        pooled = bert.pooler(seq) if bert.pooler is not None else seq[:, 0]
        return module.classifier(module.dropout(pooled))

    return Parts(bert, bert.encoder.layer, head)


def exit_head(module: Any) -> torch.nn.Module:
    """Dense + tanh + linear on [CLS], initialised from the model's own pooler and classifier."""
    bert = module.bert
    hidden = module.config.hidden_size
    head = torch.nn.Sequential(
        torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, module.config.num_labels)
    )
    dense, out = head[0], head[2]
    with torch.no_grad():
        if bert.pooler is not None:
            dense.weight.copy_(bert.pooler.dense.weight)  # type: ignore[operator]
            dense.bias.copy_(bert.pooler.dense.bias)  # type: ignore[operator]
        out.weight.copy_(module.classifier.weight)  # type: ignore[operator]
        out.bias.copy_(module.classifier.bias)  # type: ignore[operator]
    return head


def pooled(x: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """An exit head's input: the [CLS] vector, or the mask-weighted mean of the token states."""
    if pooling == "cls":
        return x[:, 0]
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


def confident(probs: torch.Tensor, criterion: str, threshold: float) -> torch.Tensor:
    """Rows whose prediction passes the threshold."""
    if criterion == "entropy":
        return torch.special.entr(probs).sum(-1) <= threshold
    return probs.max(-1).values >= threshold


class EarlyExitClassifier(TorchClassifier):
    """A ``TorchClassifier`` whose forward stops at the first confident exit."""

    capabilities = Capabilities(threads=True, depth_log=True, module=True)

    def __init__(
        self, module: Any, heads: Any, exits: list[int], threshold: float, criterion: str, pooling: str = "cls"
    ) -> None:
        super().__init__(module)
        self.heads = heads
        self.exits = list(exits)
        self.threshold = threshold
        self.criterion = criterion
        self.pooling = pooling
        self.depth_log: list[int] = []
        self.sweep: tuple[float, ...] = ()
        self.notes: dict[str, Any] = {}

    @classmethod
    def attach(
        cls, module: Any, exits: list[int], threshold: float, criterion: str, pooling: str = "cls"
    ) -> EarlyExitClassifier:
        """New exit heads after ``exits`` layers of ``module``."""
        backbone_parts(module)
        heads = torch.nn.ModuleList([exit_head(module) for _ in exits])
        return cls(module, heads, exits, threshold, criterion, pooling)

    @property
    def n_layers(self) -> int:
        """Layers of the full-depth path."""
        return len(self.module.bert.encoder.layer)

    def _embed(self, feed: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        bert = self.module.bert
        x = bert.embeddings(input_ids=feed["input_ids"], token_type_ids=feed.get("token_type_ids"))
        mask = feed.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(feed["input_ids"])
        return x, mask

    def _mask(self, x: torch.Tensor, mask: torch.Tensor) -> Any:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.module.config, inputs_embeds=x, attention_mask=mask)

    def all_states(self, feed: dict[str, torch.Tensor]) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """Hidden states after every layer (keyed by layer count) and the final logits, no exiting."""
        x, mask = self._embed(feed)
        ext = self._mask(x, mask)
        states = {}
        for i, layer in enumerate(self.module.bert.encoder.layer):
            x = layer(x, ext)
            x = x[0] if isinstance(x, tuple) else x
            states[i + 1] = x
        return states, backbone_parts(self.module).head(x)

    def exit_logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Every exit's logits and the final ones, ``[rows, exits + 1, labels]`` (for the threshold sweep)."""
        feed = {k: torch.from_numpy(v) for k, v in batch.items() if k in self.input_names}
        with torch.inference_mode():
            states, final = self.all_states(feed)
            mask = feed.get("attention_mask", torch.ones_like(feed["input_ids"]))
            outs = [h(pooled(states[e], mask, self.pooling)) for h, e in zip(self.heads, self.exits, strict=True)]
            outs.append(final)
        return torch.stack(outs, 1).float().numpy()

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits; each row leaves at its first confident exit (its depth goes to ``depth_log``)."""
        feed = {k: torch.from_numpy(v) for k, v in batch.items() if k in self.input_names}
        with self.serving(), torch.inference_mode():
            return self._forward(feed).float().numpy()

    def _forward(self, feed: dict[str, torch.Tensor]) -> torch.Tensor:
        x, mask = self._embed(feed)
        rows = x.shape[0]
        out = torch.empty(rows, self.module.config.num_labels)
        depth = np.full(rows, self.n_layers)
        alive = torch.arange(rows)
        heads = dict(zip(self.exits, self.heads, strict=True))
        ext = self._mask(x, mask)
        for i, layer in enumerate(self.module.bert.encoder.layer):
            x = layer(x, ext)
            x = x[0] if isinstance(x, tuple) else x
            head = heads.get(i + 1)
            if head is None:
                continue
            logits = head(pooled(x, mask, self.pooling))
            done = confident(torch.softmax(logits.float(), -1), self.criterion, self.threshold)
            if bool(done.any()):
                out[alive[done]] = logits[done].float()
                depth[alive[done].numpy()] = i + 1
                keep = ~done
                if not bool(keep.any()):
                    self.depth_log.extend(depth.tolist())
                    return out
                alive, x, mask = alive[keep], x[keep], mask[keep]
                ext = self._mask(x, mask)
        out[alive] = backbone_parts(self.module).head(x).float()
        self.depth_log.extend(depth.tolist())
        return out

    def clone(self) -> EarlyExitClassifier:
        """A deep copy."""
        c = EarlyExitClassifier(
            copy.deepcopy(self.module),
            copy.deepcopy(self.heads),
            self.exits,
            self.threshold,
            self.criterion,
            self.pooling,
        )
        c.sweep, c.threads = self.sweep, self.threads
        return c

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """FLOPs of the full-depth path (an exit saves from there; ``depth_log`` says how often)."""
        return TorchClassifier(self.module).flops_per_sequence(seq_len)

    def save(self, folder: Path) -> Path:
        """The backbone as a Hugging Face folder, plus the exit heads (safetensors) and their settings (JSON)."""
        from safetensors.torch import save_file

        super().save(folder)
        save_file({k: v.contiguous() for k, v in self.heads.state_dict().items()}, str(folder / HEADS_FILE))
        meta = {"exits": self.exits, "threshold": self.threshold, "criterion": self.criterion, "pooling": self.pooling}
        (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return folder

    @classmethod
    def from_folder(cls, folder: Path) -> EarlyExitClassifier:
        """Read a folder written by :meth:`save` (safetensors only: nothing is executed)."""
        from safetensors.torch import load_file

        from wattcut.models import structure

        module = structure.load(folder).eval()
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        handle = cls.attach(module, meta["exits"], meta["threshold"], meta["criterion"], meta.get("pooling", "cls"))
        handle.heads.load_state_dict(load_file(str(folder / HEADS_FILE)))
        handle.heads.eval()
        return handle

    def facts(self, workdir: Path) -> Any:
        """As ``TorchClassifier``, with the exit heads' parameters and file counted."""
        from dataclasses import replace

        from wattcut.runtimes.base import folder_bytes

        base = TorchClassifier(self.module).facts(workdir)
        import tempfile

        n = sum(p.numel() for p in self.heads.parameters())
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            size = folder_bytes(self.save(Path(tmp)))
        return replace(
            base,
            parameters=base.parameters + n,
            nonzero_parameters=base.nonzero_parameters + n,
            file_size_bytes=size,
            artifact=base.artifact + " + exit heads (safetensors)",
        )


def sweep(
    exit_logits: np.ndarray,
    labels: np.ndarray,
    exits: list[int],
    n_layers: int,
    criterion: str,
    thresholds: tuple[float, ...],
    per_item: bool = False,
) -> list[dict[str, Any]]:
    """Accuracy and exit depths per threshold, from every exit's logits of the same items."""
    from scipy.special import entr, softmax

    probs = softmax(exit_logits, axis=-1)
    depths = [*exits, n_layers]
    rows = []
    for t in thresholds:
        ok = entr(probs).sum(-1) <= t if criterion == "entropy" else probs.max(-1) >= t
        ok[:, -1] = True  # the final layer always answers
        first = ok.argmax(1)
        pred = probs[np.arange(len(first)), first].argmax(-1)
        d = np.asarray(depths)[first]
        rows.append(
            {
                "threshold": t,
                "accuracy": float(np.mean(pred == labels)),
                "mean_depth": float(d.mean()),
                "depth_counts": {str(k): int((d == k).sum()) for k in depths},
                **({"depths": d.tolist()} if per_item else {}),
            }
        )
    return rows
