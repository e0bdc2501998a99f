"""Static INT8 on ONNX Runtime: QDQ graph, per-channel weights, activation ranges calibrated on training data.

Unlike ``ort_int8_dynamic``, activation scales are fixed ahead of time from a calibration
pass (in its own metered ``calibrate`` window), so no per-call min/max is computed at
run time. Takes a PyTorch model, exported unfused: on a graph fused by ``ort_optimize``
onnxruntime's QDQ quantizer leaves the fused Attention ops in fp32 and only adds weight
dequantization around them, which is slower than the fused fp32 graph (for the fused
graph use ``ort_int8_dynamic``, whose QAttention kernel quantizes it). Evaluation items
are never used to calibrate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class OrtInt8StaticConfig:
    """Settings for ``ort_int8_static``.

    Attributes:
        samples: Training items (texts or images) run through the model to calibrate activation ranges.
        calibrate_method: ``minmax``, ``entropy`` or ``percentile`` (onnxruntime's calibrators).
        activations: ``uint8`` (u8s8: the fast path on AVX2/AVX-512 CPUs) or ``int8``.
        per_channel: Per-output-channel weight scales.
        reduce_range: 7-bit weights, for CPUs without VNNI where u8s8 products can saturate.
        opset: ONNX opset used for the export (when given a PyTorch model).
    """

    samples: int = 200
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    activations: Literal["uint8", "int8"] = "uint8"
    per_channel: bool = True
    reduce_range: bool = False
    opset: int = 17
    version: int = 1

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise UserInputError(
                f'technique "ort_int8_static": samples = {self.samples} must be 1 or more.', "Use about 100-500."
            )


class _Inputs:
    """onnxruntime CalibrationDataReader over model inputs (one training item each), counted into ``rec``."""

    def __init__(self, inputs: list[dict[str, Any]], names: list[str], rec: Any) -> None:
        self._it = iter(inputs)
        self.names = names
        self.rec = rec

    def get_next(self) -> dict[str, Any] | None:
        item = next(self._it, None)
        if item is None:
            return None
        self.rec.samples += 1
        if "attention_mask" in item:
            self.rec.tokens += int(item["attention_mask"].sum())
        return {k: v for k, v in item.items() if k in self.names}


@technique(
    "ort_int8_static",
    OrtInt8StaticConfig,
    returns="onnxruntime",
    kinds=("sequence-classifier", "image-classifier"),
    deterministic=True,
    search=SearchSpace("runtime"),
)
def apply(model: Any, config: OrtInt8StaticConfig, ctx: CompressContext) -> Any:
    """Static INT8 on ONNX Runtime: QDQ, per-channel weights, activations calibrated on training data.

    Export, calibrate (on training texts or images, never evaluation items) and quantize the operators the
    model's handle declares (an encoder's MatMuls, a CNN's convolutions); returns an ``OnnxClassifier``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from wattcut.runtimes.ort import OnnxClassifier, export_onnx

    inputs = ctx.calibration_inputs(config.samples, 1) if ctx.calibration_inputs is not None else []
    if not inputs:
        raise UserInputError(
            "ort_int8_static needs calibration data (the study's training split).", "Add [data] or a task that trains."
        )
    src = export_onnx(model, ctx.workdir / "model.fp32.onnx", opset=config.opset)
    names = [i.name for i in onnx.load(str(src), load_external_data=False).graph.input]
    out = ctx.workdir / "model.int8-static.onnx"
    method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[config.calibrate_method]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "please consider pre-processing" advice on every call
    try:
        with ctx.phase("calibrate") as rec:
            rec.step = f"{len(inputs)} training items, {config.calibrate_method}"
            quantize_static(
                src,
                out,
                _Inputs(inputs, names, rec),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8 if config.activations == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=config.per_channel,
                reduce_range=config.reduce_range,
                calibrate_method=method,
                op_types_to_quantize=list(model.quantizable_ops),
                extra_options={
                    "CalibTensorRangeSymmetric": config.activations == "int8",
                    "DefaultTensorType": onnx.TensorProto.FLOAT,  # outputs of fused contrib ops (Attention)
                },
            )
    finally:
        root.setLevel(level)
    src.unlink()
    return OnnxClassifier(out, model.input_names, threads=ctx.threads, precision="int8-static")
