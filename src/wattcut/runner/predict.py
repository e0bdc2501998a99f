"""A pre-flight estimate of a study's wall time and energy (``wattcut run --dry-run``).

The estimate scales measured per-unit rates to the study's sizes:

- **Basis.** An earlier study of the same model and task on this CPU, from the ledger every finished run appends
  to (``$WATTCUT_CACHE/history/ledger.jsonl``); else a **probe**: the same study in miniature (one trial, at most
  128 training rows and evaluation items, 24 requests, 2 explained items), run by the same runner in a scratch
  folder.
- **Rates.** From the basis's phase records, per variant and phase: seconds (and joules) per training sample,
  evaluation item, explained item and inference request; compression, profile and load windows as fixed costs
  (distillation and fine-tuning scale with training rows); what the phases do not cover (model loading, sentinels,
  warm-ups, writing) as a per-trial residual.
- **Scaling.** Each rate times the study's own count (its training rows x epochs, evaluation items, requests,
  explained items, trials; a variant built once per study is built once), plus ``[infer] cooldown_s`` per window
  and the idle baseline.
- **Range.** A probe's small slices amortise fixed costs differently from the full run: its estimate is given as
  0.75x-1.35x the scaled figure; an earlier full run of this machine as 0.85x-1.15x. The high end also holds one
  repeat of each trial's inference round (a round the baseline's sentinel finds drifting is run again). These
  widths are judgements, checked against actual runs (the report states predicted vs actual).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from wattcut.settings import BASELINE, StudyConfig
from wattcut.stats.prediction import PER_UNIT, rates_of, round_overhead_s
from wattcut.stats.prediction import signature as _signature
from wattcut.store.records import Results

PREDICTION_VERSION = 1
RANGES = {"probe": (0.75, 1.35), "earlier run": (0.85, 1.15)}
SCALED_COMPRESS = ("distill", "finetune")  # their cost follows the training rows


@dataclass(frozen=True)
class Part:
    """One line of the estimate: a phase of one variant over the whole study."""

    variant: str
    phase: str
    duration_s: float
    energy_j: float | None


@dataclass(frozen=True)
class Prediction:
    """What a study is expected to take, with its range and basis.

    Attributes:
        wall_s: Point estimate of the wall time.
        wall_low_s: Low end of the range.
        wall_high_s: High end.
        energy_j: Point estimate of the energy of every metered phase (gross), None when the basis has none.
        energy_low_j: Low end.
        energy_high_j: High end.
        basis: ``probe`` or ``earlier run``.
        basis_detail: What the basis was (the probe's size and wall time, or the earlier study and its date).
        parts: Per variant and phase.
        config_hash: The study config it was made for.
        cpu: The CPU it was made on.
        made_at: ISO time.
    """

    wall_s: float
    wall_low_s: float
    wall_high_s: float
    energy_j: float | None
    energy_low_j: float | None
    energy_high_j: float | None
    basis: str
    basis_detail: str
    config_hash: str
    cpu: str
    made_at: str
    parts: tuple[Part, ...] = ()
    schema_version: int = PREDICTION_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def config_hash(cfg: StudyConfig) -> str:
    """The study's identity for predictions: its config without where it writes."""
    d = cfg.to_dict()
    d.pop("out", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def history_dir() -> Path:
    """``$WATTCUT_HISTORY``, else ``$WATTCUT_CACHE/history`` (``~/.cache/wattcut/history``): ledger and predictions."""
    if os.environ.get("WATTCUT_HISTORY"):
        return Path(os.environ["WATTCUT_HISTORY"])
    return Path(os.environ.get("WATTCUT_CACHE") or Path.home() / ".cache" / "wattcut") / "history"


def cpu_key() -> str:
    """The machine kind rates transfer between: CPU model and the instruction-set flags kernels use."""
    from wattcut.measure.provenance import cpu_info

    cpu = cpu_info()
    flags = ",".join(sorted(k for k, v in cpu["flags"].items() if v))
    return f"{cpu['model']} | {cpu['cores_available']} cores | {flags}"


def _basis_key(d: dict[str, Any]) -> str:
    """What must match for an earlier run's rates to stand in: model, data, tasks and serving settings."""
    keep = {k: d.get(k) for k in ("model", "data", "tasks", "threads", "primary_task", "energy_task")}
    keep["infer"] = {k: (d.get("infer") or {}).get(k) for k in ("batch_size", "max_new_tokens")}
    keep["train"] = {k: (d.get("train") or {}).get(k) for k in ("batch_size",)}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- rates from a finished study ------------------------------------------------------------------------------------


# --- counts of the study to predict ---------------------------------------------------------------------------------


def counts_of(cfg: StudyConfig, tasks: list[Any]) -> dict[tuple[str, str], float | None]:
    """Units per trial of the study, per phase and task.

    Training samples, evaluation items, requests, explained items; None where a task does not say how many it
    has (its basis's count is kept).
    """
    from wattcut.runner.checks import task_key

    primary = tasks[0]
    out: dict[tuple[str, str], float | None] = {}
    if primary.trains and not cfg.model.already_trained:
        out[("train", task_key(primary))] = float(len(primary.train_data())) * cfg.train.epochs
    for t in tasks:
        k = task_key(t)
        if t.metric_spec is not None:
            out[("evaluate", k)] = float(t.eval_items() or (t.proxy_size() or 0)) or None
            if t.explains:
                out[("explain", k)] = float(cfg.explain.samples)
        out[("infer", k)] = float(cfg.infer.requests)
    return out


# --- the estimate ---------------------------------------------------------------------------------------------------


def predict(cfg: StudyConfig, tasks: list[Any], rates: dict[str, Any], basis: str, detail: str) -> Prediction:
    """Scale ``rates`` (from :func:`rates_of`) to ``cfg``; the range follows the basis (:data:`RANGES`)."""
    from wattcut.runner.build import reusable

    counts = counts_of(cfg, tasks)
    per = rates["variants"]
    base = per.get(BASELINE)
    if base is None:
        raise ValueError("the basis has no baseline trial")
    parts: list[Part] = []
    names: list[tuple[str, Any]] = [(BASELINE, None), *((v.name, v) for v in cfg.variants)]
    for name, variant in names:
        sig = BASELINE if variant is None else _signature(_variant_dict(cfg, name))
        own = per.get(sig)
        slot = own or base  # a variant the basis never ran: priced as the baseline (said in the detail)
        for key, acc in slot["phases"].items():
            phase, step = key.split("|", 1) if "|" in key else (key, "")
            if phase in PER_UNIT:
                if own is None and phase == "train":
                    continue  # the baseline's training is its own, not the variant's
                units = acc["units"] / max(slot["trials"], 1)
                count = counts.get((phase, step))
                if phase == "infer" and units != rates.get("infer_requests"):
                    count = None  # a workload of the task's own size (chat replay), not [infer] requests
                scale = (count / units) if units and count else 1.0
                n = cfg.trials
            else:
                if own is None:
                    continue  # an unknown variant's build cost is not the baseline's
                technique = key.split(":")[-1]  # fixed:compress:1:distill -> distill
                train = sum(v or 0.0 for (ph, _), v in counts.items() if ph == "train")
                scale = (
                    train / max(_basis_train(base), 1.0)
                    if any(s in technique for s in SCALED_COMPRESS) and train
                    else 1.0
                )
                once = variant is not None and reusable(tasks[0], variant)
                n = 1 if once else cfg.trials
            seconds = acc["duration_s"] / max(slot["trials"], 1) * scale * n
            energy = None if acc["energy_j"] is None else acc["energy_j"] / max(slot["trials"], 1) * scale * n
            parts.append(Part(name, key.split(":")[1] if key.startswith("fixed:") else phase, seconds, energy))
    # per trial: the inference round's cooldowns, warm-ups and sentinel, at each variant's predicted request rate
    per_request = {}
    for name, _ in names:
        infer_parts = [p for p in parts if p.variant == name and p.phase == "infer"]
        served = cfg.infer.requests * cfg.trials * max(len(tasks), 1)
        per_request[name] = sum(p.duration_s for p in infer_parts) / max(served, 1)
    infer_cfg = dataclasses.asdict(cfg.infer)
    overhead = round_overhead_s(infer_cfg, per_request) * cfg.trials
    infer_total = sum(p.duration_s for p in parts if p.phase == "infer")
    residual = (rates.get("residual_per_trial_s") or 0.0) * cfg.trials
    parts.append(Part("(all)", "cooldowns, warm-ups and sentinels", overhead, None))
    parts.append(Part("(all)", "idle baseline", cfg.measure.idle_s, None))
    parts.append(Part("(all)", "loading models and data, writing", residual, None))
    wall = sum(p.duration_s for p in parts)
    energies = [p.energy_j for p in parts if p.energy_j is not None]
    energy = sum(energies) if energies else None
    lo, hi = RANGES[basis]
    # a round repeated once per trial for contention (up to [infer] max_repeats can be) is in the high end
    repeat = (infer_total + overhead) if cfg.infer.max_repeats > 0 else 0.0
    unknown = [n for n, v in names if v is not None and per.get(_signature(_variant_dict(cfg, n))) is None]
    if unknown:
        detail += f"; not in the basis, priced as the baseline without its build: {', '.join(unknown)}"
    return Prediction(
        wall_s=wall,
        wall_low_s=wall * lo,
        wall_high_s=wall * hi + repeat,
        energy_j=energy,
        energy_low_j=None if energy is None else energy * lo,
        energy_high_j=None if energy is None else energy * hi,
        basis=basis,
        basis_detail=detail,
        config_hash=config_hash(cfg),
        cpu=cpu_key(),
        made_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        parts=tuple(parts),
    )


def _basis_train(base: dict[str, Any]) -> float:
    units = sum(acc["units"] for key, acc in base["phases"].items() if key.startswith("train|"))
    return float(units) / max(base["trials"], 1)


def _variant_dict(cfg: StudyConfig, name: str) -> dict[str, Any] | None:
    return next((v for v in cfg.to_dict()["variants"] if v["name"] == name), None)


# --- the ledger -----------------------------------------------------------------------------------------------------


def ledger_path() -> Path:
    """``ledger.jsonl`` in :func:`history_dir`: one line per finished study on this machine."""
    return history_dir() / "ledger.jsonl"


def record(results: Results) -> None:
    """Append a finished, complete study's rates to the ledger (a failure to write is not the study's)."""
    if not results.complete or not results.trials:
        return
    try:
        rates = rates_of(results)
        if rates["wall_s"] is None:
            return
        line = {"cpu": cpu_key(), "basis_key": _basis_key(results.config), "rates": rates}
        path = ledger_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, default=str) + "\n")
    except OSError:
        return


def from_ledger(cfg: StudyConfig) -> dict[str, Any] | None:
    """The latest earlier run on this CPU of the same model, data and tasks that ran every variant of ``cfg``."""
    path = ledger_path()
    if not path.is_file():
        return None
    key, cpu = _basis_key(cfg.to_dict()), cpu_key()
    wanted = {_signature(v) for v in cfg.to_dict()["variants"]} | {BASELINE}
    best = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash: skip it
        if entry.get("cpu") == cpu and entry.get("basis_key") == key and wanted <= set(entry["rates"]["variants"]):
            best = entry["rates"]
    return best


def prediction_path(cfg: StudyConfig) -> Path:
    """Where ``--dry-run`` leaves its prediction for the run of the same config to store."""
    return history_dir() / "predictions" / f"{config_hash(cfg)}.json"


def from_history(cfg: StudyConfig, tasks: list[Any]) -> Prediction | None:
    """The prediction from an earlier run of this study's model and data on this CPU (None: no such run)."""
    rates = from_ledger(cfg)
    if rates is None:
        return None
    detail = f"earlier run of this study's model and data on this CPU: {rates['study']} ({rates['started_at']})"
    return predict(cfg, tasks, rates, "earlier run", detail)


def stored(cfg: StudyConfig) -> dict[str, Any] | None:
    """A prediction ``--dry-run`` made for this exact config on this CPU, if any."""
    path = prediction_path(cfg)
    try:
        d: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if d.get("cpu") == cpu_key() else None


def save(cfg: StudyConfig, p: Prediction) -> Path:
    """Keep ``p`` for the run of ``cfg`` to store beside its results."""
    path = prediction_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(p.to_dict(), indent=2), encoding="utf-8")
    return path


def _fmt_s(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def describe(p: Prediction) -> list[str]:
    """Lines for the terminal: the range, the basis, the largest parts."""
    lines = [
        f"predicted wall time: {_fmt_s(p.wall_low_s)} to {_fmt_s(p.wall_high_s)} (point {_fmt_s(p.wall_s)})",
    ]
    if p.energy_j is not None and p.energy_low_j is not None and p.energy_high_j is not None:
        lines.append(
            f"predicted energy of the metered phases: {p.energy_low_j / 1000:.2f} to {p.energy_high_j / 1000:.2f} kJ "
            f"(point {p.energy_j / 1000:.2f} kJ, {p.energy_j / 3600:.2g} Wh)"
        )
    lo, hi = RANGES[p.basis]
    lines.append(f"basis: {p.basis_detail}; range {lo:g}x-{hi:g}x the scaled figure (see wattcut.runner.predict)")
    for part in sorted(p.parts, key=lambda x: -x.duration_s)[:8]:
        lines.append(f"  {part.variant:<24} {part.phase:<36} {_fmt_s(part.duration_s):>10}")
    return lines
