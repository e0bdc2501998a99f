"""OpenVINO CPU runtime: classifiers converted from PyTorch and compiled by the CPU plugin."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wattcut.runtimes.base import Capabilities, Handle, ModelFacts, folder_bytes
from wattcut.runtimes.pytorch import TorchClassifier
from wattcut.runtimes.registry import RuntimeSpec, register


def to_openvino(model: TorchClassifier) -> Any:
    """Convert a PyTorch classifier to an OpenVINO model with the dynamic axes its handle declares."""
    import warnings

    import openvino as ov

    module, inputs, axes = model.export_spec()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(module.eval(), example_input=tuple(inputs.values()))
    for port, (name, example) in zip(ov_model.inputs, inputs.items(), strict=True):
        port.get_tensor().set_names({name})
        dims = [-1 if i in axes.get(name, {}) else int(d) for i, d in enumerate(example.shape)]
        ov_model.reshape({port: ov.PartialShape(dims)})
    return ov_model


class OpenVinoClassifier(Handle):
    """A classifier compiled by the OpenVINO CPU plugin.

    The inference precision is always set explicitly and recorded: OpenVINO silently runs
    bf16 on CPUs with AMX or AVX-512 BF16 when left to its default.
    """

    runtime = "openvino"
    capabilities = Capabilities(threads=True, performance_hint=True)

    def __init__(
        self,
        ov_model: Any,
        input_names: list[str],
        threads: int,
        weights: str,
        hint: str = "f32",
        performance_hint: str = "LATENCY",
    ) -> None:
        import openvino as ov

        self.ov_model = ov_model
        self.input_names = input_names
        self.hint = hint
        self.weights = weights
        self.performance_hint = performance_hint
        self._threads = threads
        config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
        if performance_hint == "LATENCY":
            config["NUM_STREAMS"] = "1"
        if hint != "default":
            config["INFERENCE_PRECISION_HINT"] = hint
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(ov_model, "CPU", config)
        hinted = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # what the plugin really uses
        actual = hinted.get_type_name() if hasattr(hinted, "get_type_name") else str(hinted)
        self.precision = f"{weights} (compute {actual})"
        self._request = self.compiled.create_infer_request()
        self._dtypes = {
            n: np.float32 if self.compiled.input(n).get_element_type() == ov.Type.f32 else np.int64
            for n in self.input_names
        }

    def set_threads(self, threads: int) -> None:
        """Serve with ``threads`` inference threads (recompiles the same model)."""
        self.__init__(self.ov_model, self.input_names, threads, self.weights, self.hint, self.performance_hint)  # type: ignore[misc]

    def set_performance_hint(self, hint: str) -> None:
        """Recompile with OpenVINO's ``LATENCY`` (one stream) or ``THROUGHPUT`` (the plugin's streams) hint."""
        self.__init__(self.ov_model, self.input_names, self._threads, self.weights, self.hint, hint)  # type: ignore[misc]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``."""
        result = self._request.infer({k: batch[k].astype(self._dtypes[k], copy=False) for k in self.input_names})
        return np.asarray(result[self.compiled.output(0)], dtype=np.float32)

    def save(self, folder: Path) -> Path:
        """Save the OpenVINO IR (``model.xml`` + ``model.bin``, weights as they are)."""
        import openvino as ov

        folder.mkdir(parents=True, exist_ok=True)
        ov.save_model(self.ov_model, folder / "model.xml", compress_to_fp16=False)
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Count constant elements and measure the saved IR (``.xml`` + ``.bin``, no fp16 compression)."""
        import openvino as ov

        total = nonzero = 0
        for op in self.ov_model.get_ops():
            if op.get_type_name() == "Constant":
                data = op.get_data()
                if data.ndim >= 2:  # weight matrices and embeddings; scales and shapes are not parameters
                    total += data.size
                    nonzero += int(np.count_nonzero(data))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            ov.save_model(self.ov_model, Path(tmp) / "model.xml", compress_to_fp16=False)
            size = folder_bytes(Path(tmp))
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, "OpenVINO IR (xml + bin)")


register(
    RuntimeSpec(
        "openvino",
        "classifiers (INT8, weight-only)",
        ("openvino",),
        "pip install openvino",
        kinds=("sequence-classifier", "image-classifier"),
    )
)
