"""llama.cpp, in-process through ``llama-cpp-python``: GGUF models, the engine under Ollama.

Two contexts share the memory-mapped model: a scorer that keeps the logits of every
position (per-token log-likelihoods for perplexity and label scoring) and a generator that
keeps only the last one, so a reply's prefill computes no logits it does not need (as a
server does). Generation is greedy and stepped one token at a time, so time to first token
and time per output token are observed.

llama-cpp-python has no wheel on PyPI; ``scripts/setup.sh --llm`` builds it once per CPU
instruction set (about 15 minutes) and keeps the wheel in ``~/.cache/wattcut/wheels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wattcut.errors import UserInputError
from wattcut.runtimes.base import Capabilities, Handle, ModelFacts, token_logp
from wattcut.runtimes.registry import RuntimeSpec, register
from wattcut.runtimes.streaming import TokenClock, greedy

INSTALL_HINT = (
    "Run `bash scripts/setup.sh --llm`, which builds llama-cpp-python for this CPU once (about 15 minutes) and "
    "caches the wheel, or install it yourself: pip install llama-cpp-python."
)


def require() -> Any:
    """The ``llama_cpp`` module, or a clear error saying how to install it."""
    try:
        import llama_cpp
    except ImportError:
        raise UserInputError(
            "The llama.cpp runtime needs llama-cpp-python, which is not installed.", INSTALL_HINT
        ) from None
    except OSError as e:  # a wheel built for another CPU's instruction set fails to load its library
        raise UserInputError(
            f"llama-cpp-python is installed but its library does not load here: {str(e).splitlines()[0]}",
            "Rebuild it for this CPU: bash scripts/setup.sh --llm (the wheel cache is keyed by CPU flags).",
        ) from None
    return llama_cpp


class LlamaCppLM(Handle):
    """A GGUF file served by llama.cpp; the same calls as :class:`~wattcut.runtimes.pytorch.TorchCausalLM`."""

    runtime = "llamacpp"
    capabilities = Capabilities(load_phase=True, gguf=True)

    def __init__(self, gguf_path: Path, threads: int, precision: str, n_ctx: int = 2048) -> None:
        self.path = Path(gguf_path)
        self.threads = threads
        self.precision = precision
        self.n_ctx = n_ctx
        self._scorer: Any = None
        self._generator: Any = None

    def _open(self, logits_all: bool) -> Any:
        llama_cpp = require()
        return llama_cpp.Llama(
            model_path=str(self.path),
            n_ctx=self.n_ctx,
            n_batch=512,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            logits_all=logits_all,
            verbose=False,
        )

    def load(self) -> None:
        """Open both contexts now (model load is then not part of the first request)."""
        self.scorer()
        self.generator()

    def scorer(self) -> Any:
        """The context that keeps every position's logits."""
        if self._scorer is None:
            self._scorer = self._open(logits_all=True)
        return self._scorer

    def generator(self) -> Any:
        """The context that keeps only the last position's logits."""
        if self._generator is None:
            self._generator = self._open(logits_all=False)
        return self._generator

    def _check_len(self, n: int) -> None:
        if n > self.n_ctx:
            raise UserInputError(
                f"A sequence of {n} tokens is longer than the llama.cpp context ({self.n_ctx}).",
                "Lower the task's max_length or max_new_tokens.",
            )

    def token_logprobs(self, ids: list[int]) -> np.ndarray:
        """``log p(ids[i] | ids[:i])`` for ``i = 1 .. len(ids) - 1`` (float64)."""
        self._check_len(len(ids))
        llm = self.scorer()
        llm.reset()
        llm.eval(ids)
        return token_logp(llm.scores[: len(ids) - 1], ids[1:])

    def next_token_logits(self, ids: list[int]) -> np.ndarray:
        """Logits of the next token at positions ``0 .. len(ids) - 2`` (a copy; float32)."""
        self._check_len(len(ids))
        llm = self.scorer()
        llm.reset()
        llm.eval(ids)
        return np.array(llm.scores[: len(ids) - 1], dtype=np.float32)

    def _last_logits(self, llm: Any) -> np.ndarray:
        """The last evaluated position's logits (a view into llama.cpp's buffer: copy before the next eval)."""
        llama_cpp = require()
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))

    def continuation_loglikelihoods(
        self, context: list[int], continuations: list[list[int]], prefix_len: int = 0
    ) -> list[float]:
        """``sum log p(continuation | context)``; one prefill per item, a shared prefix kept in the KV cache.

        Runs on the generator context, which computes the output layer for the last position only:
        a label needs the next-token distribution after the context, not the context's own logits
        (the scorer's ``logits_all`` would multiply the output layer's work by the context length).
        A continuation of several tokens is then fed one token at a time.
        """
        self._check_len(len(context) + max(len(c) for c in continuations))
        llm = self.generator()
        keep = 0
        if (
            0 < prefix_len < len(context)
            and llm.n_tokens >= prefix_len
            and list(llm.input_ids[:prefix_len]) == list(context[:prefix_len])
        ):
            keep = prefix_len  # the k-shot prefix is still in the cache: evaluate from there
        llm.n_tokens = keep  # eval() drops the cache beyond n_tokens first
        llm.eval(context[keep:])
        n = llm.n_tokens
        first = np.array(self._last_logits(llm))
        scores = []
        for c in continuations:
            total = float(token_logp(first[None], [c[0]])[0])
            if len(c) > 1:
                llm.n_tokens = n
                for j, tok in enumerate(c[:-1]):
                    llm.eval([tok])
                    total += float(token_logp(self._last_logits(llm)[None], [c[j + 1]])[0])
            scores.append(total)
        llm.n_tokens = n
        return scores

    def generate(
        self, ids: list[int], max_new_tokens: int, stop_ids: set[int], on_first: Any = None
    ) -> tuple[list[int], float, list[float]]:
        """Greedy decoding; returns the new tokens, time to first token (s) and each later token's time (s)."""
        self._check_len(len(ids) + max_new_tokens)
        llama_cpp = require()
        llm = self.generator()
        vocab = llm.n_vocab()

        def next_token() -> int:
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))
            return int(row.argmax())

        clock = TokenClock(on_first)
        llm.reset()
        llm.eval(ids)
        return greedy(clock, next_token, lambda token: llm.eval([token]), max_new_tokens, stop_ids)

    def flops_per_sequence(self, seq_len: int) -> int | None:
        """Not counted for GGUF models (quantized kernels)."""
        return None

    def save(self, folder: Path) -> Path:
        """Copy the GGUF file into ``folder``."""
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path, folder / self.path.name)
        return folder

    def facts(self, workdir: Path) -> ModelFacts:
        """Parameters (elements of all tensors) and the GGUF's size."""
        import gguf

        reader = gguf.GGUFReader(str(self.path))
        total = sum(int(np.prod(t.shape)) for t in reader.tensors)
        return ModelFacts(total, total, self.path.stat().st_size, self.runtime, self.precision, "GGUF file")


register(
    RuntimeSpec(
        "llamacpp",
        "causal LMs (GGUF k-quants)",
        ("llama_cpp",),
        "bash scripts/setup.sh --llm (builds llama-cpp-python)",
        extra="llm",
        distribution="llama-cpp-python",
        load_to_probe=True,
        kinds=("causal-lm",),
    )
)
