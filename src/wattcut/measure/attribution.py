"""Per-request energy of concurrent requests served by one process: one window, shared by token activity.

When N requests are in flight at once, no window belongs to one request. The rule (stated in
every served record): the served window's measured energy is cut into the intervals between
samples of the server's CPU time, each interval's share in proportion to the server's CPU
seconds in it (duration where no CPU time is sampled); within an interval it goes to the
requests by their share of the tokens being processed there. A request's prompt tokens (and
its first output token, which the prefill produces) are spread evenly over the time from
sending it to its first token; each later output token over the gap since the token before.
An interval with no token activity goes to the requests in flight, evenly, or, with none in
flight, to every request evenly. The shares sum to the window's energy exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RULE = (
    "the served window's energy, split over intervals by the server's CPU seconds in each (sampled every 20 ms), "
    "then within an interval by each request's share of the tokens processed in it (prompt tokens spread over "
    "the time to first token, each output token over the gap since the previous one)"
)


@dataclass(frozen=True)
class Activity:
    """One request's timeline: sent and done (s), and its token arrivals; ``input_tokens`` of prompt."""

    sent_s: float
    done_s: float
    token_times_s: tuple[float, ...]
    input_tokens: int

    def spans(self) -> list[tuple[float, float, float, str]]:
        """(start, end, tokens, part) spans of work: the prefill, then one per later output token."""
        t = self.token_times_s
        first = t[0] if t else self.done_s
        out = [(self.sent_s, first, float(self.input_tokens + (1 if t else 0)), "prefill")]
        out += [(a, b, 1.0, "decode") for a, b in zip(t, t[1:], strict=False)]
        return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def attribute(
    energy_j: float, samples: Sequence[tuple[float, float]], requests: Sequence[Activity]
) -> list[dict[str, float]]:
    """Each request's ``energy_j``, ``prefill_energy_j`` and ``decode_energy_j`` (see the module docstring).

    Args:
        energy_j: The served window's measured energy.
        samples: (time s, server CPU s) in time order, spanning the window.
        requests: Every request served in the window.
    """
    out = [{"energy_j": 0.0, "prefill_energy_j": 0.0, "decode_energy_j": 0.0} for _ in requests]
    if not requests:
        return out
    intervals = [(t0, t1, max(0.0, c1 - c0)) for (t0, c0), (t1, c1) in zip(samples, samples[1:], strict=False)]
    intervals = [iv for iv in intervals if iv[1] > iv[0]]
    if not intervals:  # no samples: one interval over the whole window
        intervals = [(min(r.sent_s for r in requests), max(r.done_s for r in requests), 1.0)]
    cpu_total = sum(c for _, _, c in intervals)
    span_total = sum(t1 - t0 for t0, t1, _ in intervals)
    spans = [r.spans() for r in requests]
    for t0, t1, cpu in intervals:
        e = energy_j * (cpu / cpu_total if cpu_total > 0 else (t1 - t0) / span_total)
        shares = [
            [(part, tokens * _overlap(s0, s1, t0, t1) / (s1 - s0)) for s0, s1, tokens, part in sp if s1 > s0]
            for sp in spans
        ]
        weight = sum(w for sh in shares for _, w in sh)
        if weight > 0:
            for i, sh in enumerate(shares):
                for part, w in sh:
                    out[i][f"{part}_energy_j"] += e * w / weight
            continue
        live = [i for i, r in enumerate(requests) if r.sent_s < t1 and r.done_s > t0] or list(range(len(requests)))
        for i in live:  # no token in the interval: the requests in flight (else all) share it evenly
            part = "decode" if requests[i].token_times_s and requests[i].token_times_s[0] <= t0 else "prefill"
            out[i][f"{part}_energy_j"] += e / len(live)
    for o in out:
        o["energy_j"] = o["prefill_energy_j"] + o["decode_energy_j"]
    return out
