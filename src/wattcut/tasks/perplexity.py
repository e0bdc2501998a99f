"""Perplexity of a causal LM on a text file, with sliding windows (the transformers guide's definition).

The whole file is tokenized once. Windows of ``max_length`` tokens start every ``stride``
tokens; in each window only the tokens not scored by an earlier window are scored, each
with the context the window gives it. A token scored needs at least one token of context
in its window, so with ``stride = max_length`` (no overlap) the first token of every window
is not scored, and with a smaller stride each later window scores exactly ``stride`` tokens
(``max_length - 1`` in the first). Token-level perplexity is ``exp(total NLL / tokens
scored)``; word- and byte-level perplexity divide the same NLL by the words and UTF-8 bytes
of the text the windows cover (lm-evaluation-harness's ``word_perplexity`` and
``byte_perplexity``), so they compare across tokenizers.

The inference workload is scoring windows: each request is one window (a prefill of
``max_length`` tokens), so energy per request is energy per scored window, and per token
is per token processed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.metric import MetricSpec
from wattcut.tasks.base import serve_timed, task
from wattcut.tasks.lm import CausalLMTask, find_data_file
from wattcut.ui import bar

PERPLEXITY = MetricSpec("perplexity", "perplexity", higher_is_better=False, bounded=False, unit="", format=".3f")


@dataclass(frozen=True)
class PerplexityConfig:
    """``[[tasks]] name = "perplexity"``.

    Attributes:
        file: UTF-8 text file (a path, or relative to a data folder). Default: WikiText-2 raw test.
        max_length: Tokens per window.
        stride: Tokens between window starts (None = ``max_length``: no overlap).
        max_windows: Score only the first N windows (None = the whole file).
        requests: Windows served in the timed inference workload (taken from the start).
        warmup_requests: Windows served untimed before it.
    """

    file: str = "wikitext2/wiki.test.raw"
    max_length: int = 512
    stride: int | None = None
    max_windows: int | None = None
    requests: int = 4
    warmup_requests: int = 1
    version: int = 1

    def __post_init__(self) -> None:
        for name in ("max_length", "stride", "requests"):
            value = getattr(self, name)
            if value is not None and value < 1:  # None (stride): max_length; 0 is not "unset"
                raise UserInputError(
                    f'[[tasks]] "perplexity" {name} = {value} is not valid: it must be 1 or more.', "Correct it."
                )
        if self.stride is not None and self.stride > self.max_length:
            raise UserInputError(
                f'[[tasks]] "perplexity" stride = {self.stride} is larger than max_length = {self.max_length}: '
                "tokens between windows would never be scored.",
                "Use a stride of at most max_length.",
            )
        if self.max_windows is not None and self.max_windows < 1:
            raise UserInputError('[[tasks]] "perplexity" max_windows must be 1 or more.', "Correct it or remove it.")


@dataclass(frozen=True)
class Window:
    """One window: token span ``[begin, end)``, of which ``[score_from, end)`` is scored."""

    begin: int
    end: int
    score_from: int

    @property
    def scored(self) -> int:
        """Tokens scored in this window."""
        return self.end - self.score_from


def windows(n_tokens: int, max_length: int, stride: int, max_windows: int | None = None) -> list[Window]:
    """The sliding windows over ``n_tokens`` tokens; each token is scored at most once, with context."""
    out: list[Window] = []
    prev_end = 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + max_length, n_tokens)
        score_from = max(prev_end, begin + 1)  # a scored token needs one token of context in its window
        if end > score_from:
            out.append(Window(begin, end, score_from))
        prev_end = end
        if end == n_tokens or (max_windows is not None and len(out) == max_windows):
            break
    return out


def window_nll(model: Any, ids: list[int], w: Window) -> float:
    """Negative log-likelihood (nats) of the scored tokens of one window."""
    logp = model.token_logprobs(ids[w.begin : w.end])  # logp[i] = log p(ids[begin+i+1] | ids[begin..begin+i])
    return float(-logp[w.score_from - w.begin - 1 :].sum())


@task
class Perplexity(CausalLMTask):
    """Token-, word- and byte-level perplexity of a causal LM on a text file."""

    name = "perplexity"
    config_cls = PerplexityConfig
    summary = "perplexity of a causal LM on a text file (WikiText-2), sliding windows; word/byte perplexity"
    metric_spec = PERPLEXITY

    def prepare(self) -> None:
        """Read the text file."""
        path = find_data_file(self.config.file, '[[tasks]] "perplexity" file')
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        if not self.text.strip():
            raise UserInputError(f'The text file "{path}" is empty.', "Point file at a text with content.")

    def describe_data(self) -> str:
        """File, size and windowing."""
        from wattcut.data.catalog import shown

        cap = f", first {self.config.max_windows} windows" if self.config.max_windows else ""
        return (
            f"{len(self.text):,} characters from {shown(self.path)}; windows of {self.config.max_length} tokens, "
            f"stride {self.stride}{cap}"
        )

    def calibration_texts(self) -> list[str]:
        """Paragraphs of the file (after the windows scored, so calibration never sees the evaluation tokens)."""
        paragraphs = [p.strip() for p in self.text.split("\n\n") if len(p.strip()) > 200]
        return paragraphs[len(paragraphs) // 2 :]

    def max_length(self) -> int:
        """Tokens per window."""
        return self.config.max_length

    @property
    def stride(self) -> int:
        """Tokens between window starts."""
        return self.config.stride or self.config.max_length

    def _ids(self, tokenizer: Any) -> list[int]:
        cached: tuple[Any, list[int]] | None = getattr(self, "_cached", None)
        if cached is None or cached[0] is not tokenizer:
            # The whole text as one sequence, as the transformers perplexity guide does ("\n\n".join of rows).
            cached = (tokenizer, list(tokenizer(self.text, add_special_tokens=False)["input_ids"]))
            self._cached = cached
        return cached[1]

    def evaluate(self, model: Any, tokenizer: Any, rec: PhaseRecord) -> dict[str, Any]:
        """Perplexity over the windows, with the counts that define it."""
        cfg = self.config
        ids = self._ids(tokenizer)
        ws = windows(len(ids), cfg.max_length, self.stride, cfg.max_windows)
        nll = 0.0
        per_window = []
        with bar("perplexity", len(ws)) as advance:
            for w in ws:
                x = window_nll(model, ids, w)
                nll += x
                per_window.append(x)
                rec.samples += 1
                rec.tokens += w.end - w.begin
                advance(1)
        scored = sum(w.scored for w in ws)
        covered = tokenizer.decode(ids[: ws[-1].end]) if ws else ""
        words, nbytes = len(covered.split()), len(covered.encode("utf-8"))
        return {
            "perplexity": math.exp(nll / scored),
            "nll_sum": nll,
            "tokens_scored": scored,
            "tokens_processed": sum(w.end - w.begin for w in ws),
            "windows": len(ws),
            "tokens_in_file": len(ids),
            "word_perplexity": math.exp(nll / words) if words else None,
            "byte_perplexity": math.exp(nll / nbytes) if nbytes else None,
            "bits_per_byte": nll / nbytes / math.log(2) if nbytes else None,
            "words": words,
            "bytes": nbytes,
            "max_length": cfg.max_length,
            "stride": self.stride,
            "per_window_nll": per_window,
            "items": {"nll": per_window, "tokens": [w.scored for w in ws]},  # for the item-level paired test
            "definition": "exp(sum NLL / tokens scored); sliding windows, each token scored once with its window's "
            "context (transformers perplexity guide); word/byte perplexity over the covered text (lm-eval)",
        }

    def make_requests(self, tokenizer: Any, seed: int) -> list[Any]:
        """The first ``warmup_requests + requests`` windows of the file (token id lists)."""
        cfg = self.config
        ids = self._ids(tokenizer)
        ws = windows(len(ids), cfg.max_length, cfg.max_length, cfg.warmup_requests + cfg.requests)
        return [ids[w.begin : w.end] for w in ws]

    def rewarm(self, requests: list[Any]) -> list[Any]:
        """The first 32 tokens of each window: every weight is read once, without scoring 512 tokens again."""
        return [req[:32] for req in requests]

    def serve(self, model: Any, requests: list[Any], rec: PhaseRecord, desc: str = "infer", window: Any = None):
        """Score each window; latencies in seconds."""
        return serve_timed(requests, rec, desc, model.token_logprobs, lambda req: (1, len(req)))
