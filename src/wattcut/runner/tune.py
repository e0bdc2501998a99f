"""``wattcut tune``: one variant's deployment settings swept in interleaved paired rounds.

The variant is built as a study builds it (the baseline loaded, fine-tuned where the task trains
it, the techniques applied). Each setting is a deployment of that one model: its threads and,
for encoders, the batch size (the same texts cut into batches of that size), or, for a chat
replay served by llama-server, the concurrent clients (with as many slots); and, for a runtime
that declares one (OpenVINO), its performance hint (LATENCY: one stream of all the threads;
THROUGHPUT: the plugin's own streams, which a one-request-at-a-time workload cannot fill, so
the sweep shows what that hint costs such a deployment). Every round serves every setting
once, in a Williams order (every position and predecessor equally often), each in its own
metered window, so drift hits the settings alike and each round pairs them. ``stats.tune``
then picks the lowest energy per unit (text, or output token) whose p95 latency meets the target.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.runner.order import round_order
from wattcut.settings import StudyConfig
from wattcut.ui import console

HINTS = ("LATENCY", "THROUGHPUT")  # OpenVINO's, the one runtime that declares a performance hint
HINT_RUNTIMES = ("openvino",)  # checked before the build; the built handle's capability is checked after it


@dataclass(frozen=True)
class Setting:
    """One deployment: threads, the batch size (encoders) or concurrent clients (served chat replay), the hint."""

    threads: int
    batch_size: int | None = None
    concurrency: int | None = None
    hint: str | None = None  # the runtime's performance hint; None: as the variant was built

    @property
    def name(self) -> str:
        """``t2-b8`` / ``t1-c4`` / ``t1-b1-throughput``."""
        base = (
            f"t{self.threads}-c{self.concurrency}"
            if self.concurrency is not None
            else f"t{self.threads}-b{self.batch_size}"
        )
        return f"{base}-{self.hint.lower()}" if self.hint else base


@dataclass
class Measured:
    """What one setting's windows gave: per-round energy per unit, and every request's latencies."""

    setting: Setting
    energy_per_unit_j: list[float | None] = field(default_factory=list)  # one per round
    estimated: bool = True
    latency_s: list[float] = field(default_factory=list)  # request latency (encoders) or TTFT (served)
    tpot_s: list[float] = field(default_factory=list)  # served: each request's time per output token


def grid(
    cfg: StudyConfig,
    task: Any,
    variant_threads: int | None,
    threads: list[int],
    sizes: list[int],
    hints: list[str] | None = None,
) -> list[Setting]:
    """The settings to sweep, the study's own deployment first (the default every saving is measured against)."""
    bad = [h for h in hints or [] if h not in HINTS]
    if bad:
        raise UserInputError(
            f"--hints {','.join(bad)}: not a performance hint wattcut can set.", f"Use {' or '.join(HINTS)}."
        )
    served = task.name == "chat_replay"
    if served and task.config.serve != "llama_server":
        raise UserInputError(
            "wattcut tune sweeps concurrency for a chat replay served by llama-server; this study's energy task is "
            f'served "{task.config.serve}".',
            'Set serve = "llama_server" in its [[tasks]] entry, or tune an encoder study.',
        )
    from wattcut.runner.checks import threads_of

    default_threads = variant_threads or threads_of(cfg)
    default_size: int = task.config.concurrency if served else cfg.infer.batch_size
    default = Setting(default_threads, None, default_size) if served else Setting(default_threads, default_size)
    out = [default]
    hint_choices: list[str | None] = list(hints or []) or [None]
    for t, n, h in itertools.product(threads or [default_threads], sizes or [default_size], hint_choices):
        s = Setting(t, concurrency=n, hint=h) if served else Setting(t, batch_size=n, hint=h)
        if s not in out:
            out.append(s)
    return out


def _check_hints(settings: list[Setting], spec: Any, variant: str) -> None:
    """Refuse hints for a variant whose last step returns a runtime without one, before anything is built."""
    if not any(s.hint for s in settings):
        return
    from wattcut.compress import TECHNIQUES

    runtime = "pytorch"
    if spec is not None and spec.techniques:
        last = spec.techniques[-1]
        runtime = TECHNIQUES.get(last.name).routes(last.config)[1]
    if runtime not in HINT_RUNTIMES:
        raise UserInputError(
            f"{variant} ends on {runtime}, which has no performance hint wattcut can set.",
            "Leave --hints out, or tune a variant on OpenVINO.",
        )


def resolve_hints(settings: list[Setting], model: Any, variant: str) -> list[Setting]:
    """Settings with the built model's own hint in place of None, duplicates dropped (the default stays first)."""
    if not any(s.hint for s in settings):
        return settings
    if not model.capabilities.performance_hint:
        raise UserInputError(
            f"{variant} runs on {model.runtime}, which has no performance hint wattcut can set.",
            "Leave --hints out, or tune a variant on OpenVINO.",
        )
    out: list[Setting] = []
    for s in settings:
        r = replace(s, hint=s.hint or model.performance_hint)
        if r not in out:
            out.append(r)
    return out


def _task_for(task: Any, cfg: StudyConfig, s: Setting, texts: int) -> Any:
    """The energy task set for ``s``: the same texts in batches of ``s.batch_size``, or ``s.concurrency`` clients."""
    if s.concurrency is not None:
        t = type(task)(cfg, replace(task.config, concurrency=s.concurrency, parallel=s.concurrency), task.key)
    else:
        batch = s.batch_size or 1
        # tune's own rounds; [infer] bucket groups the texts of batches above 1 (a batch of one pads nothing)
        bucket = cfg.infer.bucket and batch > 1
        infer = replace(cfg.infer, batch_size=batch, requests=max(1, texts // batch), rounds=1, bucket=bucket)
        t = type(task)(replace(cfg, infer=infer), task.config, task.key)
    t.prepare()
    return t


def measure(
    cfg: StudyConfig, variant: str, settings: list[Setting], rounds: int, texts: int, session: Any, work: Path
) -> tuple[list[Measured], dict[str, Any]]:
    """Build ``variant`` and serve every setting once per round, in a Williams order; per-round figures."""
    from wattcut.measure.base import PhaseRecord
    from wattcut.runner.build import build_variant
    from wattcut.runner.checks import check_inputs, task_key
    from wattcut.ui import escape

    source, tasks, _ = check_inputs(cfg)
    primary = tasks[0]
    energy_key = cfg.energy_task or task_key(primary)
    task = next(t for t in tasks if task_key(t) == energy_key)
    tokenizer = primary.load_tokenizer(source)
    names = {v.name: v for v in cfg.variants}
    if variant != "baseline" and variant not in names:
        raise UserInputError(
            f'The study has no variant "{variant}".', f"Choose one of: baseline, {', '.join(names) or '(none)'}."
        )
    _check_hints(settings, names.get(variant), variant)
    # every workload checked before the build; a hint does not change the workload, so it is keyed without one
    per = {replace(s, hint=None): _task_for(task, cfg, s, texts) for s in settings}
    console.print(f"building {escape(variant)} as the study builds it...")
    base = primary.load_model(source)
    if primary.trains:
        with session.phase("train", step=task_key(primary)) as rec:
            primary.fine_tune(base, tokenizer, cfg.seed, rec)
    model = base
    if variant != "baseline":
        vdir = work / variant
        vdir.mkdir(parents=True, exist_ok=True)
        model = build_variant(
            cfg, primary, names[variant], base, tokenizer, settings[0].threads, vdir, cfg.seed, session, source, None
        )[0]
    session.take()
    settings = resolve_hints(settings, model, variant)  # the default's None becomes the built hint, served once
    if not model.capabilities.threads and not model.capabilities.gguf and len({s.threads for s in settings}) > 1:
        raise UserInputError(
            f"{variant} runs on {model.runtime}, whose thread count wattcut cannot set per deployment.",
            "Tune one thread count (--threads N), or tune a variant on PyTorch, ONNX Runtime, OpenVINO or llama.cpp.",
        )
    workload = {s: t.make_requests(tokenizer, cfg.seed) for s, t in per.items()}
    out = {s: Measured(s) for s in settings}
    for r in range(rounds):
        order = round_order(settings, r)  # every position, and every predecessor, equally often
        for s in order:
            t, reqs = per[replace(s, hint=None)], workload[replace(s, hint=None)]
            _deploy(model, s, variant, work)
            warm = t.warmup_requests()
            t.serve(model, reqs[:warm] if warm else reqs[:1], PhaseRecord("warmup", 0.0), desc=f"warm-up {s.name}")
            time.sleep(cfg.infer.cooldown_s)
            with session.phase("infer", step=s.name) as rec:
                latencies = t.serve(
                    model, reqs[warm:], rec, desc=f"round {r + 1}/{rounds} {s.name}", window=session.window
                )
            session.take()
            m = out[s]
            m.estimated = bool(rec.estimated)
            if s.concurrency is not None:
                details = t.request_details() or []
                tokens = sum(d["output_tokens"] for d in details)
                m.energy_per_unit_j.append(rec.energy_j / tokens if rec.energy_j is not None and tokens else None)
                m.latency_s += [d["ttft_s"] for d in details if d["ttft_s"] is not None]
                m.tpot_s += [d["tpot_s"] for d in details if d["tpot_s"] is not None]
            else:
                m.energy_per_unit_j.append(
                    rec.energy_j / rec.samples if rec.energy_j is not None and rec.samples else None
                )
                m.latency_s += latencies
    for t in per.values():
        if t.name == "chat_replay":
            t.close()
    unit = "output token" if settings[0].concurrency is not None else "text"
    return list(out.values()), {
        "variant": variant,
        "runtime": model.runtime,
        "precision": model.precision,
        "unit": unit,
        **({"bucket": True} if cfg.infer.bucket and unit == "text" else {}),
    }


def _deploy(model: Any, s: Setting, variant: str, work: Path) -> None:
    """Serve ``model`` with ``s.threads`` (llama.cpp: the served GGUF's server is started with them) and hint."""
    if s.hint is not None and model.performance_hint != s.hint:
        model.set_performance_hint(s.hint)  # recompiles with the handle's current threads; set_threads keeps it
    if model.capabilities.threads:
        model.set_threads(s.threads)
    elif model.capabilities.gguf:
        model.threads = s.threads  # the server the chat replay starts for this setting takes the handle's count
