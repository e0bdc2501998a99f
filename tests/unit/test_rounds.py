"""The interleaved inference round and its contention check (fake models, real loop)."""

import time
from contextlib import contextmanager

import numpy as np

from wattcut.experiment import load_experiment
from wattcut.measure.base import PhaseRecord
from wattcut.runner.rounds import inference_round as _inference_round
from wattcut.settings import InferConfig, with_overrides
from wattcut.tasks.sequence_classification import SequenceClassification, SequenceClassificationConfig


class Model:
    def __init__(self, delays):
        self.delays = iter(delays)

    def logits(self, batch):
        time.sleep(next(self.delays, 0.0))
        return np.zeros((1, 2), dtype=np.float32)


class Session:
    def __init__(self):
        self.taken = []

    @contextmanager
    def phase(self, name, step=None):
        rec = PhaseRecord(phase=name, duration_s=0.0, step=step)
        yield rec
        self.taken.append(rec)

    @contextmanager
    def window(self, name):
        yield PhaseRecord(phase=name, duration_s=0.0)

    def take(self):
        out, self.taken = self.taken, []
        return out


REQ = {"input_ids": np.ones((1, 4), dtype=np.int64), "attention_mask": np.ones((1, 4), dtype=np.int64)}


def _tasks(cfg):
    return [SequenceClassification(cfg, SequenceClassificationConfig())]


def _cfg(**infer):
    cfg = load_experiment("examples/smoke.toml")
    return with_overrides(cfg, infer=InferConfig(**{"requests": 6, "warmup_requests": 1, "cooldown_s": 0.0, **infer}))


def test_stable_baseline_runs_one_round():
    cfg = _cfg(sentinel_requests=3, drift_threshold=0.5)  # wide: sleep jitter on a busy CI box must not flip it
    base = Model([0.01] * 100)
    ready = {"baseline": Model([]), "v": Model([])}
    results, contention, _ = _inference_round(
        cfg, Session(), _tasks(cfg), base, {"sequence_classification": [REQ] * 6}, ready
    )
    assert contention["rounds"] == 1 and not contention["flagged"] and abs(contention["drift_rel"]) < 0.5
    out = results["v"]["sequence_classification"]
    phases, latencies = out["phases"], out["latencies"]
    assert [p.step for p in phases] == ["sequence_classification"]
    assert [p.phase for p in phases] == ["infer"] and phases[0].requests == 5 and len(latencies) == 5


def test_drifting_baseline_repeats_the_round_then_flags_it():
    cfg = _cfg(sentinel_requests=3, max_repeats=2)
    # before/after sentinels of each round: 2 ms, then 30 ms (another tenant arrived): drift ~+1400% every round
    base = Model(([0.002] * 3 + [0.03] * 3) * 3)
    ready = {"baseline": Model([])}
    _, contention, _ = _inference_round(
        cfg, Session(), _tasks(cfg), base, {"sequence_classification": [REQ] * 6}, ready
    )
    assert contention["rounds"] == 3 and contention["flagged"] and contention["drift_rel"] > 1.0


def test_no_sentinel_means_no_check():
    cfg = _cfg(sentinel_requests=0)
    _, contention, _ = _inference_round(
        cfg,
        Session(),
        _tasks(cfg),
        Model([]),
        {"sequence_classification": [REQ] * 6},
        {"b": (Model([]), [], {}, None, "", None)},
    )
    assert contention["rounds"] == 1 and contention["drift_rel"] is None and not contention["flagged"]
