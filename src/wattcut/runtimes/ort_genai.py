"""ONNX Runtime GenAI: the portable decoder runtime (a wheel; no compiler), int4 or fp32 models.

Its model builder converts any Hugging Face decoder folder, wattcut's own variants
included, into an ONNX model with a KV cache plus ``genai_config.json``. The generator
serves all three calls: the logits of every appended token (perplexity, label scoring,
with ``rewind_to`` to keep a shared prefix) and greedy generation one token at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wattcut.errors import UserInputError
from wattcut.runtimes.base import Capabilities, FolderHandle, ModelFacts, folder_bytes, token_logp
from wattcut.runtimes.registry import LLM_EXTRA, RuntimeSpec, register
from wattcut.runtimes.streaming import TokenClock, greedy


def require() -> Any:
    """The ``onnxruntime_genai`` module (and ``onnx_ir``, which its builder needs but does not declare)."""
    try:
        import onnx_ir  # noqa: F401
        import onnxruntime_genai
    except ImportError as e:
        raise UserInputError(
            f"The ONNX Runtime GenAI runtime needs {e.name or 'onnxruntime-genai'}, which is not installed.",
            'Install the language-model extra: pip install -e ".[llm]" (scripts/setup.sh --llm does).',
        ) from None
    return onnxruntime_genai


def build(hf_folder: Path, out: Path, precision: str, log: Path, extra: dict[str, str] | None = None) -> Path:
    """Run the model builder on ``hf_folder`` (``int4``, ``int8`` or ``fp32`` for the CPU); its chatter goes to ``log``.

    Raises:
        UserInputError: The builder does not support the model's architecture.
    """
    import logging

    require()
    from onnxruntime_genai.models import builder

    from wattcut.runtimes.quiet import native_output_to

    options = [f"{k}={v}" for k, v in (extra or {}).items()]
    cache = out.parent / f".{out.name}-cache"
    logging.getLogger("neural_compressor").setLevel(logging.WARNING)  # one INFO line per matrix otherwise
    with native_output_to(log):
        try:
            parsed = builder.parse_extra_options(None, str(hf_folder), str(out), precision, "cpu", str(cache), options)
            builder.create_model(None, str(hf_folder), str(out), precision, "cpu", str(cache), **parsed)
        except NotImplementedError as e:
            raise UserInputError(
                f"ONNX Runtime GenAI's model builder cannot convert this model: {e}",
                "Use another runtime for it (llama.cpp through gguf_quantize, or OpenVINO).",
            ) from None
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    return out


class OrtGenAILM(FolderHandle):
    """A model-builder folder served by ONNX Runtime GenAI; the same calls as ``TorchCausalLM``."""

    runtime = "onnxruntime-genai"
    capabilities = Capabilities(load_phase=True)

    def __init__(self, folder: Path, threads: int, precision: str, max_length: int = 2048) -> None:
        self.folder = Path(folder)
        self.threads = threads
        self.precision = precision
        self.max_length = max_length
        self._model: Any = None
        self._prefix: tuple[tuple[int, ...], Any] | None = None

    def load(self) -> None:
        """Load the model now (then not part of the first request)."""
        self.model()

    def model(self) -> Any:
        """The loaded ``og.Model`` (intra-op threads set through its config)."""
        if self._model is None:
            og = require()
            config = og.Config(str(self.folder))
            config.clear_providers()  # CPU
            self._model = og.Model(config)
            # Thread count: the session options in genai_config.json (written at build time, see set_threads).
        return self._model

    def _generator(self) -> Any:
        og = require()
        params = og.GeneratorParams(self.model())
        params.set_search_options(max_length=self.max_length, do_sample=False)
        return og.Generator(self.model(), params)

    def _logits(self, gen: Any, ids: list[int]) -> np.ndarray:
        gen.append_tokens(np.asarray([ids], dtype=np.int32))
        return np.asarray(gen.get_output("logits"), dtype=np.float64)[0]

    @staticmethod
    def _log_softmax(x: np.ndarray) -> np.ndarray:
        from scipy.special import log_softmax

        return np.asarray(log_softmax(x, axis=-1))

    def _check_len(self, n: int) -> None:
        if n > self.max_length:
            raise UserInputError(
                f"A sequence of {n} tokens is longer than the ONNX Runtime GenAI limit ({self.max_length}).",
                "Lower the task's max_length or max_new_tokens.",
            )

    def token_logprobs(self, ids: list[int]) -> np.ndarray:
        """``log p(ids[i] | ids[:i])`` for ``i = 1 .. len(ids) - 1`` (float64)."""
        self._check_len(len(ids))
        return token_logp(self._logits(self._generator(), ids)[:-1], ids[1:])

    def next_token_logits(self, ids: list[int]) -> np.ndarray:
        """Logits of the next token at positions ``0 .. len(ids) - 2`` (float32)."""
        self._check_len(len(ids))
        return self._logits(self._generator(), ids)[:-1].astype(np.float32)

    def continuation_loglikelihoods(
        self, context: list[int], continuations: list[list[int]], prefix_len: int = 0
    ) -> list[float]:
        """``sum log p(continuation | context)``: one prefill per item, each continuation after a rewind."""
        self._check_len(len(context) + max(len(c) for c in continuations))
        gen = self._generator()
        last = self._log_softmax(self._logits(gen, context)[-1])
        n = len(context)
        scores = []
        for c in continuations:
            total = float(last[c[0]])
            if len(c) > 1:
                gen.rewind_to(n)
                total += float(token_logp(self._logits(gen, c[:-1]), c[1:]).sum())
            scores.append(total)
        return scores

    def generate(
        self, ids: list[int], max_new_tokens: int, stop_ids: set[int], on_first: Any = None
    ) -> tuple[list[int], float, list[float]]:
        """Greedy decoding one token at a time; returns tokens, time to first token (s), later tokens' times (s)."""
        self._check_len(len(ids) + max_new_tokens)
        og = require()
        params = og.GeneratorParams(self.model())
        limit = len(ids) + max_new_tokens
        if stop_ids:
            params.set_search_options(max_length=limit, do_sample=False)
        else:  # fixed-length replies: the end-of-sequence token must not end them
            params.set_search_options(max_length=limit, min_length=limit, do_sample=False)
        clock = TokenClock(on_first)
        gen = og.Generator(self.model(), params)
        gen.append_tokens(np.asarray([ids], dtype=np.int32))

        def next_token() -> int:
            gen.generate_next_token()  # the first samples the prompt's logits; later ones run the model once
            return int(gen.get_next_tokens()[0])

        return greedy(clock, next_token, lambda token: None, max_new_tokens, stop_ids, done=gen.is_done)

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters (elements of the ONNX initializers, packed int4 counted as stored) and the folder's size."""
        import onnx

        model = onnx.load(str(self.folder / "model.onnx"), load_external_data=False)
        total = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        return ModelFacts(total, total, folder_bytes(self.folder), self.runtime, self.precision, "ONNX (GenAI)")


def set_threads(folder: Path, threads: int) -> None:
    """Write the intra-op thread count into ``genai_config.json``'s session options."""
    import json

    path = folder / "genai_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    session = config["model"]["decoder"].setdefault("session_options", {})
    session["intra_op_num_threads"] = threads
    session["inter_op_num_threads"] = 1
    path.write_text(json.dumps(config, indent=4), encoding="utf-8")


register(
    RuntimeSpec(
        "onnxruntime-genai",
        "causal LMs (int4/int8/fp32 builder)",
        ("onnxruntime_genai", "onnx_ir"),
        LLM_EXTRA,
        extra="llm",
        distribution="onnxruntime-genai",
        kinds=("causal-lm",),
    )
)
