"""An early-exit classifier on ONNX Runtime: one graph per segment between exits, a loop that stops.

The PyTorch early-exit model (``runtimes/early_exit.py``) is cut at its exits into
segments, each exported as its own ONNX graph:

- the first takes the token inputs and runs the embeddings and the layers up to the first
  exit; every segment but the last returns its hidden states and its exit's logits;
- the next ones take ``hidden`` and ``attention_mask`` and run the layers up to the next exit;
- the last runs the remaining layers and the model's own pooler and classifier.

Serving runs the segments in order; after each exit, the rows whose confidence passes the
threshold return its logits and leave the batch, so an easy request runs only its first
segments. No layer runs twice. The segments can be INT8-quantized one by one
(``ort_int8_dynamic`` after ``early_exit``), which composes exits with the static
compression. The exit depth of every row served goes to ``depth_log``, as in PyTorch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from wattcut.runtimes.base import Capabilities, Handle, ModelFacts

META_FILE = "early_exit.json"


def export_segments(handle: Any, folder: Path, opset: int = 17) -> list[Path]:
    """Export the segments of a PyTorch ``EarlyExitClassifier`` to ``folder/segment-K.onnx``; returns their paths."""
    import warnings

    import torch

    from wattcut.runtimes.early_exit import backbone_parts, pooled

    module = handle.module
    parts = backbone_parts(module)
    names = handle.input_names
    bounds = [0, *handle.exits, handle.n_layers]
    heads = list(handle.heads)

    class Segment(torch.nn.Module):
        def __init__(self, k: int) -> None:
            super().__init__()
            self.k = k
            # every module the segment uses is a submodule, so the tracer exports its weights as initializers
            self.embeddings: Any = parts.encoder.embeddings if k == 0 else None
            self.layers = torch.nn.ModuleList(list(parts.layers)[bounds[k] : bounds[k + 1]])
            self.head = heads[k] if k < len(heads) else None
            self.pooler = parts.encoder.pooler if self.head is None else None
            self.classifier: Any = module.classifier if self.head is None else None

        def forward(self, *args: torch.Tensor) -> Any:
            if self.k == 0:
                feed = dict(zip(names, args, strict=True))
                x = self.embeddings(input_ids=feed["input_ids"], token_type_ids=feed.get("token_type_ids"))
                mask = feed["attention_mask"]
            else:
                x, mask = args
            # the additive mask that eager attention adds to its scores: 0 on tokens, a large negative on padding
            ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
            for layer in self.layers:
                x = layer(x, ext)
                x = x[0] if isinstance(x, tuple) else x
            if self.head is None:  # the model's own head (dropout is the identity in eval mode)
                return self.classifier(self.pooler(x) if self.pooler is not None else x[:, 0])
            return x, self.head(pooled(x, mask, handle.pooling))

    folder.mkdir(parents=True, exist_ok=True)
    cfg = module.config
    attn = getattr(cfg, "_attn_implementation", None)
    cfg._attn_implementation = "eager"  # a 4D additive mask, traced as plain ops
    paths = []
    try:
        for k in range(len(bounds) - 1):
            seg = Segment(k).eval()
            last = k == len(bounds) - 2
            if k == 0:
                inputs = names
                example: tuple[torch.Tensor, ...] = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
            else:
                inputs = ["hidden", "attention_mask"]
                example = (torch.zeros((2, 8, cfg.hidden_size)), torch.ones((2, 8), dtype=torch.long))
            outputs = ["logits"] if last else ["hidden_out", "logits"]
            axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in inputs}
            axes["logits"] = {0: "batch"}
            if not last:
                axes["hidden_out"] = {0: "batch", 1: "sequence"}
            path = folder / f"segment-{k}.onnx"
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer chatter; the export is checked against PyTorch by tests
                torch.onnx.export(
                    seg,
                    example,
                    str(path),
                    input_names=inputs,
                    output_names=outputs,
                    dynamic_axes=axes,
                    opset_version=opset,
                    dynamo=False,
                )
            paths.append(path)
    finally:
        cfg._attn_implementation = attn
    return paths


class OrtEarlyExitClassifier(Handle):
    """Exit segments in ONNX Runtime CPU sessions, served with per-row stopping (module docstring)."""

    runtime = "onnxruntime"
    capabilities = Capabilities(threads=True, depth_log=True)

    def __init__(
        self,
        paths: list[Path],
        input_names: list[str],
        exits: list[int],
        n_layers: int,
        threshold: float,
        criterion: str,
        threads: int,
        precision: str,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.input_names = list(input_names)
        self.exits, self.n_layers = list(exits), n_layers
        self.threshold, self.criterion = threshold, criterion
        self.precision = precision
        self.depth_log: list[int] = []
        self.sweep: tuple[float, ...] = ()
        self.notes: dict[str, Any] = {}
        self.set_threads(threads)

    def set_threads(self, threads: int) -> None:
        """Serve with ``threads`` intra-op threads (new sessions on the same files)."""
        import onnxruntime as ort

        self.threads = threads
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sessions = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in self.paths]
        first = {i.name for i in self.sessions[0].get_inputs()}
        self.input_names = [n for n in self.input_names if n in first]

    def _run(self, k: int, x: Any, batch: dict[str, np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
        if k == 0:
            feed = {n: batch[n].astype(np.int64) for n in self.input_names}
        else:
            feed = {"hidden": x, "attention_mask": mask}
        return self.sessions[k].run(None, feed)

    def exit_logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Every exit's logits and the final ones, ``[rows, exits + 1, labels]`` (for the threshold sweep)."""
        mask = batch["attention_mask"].astype(np.int64)
        outs, x = [], None
        for k in range(len(self.sessions)):
            res = self._run(k, x, batch, mask)
            x = res[0] if len(res) == 2 else None
            outs.append(res[-1])
        return np.stack(outs, 1).astype(np.float32)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits; each row leaves at its first confident exit (its depth goes to ``depth_log``)."""
        from scipy.special import entr, softmax

        mask = batch["attention_mask"].astype(np.int64)
        rows = mask.shape[0]
        out: np.ndarray | None = None
        depth = np.full(rows, self.n_layers)
        alive = np.arange(rows)
        x = None
        for k in range(len(self.sessions)):
            res = self._run(k, x, batch, mask)
            logits = np.asarray(res[-1], dtype=np.float32)
            if out is None:
                out = np.empty((rows, logits.shape[-1]), dtype=np.float32)
            if len(res) == 1:  # the last segment: everyone left answers here
                out[alive] = logits
                break
            probs = softmax(logits, axis=-1)
            done = (
                entr(probs).sum(-1) <= self.threshold
                if self.criterion == "entropy"
                else probs.max(-1) >= self.threshold
            )
            x = res[0]
            if done.any():
                out[alive[done]] = logits[done]
                depth[alive[done]] = self.exits[k]
                keep = ~done
                if not keep.any():
                    break
                alive, x, mask = alive[keep], x[keep], mask[keep]
                batch = {n: v[keep] for n, v in batch.items()} if k == 0 else batch
        self.depth_log.extend(depth.tolist())
        assert out is not None
        return out

    def save(self, folder: Path) -> Path:
        """The segment graphs and the exit settings (JSON)."""
        folder.mkdir(parents=True, exist_ok=True)
        for p in self.paths:
            shutil.copy2(p, folder / p.name)
        meta = {
            "runtime": self.runtime,
            "segments": [p.name for p in self.paths],
            "input_names": self.input_names,
            "exits": self.exits,
            "n_layers": self.n_layers,
            "threshold": self.threshold,
            "criterion": self.criterion,
            "precision": self.precision,
        }
        (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return folder

    @classmethod
    def from_folder(cls, folder: Path, threads: int = 0) -> OrtEarlyExitClassifier:
        """Read a folder written by :meth:`save` (ONNX graphs and JSON: nothing is executed)."""
        m = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        paths = [folder / name for name in m["segments"]]
        return cls(
            paths, m["input_names"], m["exits"], m["n_layers"], m["threshold"], m["criterion"], threads, m["precision"]
        )

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters and bytes of all segments together."""
        from wattcut.runtimes.ort import OnnxClassifier

        total = nonzero = size = 0
        for p in self.paths:
            f = OnnxClassifier.facts_of(p)
            total, nonzero, size = total + f.parameters, nonzero + f.nonzero_parameters, size + f.file_size_bytes
        artifact = f"{len(self.paths)} onnx segments (exits after layers {self.exits})"
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, artifact)

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """Not counted for segment graphs (the PyTorch early-exit model reports the full-depth FLOPs)."""
        return None
