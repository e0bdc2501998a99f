"""OpenVINO GenAI: a causal LM as a stateful OpenVINO IR folder (model, tokenizer and detokenizer IRs).

The folder comes from a GGUF file, which OpenVINO GenAI reads directly and saves as IR
(``enable_save_ov_model``); NNCF may then compress its weights. Two views of the same IR:

- generation through ``openvino_genai.LLMPipeline``, greedy, with a streamer that stamps
  each token as it arrives (time to first token and per-token times are observed);
- scoring through the OpenVINO runtime itself (the IR returns the logits of every
  position), for perplexity and label log-likelihoods.

Both use the same threads and the same inference precision (``f32`` unless set), so an
AMX host does not silently switch to bf16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wattcut.errors import UserInputError
from wattcut.runtimes.base import Capabilities, FolderHandle, ModelFacts, folder_bytes, token_logp
from wattcut.runtimes.registry import LLM_EXTRA, RuntimeSpec, register
from wattcut.runtimes.streaming import TokenClock

MODEL_XML = "openvino_model.xml"


def require() -> Any:
    """The ``openvino_genai`` module, or a clear error saying how to install it."""
    try:
        import openvino_genai
    except ImportError:
        raise UserInputError(
            "The OpenVINO GenAI runtime needs openvino-genai, which is not installed.",
            'Install the language-model extra: pip install -e ".[llm]" (scripts/setup.sh --llm does).',
        ) from None
    return openvino_genai


def ir_from_gguf(gguf_path: Path, folder: Path, threads: int) -> Path:
    """Let OpenVINO GenAI read ``gguf_path`` and save the IR folder (model, tokenizer, detokenizer) in ``folder``."""
    import shutil

    ov_genai = require()
    folder.mkdir(parents=True, exist_ok=True)
    local = folder / gguf_path.name
    if local.resolve() != gguf_path.resolve():
        shutil.copy2(gguf_path, local)  # the IR is written next to the GGUF
    try:
        ov_genai.LLMPipeline(str(local), "CPU", enable_save_ov_model=True, INFERENCE_NUM_THREADS=threads)
    except RuntimeError as e:
        raise UserInputError(
            f"OpenVINO GenAI could not read {gguf_path.name}: {str(e).strip().splitlines()[-1][:300]}",
            "OpenVINO GenAI reads f16, f32, Q4_0, Q4_1 and Q8_0 GGUFs of llama-family models; use one of those.",
        ) from None
    local.unlink()
    if not (folder / MODEL_XML).is_file():
        raise UserInputError(
            f"OpenVINO GenAI read {gguf_path.name} but saved no {MODEL_XML}.",
            "Upgrade openvino-genai (2025.2 or later saves the IR with enable_save_ov_model).",
        )
    return folder


class OpenVinoLM(FolderHandle):
    """A stateful OpenVINO IR causal LM; the same calls as :class:`~wattcut.runtimes.pytorch.TorchCausalLM`."""

    runtime = "openvino-genai"
    capabilities = Capabilities(load_phase=True)

    def __init__(self, folder: Path, threads: int, precision: str, inference_precision: str = "f32") -> None:
        self.folder = Path(folder)
        self.threads = threads
        self.precision = precision
        self.inference_precision = inference_precision
        self._request: Any = None
        self._pipe: Any = None

    def _properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"INFERENCE_NUM_THREADS": self.threads}
        if self.inference_precision != "default":
            props["INFERENCE_PRECISION_HINT"] = self.inference_precision
        return props

    def load(self) -> None:
        """Compile both views now (compilation is then not part of the first request)."""
        self.request()
        self.pipeline()

    def request(self) -> Any:
        """An infer request on the IR (all positions' logits)."""
        if self._request is None:
            import openvino as ov

            core = ov.Core()
            compiled = core.compile_model(str(self.folder / MODEL_XML), "CPU", self._properties())
            self._request = compiled.create_infer_request()
        return self._request

    def pipeline(self) -> Any:
        """The GenAI pipeline used for generation."""
        if self._pipe is None:
            ov_genai = require()
            self._pipe = ov_genai.LLMPipeline(str(self.folder), "CPU", **self._properties())
        return self._pipe

    def _logits(self, ids: list[int]) -> np.ndarray:
        req = self.request()
        req.reset_state()
        n = len(ids)
        req.infer(
            {
                "input_ids": np.asarray([ids], dtype=np.int64),
                "attention_mask": np.ones((1, n), dtype=np.int64),
                "position_ids": np.arange(n, dtype=np.int64)[None],
                "beam_idx": np.zeros(1, dtype=np.int32),
            }
        )
        return np.asarray(req.get_tensor("logits").data[0], dtype=np.float32)  # token_logp sums in float64

    def token_logprobs(self, ids: list[int]) -> np.ndarray:
        """``log p(ids[i] | ids[:i])`` for ``i = 1 .. len(ids) - 1`` (float64)."""
        return token_logp(self._logits(ids)[:-1], ids[1:])

    def next_token_logits(self, ids: list[int]) -> np.ndarray:
        """Logits of the next token at positions ``0 .. len(ids) - 2`` (float32)."""
        return np.array(self._logits(ids)[:-1], dtype=np.float32)

    def continuation_loglikelihoods(
        self, context: list[int], continuations: list[list[int]], prefix_len: int = 0
    ) -> list[float]:
        """``sum log p(continuation | context)``: one pass over the context serves every one-token continuation.

        A longer continuation is scored by one more pass over context + continuation (the IR's
        state could be rolled back, but not cheaply from Python). No prefix cache.
        """
        last = self.token_logprobs_next(context)
        scores = []
        for c in continuations:
            if len(c) == 1:
                scores.append(float(last[c[0]]))
            else:
                logp = self.token_logprobs(context + c)
                scores.append(float(logp[len(context) - 1 :].sum()))
        return scores

    def token_logprobs_next(self, ids: list[int]) -> np.ndarray:
        """``log p(· | ids)``: the next-token distribution after ``ids``."""
        from scipy.special import log_softmax

        return np.asarray(log_softmax(self._logits(ids)[-1].astype(np.float64)))

    def generate(
        self, ids: list[int], max_new_tokens: int, stop_ids: set[int], on_first: Any = None
    ) -> tuple[list[int], float, list[float]]:
        """Greedy decoding through ``LLMPipeline`` with a timing streamer."""
        import openvino as ov

        ov_genai = require()
        pipe = self.pipeline()
        config = pipe.get_generation_config()
        config.max_new_tokens = max_new_tokens
        config.do_sample = False
        config.stop_token_ids = set(stop_ids)
        config.ignore_eos = not stop_ids  # fixed-length replies
        clock = TokenClock(on_first)

        class Stamp(ov_genai.StreamerBase):  # type: ignore[name-defined]
            def write(self, token: Any) -> Any:
                clock.tick(len(token) if isinstance(token, list) else 1)
                return ov_genai.StreamingStatus.RUNNING

            def end(self) -> None:
                pass

        inputs = ov_genai.TokenizedInputs(
            ov.Tensor(np.asarray([ids], dtype=np.int64)), ov.Tensor(np.ones((1, len(ids)), dtype=np.int64))
        )
        clock.start()
        result = pipe.generate(inputs, config, streamer=Stamp())
        clock.end()
        return clock.result([int(t) for t in result.tokens[0] if int(t) not in stop_ids])

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters (elements of the IR's constants of rank 2 and more, and norms) and the folder's size."""
        import openvino as ov

        model = ov.Core().read_model(str(self.folder / MODEL_XML))
        total = 0
        for op in model.get_ops():
            if op.get_type_name() == "Constant":
                shape = op.get_output_partial_shape(0).to_shape()
                if len(shape) >= 1 and int(np.prod(shape)) > 64:  # weights, not shape constants
                    total += int(np.prod(shape))
        size = sum(f.stat().st_size for f in self.folder.glob("openvino_model.*"))
        return ModelFacts(total, total, size or folder_bytes(self.folder), self.runtime, self.precision, "OpenVINO IR")


register(
    RuntimeSpec(
        "openvino-genai",
        "causal LMs (GGUF, NNCF INT8/INT4)",
        ("openvino_genai", "openvino_tokenizers"),
        LLM_EXTRA,
        extra="llm",
        distribution="openvino-genai",
        kinds=("causal-lm",),
    )
)
