"""NNCF weight compression of a decoder LM (INT8, INT4; AWQ, scale estimation, GPTQ), served by OpenVINO GenAI.

The variant's weights are converted to an f16 GGUF by llama.cpp's own converter (as
``gguf_quantize`` does, cached by content), which OpenVINO GenAI's GGUF reader converts to
a stateful IR (cached too: that conversion is the slow part); NNCF then compresses the IR's
weights. Architectures: those OpenVINO GenAI's GGUF reader supports (:data:`OV_GGUF`);
any other is refused by ``validate`` and ``run`` alike. The
data-aware options run the model on calibration text in a metered ``calibrate`` phase.
Calibration text comes from WikiText-2's validation split by default (or the primary
task's training texts), never from the text a study evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wattcut.compress.base import CompressContext, SearchSpace, fraction, nncf_to_stderr, technique
from wattcut.errors import UserInputError


@dataclass(frozen=True)
class OvWeightCompressConfig:
    """Settings for ``ov_weight_compress``.

    Attributes:
        bits: ``int8`` (asymmetric, per channel), ``int4`` (symmetric, grouped) or ``none``
            (the unquantized reference on this runtime: f16 weights, which OpenVINO GenAI reads from
            GGUF, computed in f32).
        group_size: Weights per INT4 scale group.
        ratio: Share of the weights in INT4 (the rest INT8), for ``int4``.
        awq: Activation-aware weight quantization (needs calibration text).
        scale_estimation: Data-aware scale search (needs calibration text).
        gptq: GPTQ, the method of seed 003 (needs calibration text).
        calibration: ``"task"`` (the primary task's calibration texts) or a text file
            (found like data files); WikiText-2 validation by default.
        calibration_samples: Calibration sequences.
        calibration_tokens: Tokens per calibration sequence.
        inference_precision: OpenVINO ``INFERENCE_PRECISION_HINT`` (``f32`` keeps AMX hosts off bf16).
    """

    bits: Literal["int8", "int4", "none"] = "int8"
    group_size: int = 64
    ratio: float = 1.0
    awq: bool = False
    scale_estimation: bool = False
    gptq: bool = False
    calibration: str = "wikitext2/wiki.valid.tokens"
    calibration_samples: int = 32
    calibration_tokens: int = 128
    inference_precision: Literal["f32", "bf16", "default"] = "f32"
    version: int = 1

    @property
    def data_aware(self) -> bool:
        """Whether calibration text is needed."""
        return self.awq or self.scale_estimation or self.gptq

    def __post_init__(self) -> None:
        if self.ratio != 1.0:
            fraction("ov_weight_compress", "ratio", self.ratio)
        if self.data_aware and self.bits != "int4":
            raise UserInputError(
                'ov_weight_compress: awq, scale_estimation and gptq apply to bits = "int4" only.',
                'Set bits = "int4", or turn them off.',
            )
        if self.calibration_samples < 1 or self.calibration_tokens < 8:
            raise UserInputError(
                "ov_weight_compress: calibration_samples must be 1 or more and calibration_tokens 8 or more.",
                "Correct them.",
            )


def check_inputs(config: OvWeightCompressConfig) -> None:
    """OpenVINO GenAI is installed; a calibration file exists when the options need one."""
    from wattcut.runtimes.ov_genai import require

    require()
    if config.data_aware and config.calibration != "task":
        from wattcut.tasks.lm import find_data_file

        find_data_file(config.calibration, "ov_weight_compress calibration")


# GGUF architectures OpenVINO GenAI 2026.4's GGUF reader builds a model for (gguf_modeling.cpp).
OV_GGUF = ("llama", "qwen2", "qwen3", "gemma3")


def check_source(config: OvWeightCompressConfig, source: str) -> None:
    """The model converts to a GGUF that OpenVINO GenAI's reader supports, and a calibration file is long enough.

    Both are exit 2 from ``validate`` as from ``run``: a short calibration file would otherwise
    be found only when the variant is built, mid-study.
    """
    from wattcut.models import llama_tools

    llama_tools.check_convertible(source, "ov_weight_compress", OV_GGUF)
    if config.data_aware and config.calibration != "task":  # the task's texts are checked when they exist
        from wattcut.models.loading import load_tokenizer
        from wattcut.settings import ModelConfig

        _sequences(config, load_tokenizer(source, ModelConfig(name_or_path=source)), [])


def ir_folder(converted: Any, work: Any, threads: int) -> Any:
    """The stateful IR of a converted f16 GGUF, from the cache (keyed by the GGUF's content key) or made now."""
    import os
    import shutil

    from wattcut.models import llama_tools
    from wattcut.runtimes.ov_genai import MODEL_XML, ir_from_gguf

    cached = llama_tools.cache_dir() / f"{converted.key}-openvino"
    if (cached / MODEL_XML).is_file():
        return cached, True
    folder = ir_from_gguf(converted.path, work / "openvino", threads)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    shutil.copytree(folder, tmp)
    os.replace(tmp, cached) if not cached.exists() else shutil.rmtree(tmp)
    shutil.rmtree(folder)
    return cached, False


def calibration_sequences(config: OvWeightCompressConfig, ctx: CompressContext) -> list[list[int]]:
    """``calibration_samples`` token sequences of ``calibration_tokens`` each, cut from the calibration text.

    Raises:
        UserInputError: The text is too short for that many sequences.
    """
    return _sequences(config, ctx.tokenizer, ctx.calibration_texts)


def _sequences(config: OvWeightCompressConfig, tokenizer: Any, task_texts: Any) -> list[list[int]]:
    if config.calibration == "task":
        text = "\n\n".join(task_texts)
        where = "the primary task's calibration texts"
    else:
        from wattcut.tasks.lm import find_data_file

        path = find_data_file(config.calibration, "ov_weight_compress calibration")
        text = path.read_text(encoding="utf-8", errors="replace")
        where = str(path)
    ids = list(tokenizer(text[: 40 * config.calibration_samples * config.calibration_tokens])["input_ids"])
    n = config.calibration_tokens
    seqs = [ids[i : i + n] for i in range(0, len(ids) - n + 1, n)][: config.calibration_samples]
    if len(seqs) < config.calibration_samples:
        method = "GPTQ" if config.gptq else "AWQ" if config.awq else "scale estimation"
        raise UserInputError(
            f"ov_weight_compress: {method} needs {config.calibration_samples} calibration sequences of {n} tokens, "
            f"but {where} gives {len(seqs)} ({len(ids)} tokens).",
            "Give a longer calibration text, or lower calibration_samples or calibration_tokens.",
        )
    return seqs


@technique(
    "ov_weight_compress",
    OvWeightCompressConfig,
    returns="openvino-genai",
    kinds=("causal-lm",),
    check_inputs=check_inputs,
    check_source=check_source,
    deterministic=True,
    search=SearchSpace("runtime", knobs=(("bits", ("int8", "int4")),)),
)
def apply(model: Any, config: OvWeightCompressConfig, ctx: CompressContext) -> Any:
    """NNCF weight compression of a decoder LM (INT8, INT4, AWQ/GPTQ) on OpenVINO GenAI.

    Export, convert to IR, compress; returns an :class:`~wattcut.runtimes.ov_genai.OpenVinoLM`.
    """
    from pathlib import Path

    import numpy as np

    from wattcut.compress.gguf_quantize import converted_f16
    from wattcut.models import llama_tools
    from wattcut.runtimes.ov_genai import MODEL_XML, OpenVinoLM, require

    require()
    seqs = calibration_sequences(config, ctx) if config.data_aware else []  # fail on short text before work
    work = Path(ctx.workdir)
    if ctx.model_source:  # the baseline folder; the variant keeps its architecture
        llama_tools.check_convertible(ctx.model_source, "ov_weight_compress", OV_GGUF)
    converted = converted_f16(model, ctx)  # OpenVINO GenAI reads f16 GGUFs (not f32); computes in f32
    with ctx.phase("convert"):
        folder, ir_cached = ir_folder(converted, work, ctx.threads)
    notes = {"converter": "llama.cpp convert_hf_to_gguf.py, then OpenVINO GenAI's GGUF reader"}
    notes |= {"gguf_from_cache": converted.cached, "ir_from_cache": ir_cached}
    if config.bits == "none":
        lm = OpenVinoLM(folder, ctx.threads, "f16 weights, f32 compute (unquantized IR)", config.inference_precision)
        lm.notes = notes
        return lm

    import nncf
    import openvino as ov

    core = ov.Core()
    ir = core.read_model(str(folder / MODEL_XML))
    dataset = None
    if seqs:
        items = [
            {
                "input_ids": np.asarray([s], dtype=np.int64),
                "attention_mask": np.ones((1, len(s)), dtype=np.int64),
                "position_ids": np.arange(len(s), dtype=np.int64)[None],
                "beam_idx": np.zeros(1, dtype=np.int32),
            }
            for s in seqs
        ]
        dataset = nncf.Dataset(items)
    kwargs: dict[str, Any] = {}
    if config.bits == "int8":
        kwargs["mode"] = nncf.CompressWeightsMode.INT8_ASYM
    else:
        kwargs.update(mode=nncf.CompressWeightsMode.INT4_SYM, group_size=config.group_size, ratio=config.ratio)
        if dataset is not None:
            kwargs.update(
                dataset=dataset,
                subset_size=len(seqs),
                awq=config.awq,
                scale_estimation=config.scale_estimation,
                gptq=config.gptq,
            )
            if config.ratio < 1.0:
                kwargs["sensitivity_metric"] = nncf.SensitivityMetric.HESSIAN_INPUT_ACTIVATION
    with ctx.phase("calibrate") if dataset is not None else _nothing(), nncf_to_stderr():
        try:
            compressed = nncf.compress_weights(ir, **kwargs)
        except RuntimeError as e:
            if not config.gptq:
                raise
            # NNCF 3.4's GPTQ runs layer subgraphs that fail shape inference on OpenVINO GenAI's stateful IR
            raise UserInputError(
                f"NNCF's GPTQ failed on this model's stateful OpenVINO IR: {str(e).strip().splitlines()[-1][:200]}",
                "Use awq = true (optionally with scale_estimation = true) for data-aware INT4 instead.",
            ) from None
    # A new folder: the uncompressed IR's .bin is memory-mapped, and overwriting it would crash (SIGBUS).
    import shutil

    final = work / "openvino-compressed"
    final.mkdir(exist_ok=True)
    ov.save_model(compressed, str(final / MODEL_XML), compress_to_fp16=False)
    del ir, compressed
    for f in folder.iterdir():
        if not f.name.startswith("openvino_model."):
            shutil.copy2(f, final / f.name)  # tokenizer and detokenizer IRs, configs (the cached IR stays)
    folder = final
    method = "+".join(
        m for m, on in (("AWQ", config.awq), ("SE", config.scale_estimation), ("GPTQ", config.gptq)) if on
    )
    precision = f"{config.bits} weights" + (f" g{config.group_size}" if config.bits == "int4" else "")
    precision += f" ({method})" if method else ""
    lm = OpenVinoLM(folder, ctx.threads, precision, config.inference_precision)
    lm.notes = notes
    return lm


def _nothing() -> Any:
    from contextlib import nullcontext

    return nullcontext()
