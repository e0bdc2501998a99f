"""GGUF quantization with llama.cpp's own quantizer, served by llama.cpp (seed 002's Ollama engine).

The variant's current PyTorch weights are written as an f16 GGUF (tokenizer metadata from
the GGUF the model was read from), then ``llama_model_quantize`` converts them to the
requested type: the k-quant ladder (Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K) or the classic
types (Q8_0, Q4_0...). ``F16`` and ``F32`` skip quantization: they are the unquantized
reference on the same runtime.

Importance matrices (llama.cpp's ``--imatrix``) are not offered: the Python binding cannot
pass one to the quantizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.compress.base import CompressContext, technique
from wattcut.errors import UserInputError

UNQUANTIZED = {"F32": "ALL_F32", "F16": "MOSTLY_F16"}


@dataclass(frozen=True)
class GgufQuantizeConfig:
    """Settings for ``gguf_quantize``.

    Attributes:
        type: A llama.cpp quantization type: Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K, ...; F16 or F32.
        context: llama.cpp context length (tokens) when serving.
    """

    type: str = "Q4_K_M"
    context: int = 2048
    version: int = 1


def known_types() -> dict[str, int]:
    """The types the installed llama.cpp knows, name → ``llama_ftype`` value."""
    from wattcut.runtimes.llamacpp import require

    llama_cpp = require()
    prefix = "LLAMA_FTYPE_MOSTLY_"
    out = {name[len(prefix) :]: int(getattr(llama_cpp, name)) for name in dir(llama_cpp) if name.startswith(prefix)}
    out["F32"] = int(llama_cpp.LLAMA_FTYPE_ALL_F32)
    return out


def check_inputs(config: GgufQuantizeConfig) -> None:
    """llama.cpp is installed and knows ``type``; checked before any model work."""
    types = known_types()
    if config.type.upper() not in types:
        raise UserInputError(
            f'gguf_quantize: type = "{config.type}" is not a quantization type the installed llama.cpp knows.',
            f"Use one of: {', '.join(sorted(types))}.",
        )


@technique(
    "gguf_quantize",
    GgufQuantizeConfig,
    takes="pytorch",
    returns="llamacpp",
    summary="write a GGUF and quantize it with llama.cpp (Q8_0, Q4_K_M, ...); served by llama.cpp",
    kinds=("causal-lm",),
    check_inputs=check_inputs,
    deterministic=True,
)
def apply(model: Any, config: GgufQuantizeConfig, ctx: CompressContext) -> Any:
    """Export f16 (or f32), quantize, and return a :class:`~wattcut.runtimes.llamacpp.LlamaCppLM`."""
    from pathlib import Path

    from wattcut.models.gguf import source_gguf
    from wattcut.models.gguf_export import check_exportable, write_gguf
    from wattcut.runtimes.llamacpp import LlamaCppLM, require

    llama_cpp = require()
    kind = config.type.upper()
    ftype = known_types()[kind]
    template = source_gguf(ctx.model_source) if ctx.model_source else None
    check_exportable(model.module.config, template)
    assert template is not None
    dtype = "f32" if kind == "F32" else "f16"
    exported = write_gguf(model.module, template, Path(ctx.workdir) / f"model-{dtype}.gguf", dtype=dtype)
    if kind in UNQUANTIZED:
        return LlamaCppLM(exported, ctx.threads, kind.lower(), n_ctx=config.context)
    out = Path(ctx.workdir) / f"model-{kind}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = ctx.threads
    from wattcut.runtimes.quiet import native_output_to

    with native_output_to(Path(ctx.workdir) / "quantize.log"):  # one line per tensor otherwise
        code = llama_cpp.llama_model_quantize(str(exported).encode(), str(out).encode(), params)
    if code != 0 or not out.is_file():
        raise UserInputError(
            f"llama.cpp could not quantize the model to {kind} (return code {code}).",
            "Some types need tensor shapes this model lacks (k-quants need rows divisible by 256): try Q8_0 or Q4_0.",
        )
    exported.unlink()  # the f16 intermediate is not part of the variant
    return LlamaCppLM(out, ctx.threads, f"GGUF {kind}", n_ctx=config.context)
