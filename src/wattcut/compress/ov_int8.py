"""INT8 post-training static quantization with NNCF, run by OpenVINO.

The PyTorch model is converted to OpenVINO, NNCF inserts INT8 quantizers for weights and
activations, calibrated on texts from the training split (the ``calibrate`` phase, timed
and metered on its own), and the OpenVINO CPU plugin compiles it with an explicit
inference precision. The fast INT8 path on CPUs with VNNI/AMX; activations in INT8 can
cost small models accuracy, which every variant's evaluation shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, nncf_to_stderr, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class OvInt8Config:
    """Settings for ``ov_int8_static``.

    Attributes:
        calibration_samples: Training texts used to calibrate activation ranges.
        calibration_batch_size: Texts per calibration batch.
        preset: NNCF preset: ``mixed`` (asymmetric activations) or ``performance``.
        inference_precision: OpenVINO ``INFERENCE_PRECISION_HINT`` for the non-INT8 parts:
            ``f32``, ``bf16`` (fast on AMX CPUs) or ``default`` (the plugin's choice).
        smooth_quant: Keep NNCF's SmoothQuant for transformers (its default) or turn it off.
    """

    calibration_samples: int = 256
    calibration_batch_size: int = 16
    preset: Literal["mixed", "performance"] = "mixed"
    inference_precision: Literal["f32", "bf16", "default"] = "f32"
    smooth_quant: bool = True
    version: int = 1

    def __post_init__(self) -> None:
        if self.calibration_samples < 1 or self.calibration_batch_size < 1:
            raise UserInputError(
                'technique "ov_int8_static": calibration_samples and calibration_batch_size must be at least 1.',
                "Correct them.",
            )


@technique(
    "ov_int8_static",
    OvInt8Config,
    returns="openvino",
    kinds=("sequence-classifier", "image-classifier"),
    deterministic=True,
)
def apply(model: Any, config: OvInt8Config, ctx: CompressContext) -> Any:
    """NNCF INT8 static PTQ (weights and activations), calibrated on training data, on OpenVINO.

    Convert, calibrate (training texts or images, never evaluation items) and quantize; returns an
    ``OpenVinoClassifier``.
    """
    import nncf

    from wattcut.runtimes.ov import OpenVinoClassifier, to_openvino

    fetch = ctx.calibration_inputs
    batches = [] if fetch is None else fetch(config.calibration_samples, config.calibration_batch_size)
    if not batches:
        raise UserInputError("ov_int8_static needs calibration data, and the training split is empty.", "Add data.")
    ov_model = to_openvino(model)
    names = model.input_names
    with ctx.phase("calibrate") as rec:
        dataset = nncf.Dataset(batches, lambda b: {k: b[k] for k in names})
        advanced = None
        if not config.smooth_quant:
            from nncf.quantization.advanced_parameters import (
                AdvancedQuantizationParameters,
                AdvancedSmoothQuantParameters,
            )

            advanced = AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1))
        with nncf_to_stderr():
            quantized = nncf.quantize(
                ov_model,
                dataset,
                preset=nncf.QuantizationPreset.MIXED
                if config.preset == "mixed"
                else nncf.QuantizationPreset.PERFORMANCE,
                model_type=nncf.ModelType.TRANSFORMER if model.architecture == "transformer" else None,
                subset_size=len(batches),
                advanced_parameters=advanced,
            )
        rec.samples = sum(len(next(iter(b.values()))) for b in batches)
        rec.tokens = sum(int(b["attention_mask"].sum()) for b in batches if "attention_mask" in b)
    return OpenVinoClassifier(quantized, names, ctx.threads, "int8 weights+activations", config.inference_precision)
