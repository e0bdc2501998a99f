"""How far each variant is from what the machine allows: its attainable time per request, and the share of it reached.

The roofline bound of a request is the longer of its compute time at the machine's peak and its
memory time at the machine's bandwidth (:mod:`wattcut.measure.roofline`, at the variant's thread
count and precision):

- **Encoders and vision models**: the compute roofline: operations = FLOPs of one forward pass
  (counted on the last fp32 module by ``torch.utils.flop_counter``; an INT8 variant does the same
  multiply-adds in int8) per real (unpadded) token served, x tokens per request, over the peak at
  the variant's precision and threads. An early-exit variant's count is its full depth's, scaled
  by the mean share of its layers the served requests ran (the exit heads' few FLOPs left out).
  Padding is work the bound does not need, so a variant that pads loses roofline share. No memory
  term: the bytes a request reads are not in the record (the saved file holds embedding tables read
  one row per token), and a file-size term would overstate it.
- **Decoder prefill**: ``2 x body parameters`` operations per prompt token (body = parameters
  less the embedding table and an untied output head) plus the output head once per request (a
  reply needs the last position's logits only); the attention score terms, quadratic in context,
  are left out (a few % at these contexts). Scoring workloads (perplexity) need every position's
  logits: the head counts per token. Weights read once per request.
- **Decoder decode**: one read of every weight byte per generated token (batch 1: the weights do
  not fit in cache, so each token streams them), over the bandwidth; ``2 x (body + head)``
  operations per token.
- **Served replays with concurrent clients**: the requests overlap, so the bound is the whole
  replay's (its prefill and decode operations; one read of the weights per request's prefill and
  per decode step, a step serving up to ``concurrency`` requests) against the replay's wall time.

"% of roofline" = bound / achieved x 100, where achieved is the measured wall time per request in
the metered inference phase (decode and prefill separately where the task splits them). 100% is the
best this machine's kernels can do on this work; 10% says nine tenths of the time is overhead,
padding, cache misses or a kernel below its peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattcut.measure.roofline import Machine, Peak

LM_TASKS = frozenset({"perplexity", "prompted_classification", "lm_eval", "chat_replay"})


@dataclass(frozen=True)
class Bound:
    """One request's attainable time on this machine against the measured time."""

    compute_s: float
    memory_s: float
    achieved_s: float

    @property
    def bound_s(self) -> float:
        """The roofline time: the slower of compute and memory."""
        return max(self.compute_s, self.memory_s)

    @property
    def limiter(self) -> str:
        """What bounds it: ``compute`` or ``memory``."""
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def pct(self) -> float:
        """The share of the roofline reached, in percent."""
        return 100.0 * self.bound_s / self.achieved_s

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form, with the derived figures."""
        return {
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "achieved_s": self.achieved_s,
            "bound_s": self.bound_s,
            "limiter": self.limiter,
            "pct": self.pct,
        }


def bound(ops: float, nbytes: float, achieved_s: float, peak: Peak, precision: str) -> Bound:
    """The roofline of work of ``ops`` operations and ``nbytes`` bytes, achieved in ``achieved_s``."""
    return Bound(ops / peak.ops_per_s(precision), nbytes / (peak.bandwidth_gb_s * 1e9), achieved_s)


def of_trial(trial: Any, machine: Machine) -> dict[str, Any] | None:
    """The roofline of one trial's inference phase (None where its work cannot be counted)."""
    infer = trial.infer_phase()
    if infer is None or not infer.duration_s:
        return None
    threads = trial.deployment.threads if trial.deployment is not None else None
    peak = machine.at(threads)
    m = trial.model
    base = {"threads": peak.threads, "precision": m.precision}
    task = trial.tasks.get(trial.energy_task or "") if trial.energy_task else None
    kind = (task.task if task is not None else None) or trial.task or ""
    if kind in LM_TASKS:
        lm = _lm(task, infer, peak, m)
        return None if lm is None else lm | base
    if m.flops_per_sequence is None or not infer.samples:
        return None
    seq_len = m.flops_seq_len
    tokens = (infer.tokens or 0) / infer.samples
    # per sample: FLOPs per real token x tokens (text), or one pass (images: no tokens counted)
    ops = m.flops_per_sequence * tokens / seq_len if tokens and seq_len else float(m.flops_per_sequence)
    depth = _served_depth(task)
    if depth is not None:  # early exit: the counted FLOPs are the full depth's; a request ran its own
        ops *= depth
    b = bound(ops, 0.0, infer.duration_s / infer.samples, peak, m.precision)
    return b.to_dict() | base | {"unit": "sample", "ops_per_unit": ops}


def _served_depth(task: Any) -> float | None:
    """An early-exit variant's mean share of its layers run by the served requests (None: every request ran all)."""
    exits = (task.exits if task is not None else None) or {}
    counts, layers = exits.get("infer_depth_counts"), exits.get("layers")
    if not counts or not layers:
        return None
    n = sum(counts.values())
    return sum(int(d) * k for d, k in counts.items()) / n / layers if n else None


def _lm(task: Any, infer: Any, peak: Peak, m: Any) -> dict[str, Any] | None:
    """Prefill (2 x body parameters per prompt token, the head once) and decode (the weights per token)."""
    params, weights = float(m.parameters), float(m.file_size_bytes)
    emb = float(m.embedding_parameters or 0.0)  # unknown (older records): parameters stand in for the body
    head = emb
    body = max(0.0, params - emb * (1 if m.tied_embeddings is not False else 2)) if emb else params
    w = task.workload if task is not None else None
    if w and (w.get("concurrency") or 1) > 1 and w.get("phase_wall_s"):
        # concurrent requests overlap: the bound is the whole replay's, against its wall time; a batched decode
        # step reads the weights once for up to `concurrency` requests' tokens
        n, c = w["requests"], w["concurrency"]
        decode_tokens = max(0, w["output_tokens"] - n)
        ops = 2 * body * w["input_tokens"] + 2 * head * n + 2 * (body + head) * decode_tokens
        b = bound(ops, weights * (n + decode_tokens / c), w["phase_wall_s"], peak, m.precision)
        return b.to_dict() | {
            "unit": "request",
            "served_concurrency": c,
            "bound_s": b.bound_s / n,
            "achieved_s": b.achieved_s / n,
        }
    if w and w.get("prefill_s") and w.get("input_tokens"):
        decode_tokens = max(0, w["output_tokens"] - w["requests"])  # each reply's first token came from prefill
        ops = 2 * body * w["input_tokens"] + 2 * head * w["requests"]
        pre = bound(ops, weights * w["requests"], w["prefill_s"], peak, m.precision)
        out: dict[str, Any] = {"unit": "request", "prefill": pre.to_dict()}
        if decode_tokens and w.get("decode_s"):
            ops = 2 * (body + head) * decode_tokens
            dec = bound(ops, weights * decode_tokens, w["decode_s"], peak, m.precision)
            out["decode"] = dec.to_dict()
            total = Bound(pre.compute_s + dec.compute_s, pre.memory_s + dec.memory_s, pre.achieved_s + dec.achieved_s)
            # prefill and decode are bound by different limits: the request's bound is the sum of each part's
            return out | {
                "bound_s": (pre.bound_s + dec.bound_s) / w["requests"],
                "achieved_s": total.achieved_s / w["requests"],
                "pct": 100.0 * (pre.bound_s + dec.bound_s) / total.achieved_s,
                "limiter": "prefill compute, decode memory" if dec.limiter == "memory" else "compute",
            }
        return out | pre.to_dict()
    if not infer.tokens or not infer.requests:
        return None  # scoring workloads: every request is one prefill of its tokens
    b = bound(2 * (body + head) * infer.tokens, weights * infer.requests, infer.duration_s, peak, m.precision)
    d = b.to_dict()
    return d | {
        "unit": "request",
        "prefill": dict(d),
        "bound_s": b.bound_s / infer.requests,
        "achieved_s": infer.duration_s / infer.requests,
    }
