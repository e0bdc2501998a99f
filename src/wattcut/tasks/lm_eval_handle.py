"""lm-evaluation-harness's ``LM`` interface over any wattcut causal-LM handle (llama.cpp, OpenVINO GenAI, ORT GenAI).

PyTorch variants are handed to lm-eval's own ``HFLM``. Other runtimes answer through the
calls every wattcut LM handle has (``continuation_loglikelihoods``, ``generate``), with
HFLM's conventions, so a GGUF Q4_K_M and the PyTorch baseline are scored alike:

- text is tokenized without special tokens, an empty context becomes the EOS/BOS token,
  and trailing spaces of a context move to its continuation (``HFLM._encode_pair``);
- contexts longer than ``max_length`` lose their oldest tokens (left truncation);
- ``loglikelihood`` requests that share a context (MMLU's four answer letters) are scored
  from one prefill, and the k-shot prefix shared by consecutive contexts stays cached;
- ``generate_until`` is greedy, stops at EOS or ``max_gen_toks``, and cuts the text at the
  first ``until`` string;
- ``loglikelihood_rolling`` uses lm-eval's own disjoint rolling windows.

``is_greedy`` (whether the continuation is the argmax, used by tasks of output type
``loglikelihood`` such as LAMBADA's exact match) is not computed here: such tasks are
refused on non-PyTorch runtimes (see ``LmEval``) rather than given a made-up value.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM

# lm-eval output types this adapter answers exactly ("loglikelihood" needs is_greedy: PyTorch only).
SUPPORTED = ("multiple_choice", "generate_until", "loglikelihood_rolling")


class HandleLM(LM):
    """lm-eval's model interface on a wattcut handle."""

    def __init__(self, handle: Any, tokenizer: Any, max_length: int) -> None:
        super().__init__()
        self.handle = handle
        self.tokenizer = tokenizer
        self.max_length = max_length
        eos = tokenizer.eos_token_id
        self.prefix_token = eos if eos is not None else tokenizer.bos_token_id
        self.stop_ids = {eos} if eos is not None else set()

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            continuation, context = context[-spaces:] + continuation, context[:-spaces]
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        cont = whole[len(ctx) :]
        if not context:
            ctx, cont = [self.prefix_token], self._encode(continuation)
        return ctx, cont

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """``(sum log p(continuation | context), False)`` per request; one prefill per distinct context."""
        pairs = [self._pair(*r.args) for r in requests]
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, _) in enumerate(pairs):
            groups.setdefault(tuple(ctx), []).append(i)
        previous: list[int] = []
        from wattcut.ui import bar

        with bar("lm-eval loglikelihood", len(requests)) as advance:
            for ctx_key, members in groups.items():
                conts = [pairs[i][1] for i in members]
                longest = max(len(c) for c in conts)
                ctx = list(ctx_key)[-max(1, self.max_length - longest) :]
                shared = 0  # the k-shot prefix the previous context had too
                while shared < min(len(ctx), len(previous)) and ctx[shared] == previous[shared]:
                    shared += 1
                scores = self.handle.continuation_loglikelihoods(ctx, conts, prefix_len=shared)
                for i, s in zip(members, scores, strict=True):
                    out[i] = (float(s), False)
                previous = ctx
                advance(len(members))
        return out  # type: ignore[return-value]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Whole-document log-likelihood over lm-eval's disjoint rolling windows of ``max_length`` tokens."""
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        out = []
        for r in requests:
            (text,) = r.args[:1]
            windows = map(
                make_disjoint_window,
                get_rolling_token_windows(
                    token_list=self._encode(text),
                    prefix_token=self.prefix_token,
                    max_seq_len=self.max_length,
                    context_len=1,
                ),
            )
            out.append(sum(float(self.handle.continuation_loglikelihoods(c, [t])[0]) for c, t in windows))
        return out

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Greedy generation per request, cut at the first ``until`` string."""
        from wattcut.ui import bar

        out = []
        with bar("lm-eval generate", len(requests)) as advance:
            for r in requests:
                context, kwargs = r.args
                until = kwargs.get("until") or []
                until = [until] if isinstance(until, str) else list(until)
                max_new = int(kwargs.get("max_gen_toks", 256))
                ids = self._encode(context)[-max(1, self.max_length - max_new) :]
                tokens, _, _ = self.handle.generate(ids, max_new, self.stop_ids)
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                for stop in until:
                    if stop and stop in text:
                        text = text.split(stop)[0]
                out.append(text)
                advance(1)
        return out
