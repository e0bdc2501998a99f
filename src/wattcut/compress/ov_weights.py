"""Weight-only INT8 / INT4 compression with NNCF (``compress_weights``), run by OpenVINO.

Weights are stored in INT8 or INT4 (grouped), activations stay in floating point. For
encoders at short sequences this is a size win, not a speed win (the compute is the
same): reported as such. For memory-bound decoder generation it also speeds up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, nncf_to_stderr, technique


@dataclass(frozen=True)
class OvWeightsConfig:
    """Settings for ``ov_weight_only``.

    Attributes:
        bits: ``int8`` (asymmetric, per channel) or ``int4`` (symmetric, grouped).
        group_size: Weights per INT4 scale group.
        ratio: Share of layers in INT4 (the rest INT8), for ``int4``.
        inference_precision: OpenVINO ``INFERENCE_PRECISION_HINT`` (``f32``, ``bf16``, ``default``).
    """

    bits: Literal["int8", "int4"] = "int8"
    group_size: int = 128
    ratio: float = 1.0
    inference_precision: Literal["f32", "bf16", "default"] = "f32"
    version: int = 1


@technique("ov_weight_only", OvWeightsConfig, returns="openvino", deterministic=True)
def apply(model: Any, config: OvWeightsConfig, ctx: CompressContext) -> Any:
    """NNCF weight-only INT8/INT4 on OpenVINO (a size win for encoders, not a speed win).

    Convert and compress weights; returns an ``OpenVinoClassifier``.
    """
    import nncf

    from wattcut.runtimes.ov import OpenVinoClassifier, to_openvino

    ov_model = to_openvino(model)
    with nncf_to_stderr():
        if config.bits == "int8":
            compressed = nncf.compress_weights(ov_model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        else:
            compressed = nncf.compress_weights(
                ov_model, mode=nncf.CompressWeightsMode.INT4_SYM, group_size=config.group_size, ratio=config.ratio
            )
    weights = f"{config.bits} weights" + (f" (g{config.group_size})" if config.bits == "int4" else "")
    return OpenVinoClassifier(compressed, model.input_names, ctx.threads, weights, config.inference_precision)
