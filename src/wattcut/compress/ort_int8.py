"""INT8 dynamic quantization on ONNX Runtime.

Exports the PyTorch model to ONNX (fp32), then quantizes Linear/MatMul weights to INT8
with ``onnxruntime.quantization.quantize_dynamic``; activations are quantized at run time.
This is the portable INT8 path (any x86 or ARM CPU). Small encoders such as MiniLM can
lose accuracy here (microsoft/onnxruntime #9599), which is why every variant is evaluated.

After ``early_exit`` the model is exported as one graph per segment between exits, each
quantized the same way, and served with per-row stopping (``runtimes/ort_early_exit.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, SearchSpace, technique


@dataclass(frozen=True)
class OrtInt8DynamicConfig:
    """Settings for ``ort_int8_dynamic``.

    Attributes:
        per_channel: Per-output-channel weight scales (often worse for BERT-style models).
        reduce_range: 7-bit weights, for CPUs without VNNI where 8-bit can overflow.
        opset: ONNX opset used for the export.
    """

    per_channel: bool = False
    reduce_range: bool = False
    opset: int = 17
    version: int = 1


@technique(
    "ort_int8_dynamic",
    OrtInt8DynamicConfig,
    takes=("pytorch", "onnxruntime"),
    returns="onnxruntime",
    keeps_exits=True,
    deterministic=True,
    search=SearchSpace("runtime", follows=("ort_optimize",)),
)
def apply(model: Any, config: OrtInt8DynamicConfig, ctx: CompressContext) -> Any:
    """Export to ONNX (or take a fused graph) and quantize weights to INT8, dynamic activations, on ONNX Runtime.

    Export (from PyTorch) or copy (a fused ONNX model), quantize, open a session; returns an ``OnnxClassifier``.
    """
    import shutil

    from wattcut.runtimes.ort import OnnxClassifier, export_onnx

    if hasattr(model, "exit_logits") and model.runtime == "pytorch":
        return _early_exit(model, config, ctx)
    fused = ""
    if model.runtime == "pytorch":
        fp32 = export_onnx(model, ctx.workdir / "model.fp32.onnx", opset=config.opset)
    else:  # a fused fp32 graph from ort_optimize: its Attention ops become QAttention
        fp32 = ctx.workdir / "model.fp32.onnx"
        shutil.copy2(model.path, fp32)
        fused = "-fused" if "fused" in model.precision else ""
    int8 = ctx.workdir / "model.int8.onnx"
    _quantize(fp32, int8, config)
    fp32.unlink()  # only the quantized artifact is the variant
    return OnnxClassifier(int8, model.input_names, threads=ctx.threads, precision=f"int8-dynamic{fused}")


def _early_exit(model: Any, config: OrtInt8DynamicConfig, ctx: CompressContext) -> Any:
    """Each exit segment exported and quantized; an ``OrtEarlyExitClassifier`` with the model's exits."""
    from wattcut.runtimes.ort_early_exit import OrtEarlyExitClassifier, export_segments

    fp32 = export_segments(model, ctx.workdir / "segments-fp32", opset=config.opset)
    (ctx.workdir / "segments-int8").mkdir(exist_ok=True)
    int8 = [ctx.workdir / "segments-int8" / p.name for p in fp32]
    for src, dst in zip(fp32, int8, strict=True):
        _quantize(src, dst, config)
    handle = OrtEarlyExitClassifier(
        int8,
        model.input_names,
        model.exits,
        model.n_layers,
        model.threshold,
        model.criterion,
        ctx.threads,
        "int8-dynamic",
    )
    handle.sweep, handle.notes = model.sweep, dict(model.notes or {})
    return handle


def _quantize(fp32: Any, int8: Any, config: OrtInt8DynamicConfig) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic logs a generic "consider pre-processing" hint on the root logger
    # on every call; it is advice for static quantization of CNNs, not an error here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            fp32,
            int8,
            weight_type=QuantType.QInt8,
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            # shape inference cannot see through fused contrib ops (Attention): their outputs are float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
