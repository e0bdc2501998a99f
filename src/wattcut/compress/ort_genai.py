"""ONNX Runtime GenAI's model builder: a decoder LM as int4, int8 or fp32 ONNX with a KV cache.

The portable route to a fast quantized decoder on any CPU (a wheel, no compiler). The
builder reads the variant's current weights from a saved Hugging Face folder, so pruned,
low-rank or distilled decoders convert as well as the baseline. Weight-only int4/int8
(MatMulNBits), round-to-nearest or llama.cpp-style k-quant, optionally with the most
sensitive matrices kept in int8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class OrtGenAIConfig:
    """Settings for ``ort_genai``.

    Attributes:
        precision: ``int4``, ``int8`` or ``fp32``.
        algo: ``rtn`` (round to nearest), ``k_quant``, ``k_quant_mixed`` (k-quant with the
            LM head and the most sensitive layers in int8) or ``k_quant_last`` (LM head in int8).
        block_size: Weights per quantization block.
        accuracy_level: MatMulNBits compute type: 4 = int8 activations (fastest on CPUs),
            1 = fp32 activations (most accurate).
        context: Longest sequence (prompt plus reply) the generator serves.
    """

    precision: Literal["int4", "int8", "fp32"] = "int4"
    algo: Literal["rtn", "k_quant", "k_quant_mixed", "k_quant_last"] = "k_quant_mixed"
    block_size: int = 32
    accuracy_level: int = 4
    context: int = 2048
    version: int = 1

    def __post_init__(self) -> None:
        if self.block_size not in (16, 32, 64, 128, 256) or self.accuracy_level not in (1, 2, 3, 4):
            raise UserInputError(
                "ort_genai: block_size must be 16, 32, 64, 128 or 256 and accuracy_level 1 to 4.", "Correct them."
            )


def check_inputs(config: OrtGenAIConfig) -> None:
    """ONNX Runtime GenAI (and onnx_ir) are installed."""
    from wattcut.runtimes.ort_genai import require

    require()


@technique(
    "ort_genai",
    OrtGenAIConfig,
    returns="onnxruntime-genai",
    kinds=("causal-lm",),
    check_inputs=check_inputs,
    deterministic=True,
    search=SearchSpace("runtime", knobs=(("precision", ("int4",)),)),
)
def apply(model: Any, config: OrtGenAIConfig, ctx: CompressContext) -> Any:
    """ONNX Runtime GenAI model builder: int4/int8/fp32 decoder with a KV cache (portable).

    Save the HF folder, run the builder; returns an :class:`~wattcut.runtimes.ort_genai.OrtGenAILM`.
    """
    import shutil
    from pathlib import Path

    from wattcut.runtimes.ort_genai import OrtGenAILM, build, set_threads

    work = Path(ctx.workdir)
    hf = work / "hf"
    model.module.save_pretrained(hf)
    ctx.tokenizer.save_pretrained(hf)
    extra = {}
    if config.precision != "fp32":
        extra = {
            "algo_config": config.algo,
            "block_size": str(config.block_size),
            "accuracy_level": str(config.accuracy_level),
        }
    out = build(hf, work / "ort-genai", config.precision, work / "builder.log", extra)
    shutil.rmtree(hf)
    set_threads(out, ctx.threads)
    label = (
        config.precision
        if config.precision == "fp32"
        else (
            f"{config.precision} weights b{config.block_size} ({config.algo}, accuracy level {config.accuracy_level})"
        )
    )
    return OrtGenAILM(out, ctx.threads, label, max_length=config.context)
