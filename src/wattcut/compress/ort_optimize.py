"""Transformer graph fusion on ONNX Runtime: attention, LayerNorm and GELU fused into single kernels.

Exports the PyTorch model to ONNX (fp32) and runs the transformer optimizer shipped inside
the onnxruntime package (``onnxruntime.transformers.optimizer``), which rewrites the
unrolled attention subgraph into one ``Attention`` op, Add + LayerNorm into
``SkipLayerNormalization`` and the erf-GELU pattern into ``Gelu``/``BiasGelu``. At batch
1 on short inputs an encoder spends much of its time in small ops and their dispatch:
fusing them is where ONNX Runtime's speed on CPUs comes from. The fused graph can then be
quantized (``ort_int8_dynamic``, ``ort_int8_static``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, SearchSpace, technique


@dataclass(frozen=True)
class OrtOptimizeConfig:
    """Settings for ``ort_optimize``.

    Attributes:
        model_type: The optimizer's model family (``bert`` covers BERT, MiniLM, RoBERTa-style encoders).
        opset: ONNX opset used for the export.
    """

    model_type: str = "bert"
    opset: int = 17
    version: int = 1


def fuse(src: Any, dst: Any, module_config: Any, model_type: str) -> dict[str, int]:
    """Fuse ``src`` into ``dst``; returns the fused operator counts (e.g. ``{"Attention": 6}``)."""
    from onnxruntime.transformers import optimizer

    # The optimizer logs every fusion pass at INFO and warns about ops it leaves alone.
    log = logging.getLogger("onnxruntime.transformers")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        opt = optimizer.optimize_model(
            str(src),
            model_type=model_type,
            num_heads=int(getattr(module_config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(module_config, "hidden_size", 0) or 0),
            opt_level=0,  # the optimizer's own fusions only: the portable graph; ORT adds its own at load
        )
        opt.save_model_to_file(str(dst))
        return {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}
    finally:
        log.setLevel(level)


@technique("ort_optimize", OrtOptimizeConfig, returns="onnxruntime", deterministic=True, search=SearchSpace("runtime"))
def apply(model: Any, config: OrtOptimizeConfig, ctx: CompressContext) -> Any:
    """Export to ONNX and fuse attention, LayerNorm and GELU (onnxruntime.transformers optimizer), fp32.

    Export, fuse and open an ONNX Runtime session; returns an ``OnnxClassifier``.
    """
    from wattcut.errors import UserInputError
    from wattcut.runtimes.ort import OnnxClassifier, export_onnx

    if model.precision != "fp32":
        raise UserInputError(
            f"ort_optimize needs an fp32 PyTorch model; this one is {model.precision}.",
            "Put ort_optimize before quantization (it is followed by ort_int8_dynamic or ort_int8_static).",
        )
    # The optimizer matches the unrolled (eager) attention pattern; an SDPA export leaves attention unfused.
    cfg = model.module.config
    impl = getattr(cfg, "_attn_implementation", None)
    cfg._attn_implementation = "eager"
    try:
        fp32 = export_onnx(model, ctx.workdir / "model.fp32.onnx", opset=config.opset)
    finally:
        cfg._attn_implementation = impl
    fused = ctx.workdir / "model.fused.onnx"
    counts = fuse(fp32, fused, model.module.config, config.model_type)
    fp32.unlink()
    if "Attention" not in counts and "MultiHeadAttention" not in counts:
        raise UserInputError(
            f'ort_optimize found no attention subgraph to fuse in this model (model_type = "{config.model_type}"; '
            f"fused: {counts or 'nothing'}).",
            "Set model_type to the family of this encoder (bert, roberta...), or leave ort_optimize out: "
            "ort_int8_dynamic alone still runs on ONNX Runtime.",
        )
    handle = OnnxClassifier(fused, model.input_names, threads=ctx.threads, precision="fp32-fused")
    handle.fused_ops = counts
    return handle
