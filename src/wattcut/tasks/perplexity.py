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

import numpy as np

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
        kl_divergence: Also compare every variant's next-token distributions with the baseline's
            on the scored tokens (llama.cpp's ``perplexity --kl-divergence``): mean KL divergence
            with its 99th and 99.9th percentiles, and the same-top-token rate. Keeps the baseline's
            log-probabilities in memory (scored tokens x vocabulary x 4 bytes).
        max_kl_divergence: An optional quality gate: a variant whose mean KL divergence from the
            baseline exceeds this (nats per token) fails its gate, whatever its perplexity.
    """

    file: str = "wikitext2/wiki.test.raw"
    max_length: int = 512
    stride: int | None = None
    max_windows: int | None = None
    requests: int = 4
    warmup_requests: int = 1
    kl_divergence: bool = False
    max_kl_divergence: float | None = None
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
        if self.max_kl_divergence is not None and not (
            self.kl_divergence and math.isfinite(self.max_kl_divergence) and self.max_kl_divergence > 0
        ):
            raise UserInputError(
                f'[[tasks]] "perplexity" max_kl_divergence = {self.max_kl_divergence} needs kl_divergence = true and '
                "a positive finite value (nats per token).",
                "Set kl_divergence = true and a threshold such as 0.05, or remove max_kl_divergence.",
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


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (SciPy's)."""
    from scipy.special import log_softmax as scipy_log_softmax

    return np.asarray(scipy_log_softmax(np.asarray(logits, dtype=np.float64), axis=1))


class KLAccumulator:
    """KL(baseline || variant) and top-token agreement per scored token, as llama.cpp's perplexity tool reports."""

    def __init__(self, reference: list[np.ndarray] | None) -> None:
        self.reference = reference
        self.kld: list[np.ndarray] = []
        self.same_top: list[np.ndarray] = []
        self.missing = ""

    def add(self, window: int, logp: np.ndarray) -> None:
        """Compare one window's log-probabilities with the baseline's of the same window."""
        if self.reference is None or window >= len(self.reference):
            self.missing = "the baseline's distributions are not in this run (a resumed trial)"
            return
        ref = self.reference[window].astype(np.float64)
        if ref.shape != logp.shape:
            self.missing = f"the vocabularies differ ({ref.shape[1]} vs {logp.shape[1]} entries)"
            return
        self.kld.append(np.maximum(0.0, (np.exp(ref) * (ref - logp)).sum(axis=1)))
        self.same_top.append(ref.argmax(axis=1) == logp.argmax(axis=1))

    def result(self, max_kld: float | None) -> dict[str, Any]:
        """Mean KL divergence, its 99th/99.9th percentiles, the same-top-token rate; and the gate, if set."""
        if self.missing or not self.kld:
            return {"kl_divergence_note": f"KL divergence not computed: {self.missing or 'no scored tokens'}"}
        kld, top = np.concatenate(self.kld), np.concatenate(self.same_top)
        out: dict[str, Any] = {
            "kl_divergence_mean": float(kld.mean()),
            "kl_divergence_p99": float(np.percentile(kld, 99)),
            "kl_divergence_p999": float(np.percentile(kld, 99.9)),
            "same_top_token_rate": float(top.mean()),
            "kl_divergence_tokens": int(kld.size),
        }
        if max_kld is not None:
            ok = out["kl_divergence_mean"] <= max_kld
            out["kl_gate"] = {
                "status": "pass" if ok else "fail",
                "reason": f"mean KL divergence from the baseline {out['kl_divergence_mean']:.4g} nats/token "
                f"{'<=' if ok else '>'} max_kl_divergence {max_kld:g}",
            }
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

    @property
    def compares(self) -> bool:
        """With ``kl_divergence``, each variant's distributions are compared with the baseline's."""
        return bool(self.config.kl_divergence)

    def evaluate(self, model: Any, tokenizer: Any, rec: PhaseRecord) -> dict[str, Any]:
        """Perplexity over the windows, with the counts that define it (and the KL divergence, if asked)."""
        cfg = self.config
        ids = self._ids(tokenizer)
        ws = windows(len(ids), cfg.max_length, self.stride, cfg.max_windows)
        nll = 0.0
        per_window = []
        kept = None if self.reference else getattr(self, "_reference_logp", None)
        kl = KLAccumulator(kept) if cfg.kl_divergence else None
        if kl is not None and self.reference:
            self._reference_logp: list[np.ndarray] = []
        with bar("perplexity", len(ws)) as advance:
            for i, w in enumerate(ws):
                if kl is None:
                    x = window_nll(model, ids, w)
                else:  # the whole distribution at each scored position, kept (baseline) or compared (variant)
                    logp = log_softmax(model.next_token_logits(ids[w.begin : w.end])[w.score_from - w.begin - 1 :])
                    x = float(-logp[np.arange(len(logp)), ids[w.score_from : w.end]].sum())
                    if self.reference:
                        self._reference_logp.append(logp.astype(np.float32))
                    else:
                        kl.add(i, logp)
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
            **(kl.result(cfg.max_kl_divergence) if kl is not None and not self.reference else {}),
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
