"""ONNX Runtime CPU runtime: classifiers exported from PyTorch, run in an InferenceSession."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from wattcut.runtimes.base import Capabilities, Handle, ModelFacts
from wattcut.runtimes.pytorch import TorchClassifier
from wattcut.runtimes.registry import RuntimeSpec, register


def export_onnx(model: TorchClassifier, path: Path, opset: int = 17) -> Path:
    """Export a PyTorch classifier to ONNX with the dynamic axes its handle declares (``export_spec``)."""
    import warnings

    module, inputs, axes = model.export_spec()
    names = list(inputs)
    # The wrapper must be in eval mode too: the legacy exporter traces the wrapper's own
    # training flag, and dropout in the trace would make ONNX disagree with PyTorch.
    wrapper = module.eval()
    example = tuple(inputs.values())
    axes = {**axes, "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; export is checked by tests
        torch.onnx.export(
            wrapper,
            example,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,  # the dynamo exporter needs onnxscript; TorchScript export is enough here
        )
    return path


class OnnxClassifier(Handle):
    """A classifier running in an ONNX Runtime CPU session."""

    runtime = "onnxruntime"
    capabilities = Capabilities(threads=True)
    fused_ops: dict[str, int] | None = None  # set by ort_optimize: the fused operator counts

    def __init__(self, path: Path, input_names: list[str], threads: int, precision: str) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.input_names = input_names
        self.precision = precision
        self.threads = threads
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        # the graph's inputs (a fused graph may drop token_type_ids, which BERT-style models ignore at 0)
        graph = {i.name: i.type for i in self.session.get_inputs()}
        self.input_names = [n for n in input_names if n in graph]
        self._dtypes = {n: np.float32 if graph[n] == "tensor(float)" else np.int64 for n in self.input_names}

    def set_threads(self, threads: int) -> None:
        """Serve with ``threads`` intra-op threads (a new session on the same file)."""
        self.__init__(self.path, self.input_names, threads, self.precision)  # type: ignore[misc]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``."""
        feed = {k: batch[k].astype(self._dtypes[k], copy=False) for k in self.input_names}
        return np.asarray(self.session.run(["logits"], feed)[0], dtype=np.float32)

    def save(self, folder: Path) -> Path:
        """Copy the ``.onnx`` file into ``folder``."""
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path, folder / "model.onnx")
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Count initializer elements and measure the ``.onnx`` file."""
        return self.facts_of(self.path, self.precision)

    @staticmethod
    def facts_of(path: Path, precision: str = "") -> ModelFacts:
        """Initializer elements (all, non-zero) and the size of one ``.onnx`` file."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        total = nonzero = 0
        for init in graph.initializer:
            arr = numpy_helper.to_array(init)
            if arr.ndim == 0:
                continue  # scalars are scales and zero points, not parameters
            total += arr.size
            nonzero += int(np.count_nonzero(arr))
        return ModelFacts(total, nonzero, Path(path).stat().st_size, "onnxruntime", precision, "onnx file")


register(
    RuntimeSpec(
        "onnxruntime",
        "classifiers (INT8)",
        ("onnxruntime",),
        "pip install onnxruntime",
        kinds=("sequence-classifier", "image-classifier"),
    )
)
