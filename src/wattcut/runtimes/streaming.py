"""One clock for streamed generation: time to first token and each later token's time.

Every causal-LM runtime times its greedy decoding through :class:`TokenClock` (and the
ones that step the model themselves through :func:`greedy`), so TTFT and TPOT, the
measured figures that prefill and decode energy are split on, mean the same everywhere:
TTFT runs from just before the prompt is evaluated until the first token is known
(prefill plus the first argmax); each later token's time runs from the token before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Generated = tuple[list[int], float, list[float]]  # new tokens, TTFT (s), later tokens' times (s)


class TokenClock:
    """Stamps tokens as they come; calls ``on_first`` once the first one is known (the prefill is over)."""

    def __init__(self, on_first: Any = None) -> None:
        self.on_first = on_first
        self.t0 = time.perf_counter()
        self.ttft = 0.0
        self.times: list[float] = []
        self._last: float | None = None

    def start(self) -> None:
        """Restart the clock: the prompt's evaluation begins now."""
        self.t0 = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        """``n`` tokens arrived now (a streamer may hand several at once: the later ones take 0 s)."""
        now = time.perf_counter()
        for _ in range(n):
            if self._last is None:
                self.ttft = now - self.t0
                if self.on_first is not None:
                    self.on_first()  # the caller may close its prefill window
            else:
                self.times.append(now - self._last)
            self._last = now

    def end(self) -> None:
        """Generation ended; with nothing streamed (a stop token first), the whole call is the TTFT."""
        if self._last is None:
            self.tick()

    def result(self, tokens: list[int]) -> Generated:
        """The tokens with this clock's TTFT and later times."""
        return tokens, self.ttft, self.times


def greedy(
    clock: TokenClock,
    next_token: Callable[[], int],
    advance: Callable[[int], None],
    max_new_tokens: int,
    stop_ids: set[int],
    done: Callable[[], bool] = lambda: False,
) -> Generated:
    """Greedy decoding: ``next_token()`` reads the argmax, ``advance(token)`` feeds it back; stop tokens excluded."""
    out: list[int] = []
    for i in range(max_new_tokens):
        token = next_token()
        clock.tick()
        if token in stop_ids:
            break
        out.append(token)
        if i + 1 == max_new_tokens or done():
            break
        advance(token)
    return clock.result(out)
