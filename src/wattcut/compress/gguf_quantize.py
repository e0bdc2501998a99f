"""GGUF quantization with llama.cpp's own tools, served by llama.cpp (seed 002's Ollama engine).

The variant's current PyTorch weights are saved as a Hugging Face folder and converted by
llama.cpp's ``convert_hf_to_gguf.py`` to an f16 GGUF, in a metered ``convert`` phase: any
architecture the converter supports (Llama, Qwen2/3, Gemma 2/3, Phi-3, Mistral, GPT-2...),
and pruned or fine-tuned decoders alike, since the input is the variant's saved folder.
Converted files are cached by content (:mod:`wattcut.models.llama_tools`). Optionally
``llama-imatrix`` computes an importance matrix on calibration text (WikiText-2's validation
split by default, or the primary task's training texts; never evaluated text) in a metered
``calibrate`` phase. ``llama-quantize`` then writes the requested type: the k-quant ladder
(Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K) or the classic types (Q8_0, Q4_0...). ``F16`` and
``F32`` skip quantization: they are the unquantized reference on the same runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattcut.compress.base import CompressContext, SearchSpace, technique
from wattcut.errors import UserInputError

UNQUANTIZED = {"F32": "f32", "F16": "f16"}


@dataclass(frozen=True)
class GgufQuantizeConfig:
    """Settings for ``gguf_quantize``.

    Attributes:
        type: A llama.cpp quantization type: Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K, ...; F16 or F32.
        context: llama.cpp context length (tokens) when serving.
        imatrix: Compute llama.cpp's importance matrix on calibration text and quantize with it.
        calibration: ``"task"`` (the primary task's calibration texts) or a text file (found like data
            files); WikiText-2's validation split by default.
        calibration_chunks: Windows of ``calibration_tokens`` tokens the importance matrix reads.
        calibration_tokens: Tokens per calibration window (llama-imatrix ``-c``).
    """

    type: str = "Q4_K_M"
    context: int = 2048
    imatrix: bool = False
    calibration: str = "wikitext2/wiki.valid.tokens"
    calibration_chunks: int = 32
    calibration_tokens: int = 512
    version: int = 2

    def __post_init__(self) -> None:
        if self.context < 16 or self.calibration_chunks < 1 or self.calibration_tokens < 16:
            raise UserInputError(
                "gguf_quantize: context and calibration_tokens must be 16 or more, calibration_chunks 1 or more.",
                "Correct them.",
            )
        if self.imatrix and self.type.upper() in UNQUANTIZED:
            raise UserInputError(
                f"gguf_quantize: imatrix = true with type = {self.type}, which is not quantized: there is nothing "
                "for an importance matrix to weigh.",
                "Choose a quantized type (Q4_K_M, Q3_K_M...) or turn imatrix off.",
            )


def known_types() -> dict[str, int]:
    """The types the installed llama.cpp knows, name → ``llama_ftype`` value."""
    from wattcut.runtimes.llamacpp import require

    llama_cpp = require()
    prefix = "LLAMA_FTYPE_MOSTLY_"
    out = {name[len(prefix) :]: int(getattr(llama_cpp, name)) for name in dir(llama_cpp) if name.startswith(prefix)}
    out["F32"] = int(llama_cpp.LLAMA_FTYPE_ALL_F32)
    return out


def check_inputs(config: GgufQuantizeConfig) -> None:
    """llama.cpp and its tools are installed, ``type`` is known, the calibration file exists."""
    from wattcut.models import llama_tools

    types = known_types()
    if config.type.upper() not in types:
        raise UserInputError(
            f'gguf_quantize: type = "{config.type}" is not a quantization type the installed llama.cpp knows.',
            f"Use one of: {', '.join(sorted(types))}.",
        )
    llama_tools.require()
    if config.imatrix and config.calibration != "task":
        from wattcut.tasks.lm import find_data_file

        find_data_file(config.calibration, "gguf_quantize calibration")


def check_source(config: GgufQuantizeConfig, source: str) -> None:
    """The model's architecture is one llama.cpp's converter supports (exit 2 naming it otherwise)."""
    from wattcut.models import llama_tools

    llama_tools.check_convertible(source, "gguf_quantize")


def converted_f16(model: Any, ctx: CompressContext, outtype: str = "f16") -> Any:
    """The variant's weights as a GGUF by llama.cpp's converter (cached by content), in a ``convert`` window.

    Returns :class:`~wattcut.models.llama_tools.Converted`; ``ov_weight_compress`` starts from it too.
    """
    import shutil

    from wattcut.models import llama_tools

    work = Path(ctx.workdir)
    hf = work / "hf"
    with ctx.phase("convert"):
        model.module.save_pretrained(hf)  # the variant as it is now (pruned, fine-tuned...)
        ctx.tokenizer.save_pretrained(hf)
        llama_tools.check_convertible(hf, "GGUF conversion")
        converted = llama_tools.convert(hf, outtype, work / "convert.log")
    shutil.rmtree(hf, ignore_errors=True)
    return converted


def calibration_file(config: GgufQuantizeConfig, ctx: CompressContext) -> Path:
    """The text the importance matrix reads: a data file, or the task's calibration texts written out."""
    from wattcut.tasks.lm import find_data_file

    if config.calibration != "task":
        return find_data_file(config.calibration, "gguf_quantize calibration")
    path = Path(ctx.workdir) / "calibration.txt"
    path.write_text("\n\n".join(ctx.calibration_texts), encoding="utf-8")
    return path


@technique(
    "gguf_quantize",
    GgufQuantizeConfig,
    returns="llamacpp",
    kinds=("causal-lm",),
    check_inputs=check_inputs,
    check_source=check_source,
    deterministic=True,
    search=SearchSpace("runtime", knobs=(("type", ("Q8_0", "Q4_K_M")),)),
)
def apply(model: Any, config: GgufQuantizeConfig, ctx: CompressContext) -> Any:
    """Convert with llama.cpp's converter, quantize with llama-quantize (Q8_0, Q4_K_M, imatrix...); llama.cpp.

    Convert, optionally compute an importance matrix, quantize; returns a ``LlamaCppLM``.
    """
    from wattcut.models import llama_tools
    from wattcut.runtimes.llamacpp import LlamaCppLM

    kind = config.type.upper()
    work = Path(ctx.workdir)
    converted = converted_f16(model, ctx, UNQUANTIZED.get(kind, "f16"))
    notes = {"converter": "llama.cpp convert_hf_to_gguf.py", "converted_from_cache": converted.cached}
    if kind in UNQUANTIZED:
        lm = LlamaCppLM(converted.path, ctx.threads, kind.lower(), n_ctx=config.context)
        lm.notes = notes
        return lm
    matrix = None
    if config.imatrix:
        text = calibration_file(config, ctx)
        with ctx.phase("calibrate"):
            matrix = llama_tools.imatrix(
                converted.path,
                text,
                config.calibration_chunks,
                config.calibration_tokens,
                ctx.threads,
                work / "imatrix.log",
            )
        notes.update(imatrix_text=str(text), imatrix_from_cache=matrix.cached)
    out = llama_tools.quantize(
        converted.path,
        work / f"model-{kind}.gguf",
        kind,
        ctx.threads,
        work / "quantize.log",
        None if matrix is None else matrix.path,
    )
    lm = LlamaCppLM(out, ctx.threads, f"GGUF {kind}" + (" (imatrix)" if matrix else ""), n_ctx=config.context)
    lm.notes = notes
    return lm
