"""``--dry-run``: the probe (the study in miniature, through the same runner) and the estimate it feeds.

The arithmetic and the ledger are :mod:`wattcut.runner.predict`; this module runs the probe, which needs the
runner itself (so the runner, which only reads the ledger, does not import it).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from wattcut.runner.predict import Prediction, from_history, predict
from wattcut.settings import StudyConfig
from wattcut.stats.prediction import rates_of
from wattcut.store.records import Results


def probe_config(cfg: StudyConfig, out: Path) -> StudyConfig:
    """The study in miniature: one trial, small slices of every workload, no idle window or cooldowns."""
    data = cfg.data and dataclasses.replace(
        cfg.data,
        train_size=min(cfg.data.train_size or 128, 128),
        eval_size=min(cfg.data.eval_size or 128, 128),
    )
    requests = min(cfg.infer.requests, 24)
    infer = dataclasses.replace(
        cfg.infer,
        requests=requests,
        rounds=min(cfg.infer.rounds, 2, requests),
        warmup_requests=min(cfg.infer.warmup_requests, 2),
        sentinel_requests=min(cfg.infer.sentinel_requests, 2),
        cooldown_s=0.0,
        max_repeats=0,
    )
    measure = dataclasses.replace(cfg.measure, idle_s=0.0)
    explain = dataclasses.replace(cfg.explain, samples=min(cfg.explain.samples, 2))
    return dataclasses.replace(
        cfg, trials=1, data=data, infer=infer, measure=measure, explain=explain, out=str(out), name=f"probe: {cfg.name}"
    )


def run_probe(cfg: StudyConfig) -> Results:
    """Run the miniature study in a scratch folder and return its results (the folder is removed)."""
    from wattcut.report.build import build_results
    from wattcut.runner.execute import run_study
    from wattcut.store import Store

    with tempfile.TemporaryDirectory(prefix="wattcut-probe-") as tmp:
        out = Path(tmp) / "probe"
        try:
            run_study(
                probe_config(cfg, out), out, header="probe: the study in miniature, for --dry-run\n", ledger=False
            )
        except Exception as e:  # noqa: BLE001  (a variant that fails in the probe is priced as the baseline)
            from wattcut.errors import VariantsFailedError

            if not isinstance(e, VariantsFailedError):
                raise
        store = Store.open_study(out)
        try:
            return build_results(store)
        finally:
            store.close()


def estimate(cfg: StudyConfig, tasks: list[Any]) -> Prediction:
    """The prediction for ``cfg``: from the ledger where an earlier run fits, else from a probe."""
    earlier = from_history(cfg, tasks)
    if earlier is not None:
        return earlier
    rates = rates_of(run_probe(cfg))
    detail = f"a probe (1 trial, at most 128 rows and items, 24 requests) that took {rates['wall_s']:.0f} s"
    return predict(cfg, tasks, rates, "probe", detail)
