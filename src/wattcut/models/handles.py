"""Runtime handles: one ``logits(batch)`` interface over PyTorch and ONNX Runtime.

Every variant, whatever runtime it ends on, is evaluated and timed through the same
three calls: ``logits(batch)``, ``facts(workdir)`` and ``input_names``. Batches are
dicts of int64 numpy arrays as produced by the tokenizer with ``return_tensors="np"``.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wattcut.models import sparse, structure


@dataclass(frozen=True)
class ModelFacts:
    """What a variant is, as stored with every result.

    Attributes:
        parameters: Parameter count (for ONNX: elements of all initializers).
        nonzero_parameters: Parameters that are not exactly zero.
        file_size_bytes: Size of the saved artifact on disk.
        runtime: ``pytorch`` or ``onnxruntime``.
        precision: Numeric format of the weights/compute (``fp32``, ``int8-dynamic``...).
        artifact: What was measured for the file size.
        flops_per_sequence: Floating-point operations of one forward pass on one sequence of
            ``max_length`` tokens, counted on the last float PyTorch form of the variant
            (quantization and runtime conversion change precision, not operation count;
            zeroed weights in dense matrices still count).
    """

    parameters: int
    nonzero_parameters: int
    file_size_bytes: int
    runtime: str
    precision: str
    artifact: str
    flops_per_sequence: int | None = None


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


class TorchClassifier:
    """A Hugging Face sequence classifier running in PyTorch eager mode."""

    runtime = "pytorch"

    def __init__(self, module: Any, precision: str = "fp32", storage: str = "dense") -> None:
        self.module = module
        self.precision = precision
        self.storage = storage  # "sparse": save zero-heavy matrices as values + bit mask (models/sparse.py)

    @property
    def input_names(self) -> list[str]:
        """Inputs the model's forward takes, among those a tokenizer produces."""
        import inspect

        params = inspect.signature(self.module.forward).parameters
        return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``, as float32 numpy."""
        feed = {k: torch.from_numpy(v) for k, v in batch.items() if k in self.input_names}
        with torch.inference_mode():
            return self.module(**feed).logits.float().numpy()

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """FLOPs of one forward pass on a ``[1, seq_len]`` input (None for quantized modules).

        Counted by ``torch.utils.flop_counter`` from the operations actually executed, so
        removed heads, neurons, layers and low-rank factors are reflected exactly.
        """
        from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

        def sdpa(q_shape: Any, k_shape: Any, v_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
            return int(sdpa_flop_count(q_shape, k_shape, v_shape))

        if self.precision != "fp32":
            return None  # quantized kernels are not aten matmuls: the counter would miss them
        feed = {n: torch.ones(1, seq_len, dtype=torch.long) for n in self.input_names}
        if "token_type_ids" in feed:
            feed["token_type_ids"] = torch.zeros(1, seq_len, dtype=torch.long)
        # Fused SDPA has no formula in the counter, which then decomposes it into a CPU kernel
        # it cannot see either: register the op itself (the overload stops decomposition,
        # the packet is what the counter looks up).
        op = torch.ops.aten.scaled_dot_product_attention
        counter = FlopCounterMode(display=False, custom_mapping={op: sdpa, op.default: sdpa})
        with counter, torch.inference_mode():
            self.module(**feed)
        return int(counter.get_total_flops())

    def clone(self) -> TorchClassifier:
        """A deep copy, so a technique can change it without touching the original."""
        return TorchClassifier(copy.deepcopy(self.module), self.precision, self.storage)

    def save(self, folder: Path) -> Path:
        """Save the model: an HF folder (float) or a ``torch.save`` state dict (quantized)."""
        folder.mkdir(parents=True, exist_ok=True)
        if any(t.is_quantized for v in self.module.state_dict().values() for t in _tensors(v)):
            torch.save(self.module, folder / "model.pt")  # whole module: quantized Linears need their classes
        elif self.storage == "sparse":
            sparse.save(self.module, folder)
        else:
            structure.save(self.module, folder)  # + remote code when heads/ranks/widths need it
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Count parameters and measure the saved size.

        Float models are saved with ``save_pretrained`` (safetensors); quantized modules,
        which transformers cannot serialise, with ``torch.save`` of the state dict.
        """
        total = nonzero = 0
        for value in self.module.state_dict().values():
            for t in _tensors(value):
                if t.is_quantized:
                    t = t.int_repr()
                if t.dtype in (torch.qint8, torch.quint8) or t.ndim == 0:
                    continue
                total += t.numel()
                nonzero += int(torch.count_nonzero(t))
        quantized = any(t.is_quantized for v in self.module.state_dict().values() for t in _tensors(v))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            if quantized:
                torch.save(self.module.state_dict(), Path(tmp) / "model.pt")
                artifact = "torch.save state_dict"
            elif self.storage == "sparse":
                sparse.save(self.module, Path(tmp))
                artifact = "sparse safetensors (non-zero values + bit mask)"
            else:
                structure.save(self.module, Path(tmp))
                artifact = "save_pretrained (safetensors)"
            size = _folder_bytes(Path(tmp))
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, artifact)


def _tensors(value: Any) -> list[Any]:
    """Tensors inside a state-dict value (packed quantized params are tuples)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    return []


class _LogitsOnly(torch.nn.Module):
    """Export wrapper: positional inputs in, logits out."""

    def __init__(self, module: Any, names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.names = names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.module(**dict(zip(self.names, args, strict=True))).logits


def export_onnx(model: TorchClassifier, path: Path, opset: int = 17) -> Path:
    """Export a ``TorchClassifier`` to ONNX with dynamic batch and sequence axes."""
    import warnings

    names = model.input_names
    # The wrapper must be in eval mode too: the legacy exporter traces the wrapper's own
    # training flag, and dropout in the trace would make ONNX disagree with PyTorch.
    wrapper = _LogitsOnly(model.module, names).eval()
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
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


class OnnxClassifier:
    """A classifier running in an ONNX Runtime CPU session."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, input_names: list[str], threads: int, precision: str) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.input_names = input_names
        self.precision = precision
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``."""
        feed = {k: batch[k].astype(np.int64) for k in self.input_names}
        return np.asarray(self.session.run(["logits"], feed)[0], dtype=np.float32)

    def save(self, folder: Path) -> Path:
        """Copy the ``.onnx`` file into ``folder``."""
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path, folder / "model.onnx")
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Count initializer elements and measure the ``.onnx`` file."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(self.path)).graph
        total = nonzero = 0
        for init in graph.initializer:
            arr = numpy_helper.to_array(init)
            if arr.ndim == 0:
                continue  # scalars are scales and zero points, not parameters
            total += arr.size
            nonzero += int(np.count_nonzero(arr))
        return ModelFacts(total, nonzero, self.path.stat().st_size, self.runtime, self.precision, "onnx file")


def to_openvino(model: TorchClassifier) -> Any:
    """Convert a ``TorchClassifier`` to an OpenVINO model with dynamic batch and sequence axes."""
    import warnings

    import openvino as ov

    names = model.input_names
    wrapper = _LogitsOnly(model.module, names).eval()
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(wrapper, example_input=example)
    for port, name in zip(ov_model.inputs, names, strict=True):
        port.get_tensor().set_names({name})
        ov_model.reshape({port: ov.PartialShape([-1, -1])})
    return ov_model


class OpenVinoClassifier:
    """A classifier compiled by the OpenVINO CPU plugin.

    The inference precision is always set explicitly and recorded: OpenVINO silently runs
    bf16 on CPUs with AMX or AVX-512 BF16 when left to its default.
    """

    runtime = "openvino"

    def __init__(self, ov_model: Any, input_names: list[str], threads: int, weights: str, hint: str = "f32") -> None:
        import openvino as ov

        self.ov_model = ov_model
        self.input_names = input_names
        self.hint = hint
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if hint != "default":
            config["INFERENCE_PRECISION_HINT"] = hint
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(ov_model, "CPU", config)
        hinted = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # what the plugin really uses
        actual = hinted.get_type_name() if hasattr(hinted, "get_type_name") else str(hinted)
        self.precision = f"{weights} (compute {actual})"
        self._request = self.compiled.create_infer_request()

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Class logits, shape ``[batch, num_labels]``."""
        result = self._request.infer({k: batch[k].astype(np.int64) for k in self.input_names})
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
            size = _folder_bytes(Path(tmp))
        return ModelFacts(total, nonzero, size, self.runtime, self.precision, "OpenVINO IR (xml + bin)")
