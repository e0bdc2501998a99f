"""Chat replay (seed 003): a fixed, timestamped sequence of prompts served by greedy generation.

The workload is seeded and identical for every variant: by default the first utterance
of the first ``prompts`` DailyDialog test dialogues, arriving as a Poisson process at
``rate_per_s`` (seeded), or ``timestamp,prompt`` rows from a CSV. It is replayed either
in ``realtime`` (the replay waits for each arrival, so the idle gaps a real deployment
has are measured and billed, each in its own window) or ``back_to_back``.

Every request runs in its own metered window, split into a prefill window (prompt
processing up to the first token) and a decode window (the remaining tokens), as
optimum-benchmark and AI Energy Score split them: input and output tokens, time to first
token and time per output token (observed token by token, not apportioned), queueing
delay, energy per request, per output token, and of each part. Units as the leaderboards
use them: J per response, J per output token, Wh per 1,000 queries. The task has no quality metric: it
measures what serving costs, so it cannot be a study's primary task.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from wattcut.errors import UserInputError
from wattcut.measure.base import PhaseRecord
from wattcut.tasks.base import task
from wattcut.tasks.lm import CausalLMTask, find_data_file, stop_ids
from wattcut.ui import bar


@dataclass(frozen=True)
class ChatReplayConfig:
    """``[[tasks]] name = "chat_replay"``.

    Attributes:
        file: DailyDialog dialogues file (``__eou__``-separated turns, one dialogue a line).
        arrivals_csv: A CSV with ``timestamp,prompt`` rows instead (seconds from the start, or ISO 8601 times).
        prompts: Requests replayed (the first N dialogues' first utterances, or the first N CSV rows).
        rate_per_s: Mean arrival rate of the seeded Poisson process (ignored with ``arrivals_csv``).
        seed: Seed of the arrival process.
        mode: ``realtime`` (wait for each arrival; idle gaps measured) or ``back_to_back``.
        max_new_tokens: Greedy generation budget per reply.
        length: ``natural`` (a reply ends at the model's end-of-turn token) or ``fixed``
            (exactly ``max_new_tokens`` per reply, stop tokens ignored, as AI Energy Score does,
            so variants are compared on the same work).
        system: Optional system message.
        warmup_requests: Prompts served untimed before the replay (from the end of the list).
        serve: ``in_process`` (the variant's runtime, one request at a time), ``llama_server``
            (llama.cpp's HTTP server, started by wattcut for the variant's GGUF on a loopback port;
            a PyTorch decoder is converted to an F16 GGUF first) or ``endpoint`` (an
            OpenAI-compatible server someone else runs: latency and tokens only, no energy).
        concurrency: Clients sending requests at once (served modes).
        parallel: The server's parallel slots (None = concurrency).
        endpoint: Base URL of the server for ``serve = "endpoint"`` (e.g. ``http://10.0.0.5:8080``).
        port: Loopback port for ``llama_server`` (None = a free one).
    """

    file: str = "dailydialog/dialogues_test.txt"
    arrivals_csv: str | None = None
    prompts: int = 30
    rate_per_s: float = 0.5
    seed: int = 0
    mode: Literal["realtime", "back_to_back"] = "realtime"
    max_new_tokens: int = 32
    length: Literal["natural", "fixed"] = "natural"
    system: str | None = None
    warmup_requests: int = 1
    serve: Literal["in_process", "llama_server", "endpoint"] = "in_process"
    concurrency: int = 1
    parallel: int | None = None
    endpoint: str | None = None
    port: int | None = None
    version: int = 1

    def __post_init__(self) -> None:
        if self.prompts < 1 or self.max_new_tokens < 1 or self.rate_per_s <= 0 or self.warmup_requests < 0:
            raise UserInputError(
                '[[tasks]] "chat_replay": prompts and max_new_tokens must be 1 or more, rate_per_s above 0.',
                "Correct them.",
            )
        if self.serve not in ("in_process", "llama_server", "endpoint"):
            raise UserInputError(
                f'[[tasks]] "chat_replay" serve = "{self.serve}" is unknown.',
                'Use "in_process", "llama_server" or "endpoint".',
            )
        if self.concurrency < 1 or (self.parallel is not None and self.parallel < 1):
            raise UserInputError(
                '[[tasks]] "chat_replay": concurrency and parallel must be 1 or more.', "Correct them."
            )
        if self.concurrency > 1 and self.serve == "in_process":
            raise UserInputError(
                f'[[tasks]] "chat_replay" concurrency = {self.concurrency} needs a server: in-process serving takes '
                "one request at a time.",
                'Set serve = "llama_server" (or "endpoint"), or concurrency = 1.',
            )
        if (self.serve == "endpoint") != (self.endpoint is not None):
            raise UserInputError(
                '[[tasks]] "chat_replay": endpoint is the URL for serve = "endpoint", and only for it.',
                'Set both serve = "endpoint" and endpoint = "http://host:port", or neither.',
            )
        if self.endpoint is not None and not re.match(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", self.endpoint):
            raise UserInputError(
                f'[[tasks]] "chat_replay" endpoint = "{self.endpoint}" is not an http(s) URL.',
                'Give the server\'s base URL, e.g. "http://10.0.0.5:8080".',
            )
        if self.port is not None and not 1024 <= self.port <= 65535:
            raise UserInputError(
                f'[[tasks]] "chat_replay" port = {self.port} is not a usable port.', "Use 1024-65535, or leave it out."
            )


@dataclass(frozen=True)
class Arrival:
    """One request of the replay: its arrival time (seconds from the start) and its prompt."""

    at_s: float
    prompt: str


def read_arrivals_csv(path: Path, limit: int) -> list[Arrival]:
    """``timestamp,prompt`` rows: seconds (float) or ISO 8601 times, made relative to the first row."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except UnicodeDecodeError as e:
        raise UserInputError(
            f'The replay CSV "{path}" is not UTF-8 text (bad byte at offset {e.start}).',
            "Save it as a UTF-8 CSV with the columns timestamp,prompt.",
        ) from None
    if not rows or not {"timestamp", "prompt"} <= set(rows[0]):
        raise UserInputError(
            f'The replay CSV "{path}" needs a header with the columns timestamp and prompt.',
            "Write it as: timestamp,prompt then one row per request (seconds from the start, or ISO 8601 times).",
        )
    times: list[float] = []
    for i, row in enumerate(rows[:limit], start=2):
        raw = (row["timestamp"] or "").strip()
        try:
            seconds = float(raw)
            if not math.isfinite(seconds):
                raise UserInputError(
                    f'The replay CSV "{path}", line {i}: timestamp "{raw}" is not a finite time.',
                    "Give seconds from the start (e.g. 1.5) or an ISO 8601 time.",
                )
            times.append(seconds)
        except ValueError:
            try:
                times.append(datetime.fromisoformat(raw).timestamp())
            except ValueError:
                raise UserInputError(
                    f'The replay CSV "{path}", line {i}: timestamp "{raw}" is neither seconds nor an ISO 8601 time.',
                    'Use seconds from the start (e.g. 1.5) or times such as "2024-05-01T12:00:03".',
                ) from None
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise UserInputError(
            f'The replay CSV "{path}" has timestamps that go back in time.', "Sort the rows by timestamp."
        )
    prompts = [(row["prompt"] or "").strip() for row in rows[:limit]]
    if any(not p for p in prompts):
        raise UserInputError(f'The replay CSV "{path}" has an empty prompt.', "Give every row a prompt.")
    return [Arrival(t - times[0], p) for t, p in zip(times, prompts, strict=True)]


def dailydialog_openers(path: Path, limit: int) -> list[str]:
    """The first utterance of the first ``limit`` dialogues (DailyDialog's spaced punctuation tidied)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        first = line.split("__eou__")[0].strip()
        if first:
            for a, b in ((" ’ ", "’"), (" ' ", "'"), (" ,", ","), (" .", "."), (" ?", "?"), (" !", "!")):
                first = first.replace(a, b)
            out.append(first)
        if len(out) == limit:
            break
    return out


def poisson_arrivals(n: int, rate_per_s: float, seed: int) -> list[float]:
    """``n`` arrival times (s) of a seeded Poisson process; the first request arrives at 0."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(n):
        if i:
            t += rng.expovariate(rate_per_s)
        out.append(t)
    return out


_RETIRED: list[Any] = []  # llama-servers done serving, stopped before the next one starts or at the trial's end


@task
class ChatReplay(CausalLMTask):
    """Replay a timestamped prompt workload with greedy generation; per-request TTFT, TPOT, tokens, energy."""

    name = "chat_replay"
    config_cls = ChatReplayConfig
    summary = "replay timestamped chat prompts (DailyDialog or a CSV), realtime or back to back; TTFT, J/token"
    metric_spec = None
    interleaves = False  # one replay: its arrival times and per-request windows span the whole list

    def __init__(self, study: Any, config: ChatReplayConfig, key: str | None = None) -> None:
        super().__init__(study, config, key)
        if config.serve == "llama_server":
            # what llama-server loads: a GGUF, or a PyTorch decoder converted to F16 (``_gguf_of``); validate refuses
            # a variant that ends on OpenVINO GenAI or ONNX Runtime GenAI before anything runs
            self.runtimes = ("pytorch", "pytorch-compile", "llamacpp")

    def prepare(self) -> None:
        """Build the replay (prompts and arrival times) and check it."""
        from wattcut.data.catalog import shown

        cfg = self.config
        if cfg.arrivals_csv is not None:
            path = find_data_file(cfg.arrivals_csv, '[[tasks]] "chat_replay" arrivals_csv')
            self.arrivals = read_arrivals_csv(path, cfg.prompts)
            self.source = shown(path)
        else:
            path = find_data_file(cfg.file, '[[tasks]] "chat_replay" file')
            prompts = dailydialog_openers(path, cfg.prompts)
            times = poisson_arrivals(len(prompts), cfg.rate_per_s, cfg.seed)
            self.arrivals = [Arrival(t, p) for t, p in zip(times, prompts, strict=True)]
            self.source = f"{shown(path)} (Poisson arrivals at {cfg.rate_per_s:g}/s, seed {cfg.seed})"
        if len(self.arrivals) < cfg.prompts:
            raise UserInputError(
                f'[[tasks]] "chat_replay" asks for {cfg.prompts} prompts, but {self.source} has {len(self.arrivals)}.',
                "Ask for fewer prompts, or give a longer file.",
            )
        self._details: list[dict[str, Any]] | None = None
        if cfg.serve == "llama_server":  # refused by validate too: the server must be built before a study starts
            from wattcut.runtimes.llama_server import server_binary

            server_binary()

    def check_model(self, source: str) -> None:
        """A causal LM whose positions hold every prompt (chat template applied) plus its new tokens."""
        super().check_model(source)
        from wattcut.models.loading import load_config

        limit = getattr(load_config(source, self.study.model), "max_position_embeddings", None)
        if not isinstance(limit, int):
            return
        tokenizer = self.load_tokenizer(source)
        for n, a in enumerate(self.arrivals, 1):
            need = len(self._ids(tokenizer, a.prompt)) + self.config.max_new_tokens
            if need > limit:
                raise UserInputError(
                    f'[[tasks]] "chat_replay" prompt {n} of {self.source} takes {need - self.config.max_new_tokens} '
                    f"tokens, plus max_new_tokens = {self.config.max_new_tokens}: {need}, more than the model's "
                    f"{limit} positions.",
                    "Shorten that prompt, lower max_new_tokens, or use a model with a longer context.",
                )

    def describe_data(self) -> str:
        """Requests, span and mode."""
        span = self.arrivals[-1].at_s if self.arrivals else 0.0
        return (
            f"{len(self.arrivals)} prompts from {self.source} over {span:.1f} s, {self.config.mode}, "
            f"up to {self.config.max_new_tokens} new tokens each"
        )

    def calibration_texts(self) -> list[str]:
        """The prompts (the workload has no held-out evaluation items)."""
        return [a.prompt for a in self.arrivals]

    def _ids(self, tokenizer: Any, prompt: str) -> list[int]:
        messages = [{"role": "system", "content": self.config.system}] if self.config.system else []
        messages.append({"role": "user", "content": prompt})
        if getattr(tokenizer, "chat_template", None) is None:
            return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def make_requests(self, tokenizer: Any, seed: int) -> list[Any]:
        """Warm-up prompts (the last ones, served back to back), then the replay; tokenized here, untimed."""
        self.stop = stop_ids(tokenizer) if self.config.length == "natural" else set()
        self._tokenizer = tokenizer
        self.close()  # a new trial: the previous trial's servers (and their variants' handles) are done
        replay = [(a.at_s, self._ids(tokenizer, a.prompt)) for a in self.arrivals]
        warm = [(0.0, ids) for _, ids in replay[-self.config.warmup_requests :]] if self.config.warmup_requests else []
        return warm + replay

    def close(self) -> None:
        """Stop the servers this task started."""
        for server in [*getattr(self, "_servers", {}).values(), *_RETIRED]:
            server.stop()
        _RETIRED.clear()
        self._servers: dict[int, Any] = {}

    def _url(self, model: Any) -> tuple[str, str]:
        """The base URL serving ``model``, and what is served there.

        A server is started once per variant and trial: by the warm-up, outside the metered windows.
        """
        from wattcut.runtimes.llama_server import LlamaServer

        cfg = self.config
        if cfg.endpoint is not None:
            return cfg.endpoint, f"the endpoint {cfg.endpoint}"
        while _RETIRED:  # servers whose metered replay is over, stopped here: outside any metered window
            _RETIRED.pop().stop()
        servers = getattr(self, "_servers", None)
        if servers is None:
            self._servers = servers = {}
        key = id(model)
        if key not in servers:
            gguf, what = self._gguf_of(model)
            threads = model.threads if model.capabilities.gguf else len(os.sched_getaffinity(0))
            servers[key] = LlamaServer(gguf, threads, cfg.parallel or cfg.concurrency, port=cfg.port).start()
            servers[key].what = what
        return servers[key].url, servers[key].what

    def _gguf_of(self, model: Any) -> tuple[Path, str]:
        """The GGUF llama-server loads: the variant's own, or a PyTorch decoder converted to F16 (cached)."""
        import tempfile

        from wattcut.models.llama_tools import convert

        if model.capabilities.gguf:
            return Path(model.path), f"llama-server on {Path(model.path).name}"
        if not model.capabilities.module:
            raise UserInputError(
                f'[[tasks]] "chat_replay" serve = "llama_server" serves GGUF models; a {model.runtime} variant '
                "cannot be loaded by llama-server.",
                'Serve it in process (serve = "in_process"), or build it with gguf_quantize.',
            )
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp))
            self._tokenizer.save_pretrained(tmp)
            converted = convert(Path(tmp), "f16", Path(tmp) / "convert.log")
        return converted.path, "llama-server on an F16 GGUF converted from the PyTorch model"

    def _serve_http(self, model: Any, requests: list[Any], rec: PhaseRecord, desc: str, window: Any) -> list[float]:
        """Replay through a server with ``concurrency`` clients.

        Per-request energy is the served window's, shared by token activity (:mod:`wattcut.measure.attribution`).
        """
        import threading
        from concurrent.futures import ThreadPoolExecutor
        from contextlib import nullcontext

        from wattcut.measure.attribution import RULE, Activity, attribute
        from wattcut.measure.follow import cpu_s
        from wattcut.runtimes.llama_server import stream_completion

        cfg = self.config
        url, what = self._url(model)
        remote = cfg.endpoint is not None
        ignore_eos = cfg.length == "fixed"
        realtime = cfg.mode == "realtime" and window is not None

        def prompt(ids: list[int]) -> list[int] | str:  # another party's server may not take token ids
            return self._tokenizer.decode(ids) if remote else ids

        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:  # the server's CPU seconds through the window, for the attribution's intervals
            while True:
                samples.append((time.perf_counter(), sum(cpu_s().values())))
                if done.wait(0.02):
                    samples.append((time.perf_counter(), sum(cpu_s().values())))
                    return

        meter = window("replay") if window is not None else nullcontext(PhaseRecord(phase="replay", duration_s=0.0))
        sampler = threading.Thread(target=sample, name="wattcut-served-cpu", daemon=True)
        with meter as w, ThreadPoolExecutor(cfg.concurrency, thread_name_prefix="wattcut-client") as pool:
            sampler.start()
            t0 = time.perf_counter()
            futures = []
            with bar(desc, len(requests)) as advance:
                for at_s, ids in requests:
                    if realtime and (wait := at_s - (time.perf_counter() - t0)) > 0:
                        time.sleep(wait)
                    fut = pool.submit(stream_completion, url, prompt(ids), cfg.max_new_tokens, ignore_eos)
                    fut.add_done_callback(lambda _f: advance(1))
                    futures.append(fut)
                try:
                    replies = [f.result() for f in futures]
                finally:
                    done.set()
                    sampler.join()
        measured = w.energy_j is not None and not remote
        shares = attribute(
            w.energy_j or 0.0,
            samples,
            [Activity(r.sent_s, r.done_s, r.token_times_s, r.input_tokens or len(ids)) for r, (_, ids) in
             zip(replies, requests, strict=True)],
        )  # fmt: skip
        details, latencies = [], []
        for i, ((at_s, ids), r, sh) in enumerate(zip(requests, replies, shares, strict=True)):
            duration = r.done_s - r.sent_s
            latencies.append(duration)
            rec.requests += 1
            rec.samples += 1
            rec.tokens += len(ids) + r.output_tokens
            first = r.token_times_s[0] if r.token_times_s else r.done_s
            details.append(
                {
                    "index": i,
                    "arrival_s": at_s,
                    "started_s": r.sent_s - t0,
                    "queue_delay_s": max(0.0, r.sent_s - t0 - at_s) if realtime else None,
                    "input_tokens": r.input_tokens or len(ids),
                    "output_tokens": r.output_tokens,
                    "duration_s": duration,
                    "ttft_s": r.ttft_s,
                    "tpot_s": r.tpot_s,
                    "energy_j": sh["energy_j"] if measured else None,
                    "estimated": w.estimated,
                    "energy_per_output_token_j": sh["energy_j"] / r.output_tokens
                    if measured and r.output_tokens
                    else None,
                    "prefill_s": first - r.sent_s,
                    "prefill_energy_j": sh["prefill_energy_j"] if measured else None,
                    "decode_s": r.done_s - first,
                    "decode_energy_j": sh["decode_energy_j"] if measured else None,
                    "idle_before_s": None,
                    "idle_before_energy_j": None,
                }
            )
        if window is not None and not remote:  # the metered replay is done: retire its server (stopped later,
            _RETIRED.append(self._servers.pop(id(model)))  # outside this window, whose meters still follow it)
        served = {
            "serve": cfg.serve,
            "served_by": what,
            "concurrency": cfg.concurrency,
            "parallel": cfg.parallel or cfg.concurrency,
            "window_energy_j": w.energy_j if measured else None,
            "energy_rule": RULE if measured else "not measured: the server runs elsewhere; latency and tokens only",
            "cpu_samples": len(samples),
        }
        if details:  # carried with this replay's records: the summary is made after other replays ran
            details[0]["served"] = served
        self._details = details
        return latencies

    def serve(self, model: Any, requests: list[Any], rec: PhaseRecord, desc: str = "infer", window: Any = None):
        """Replay ``requests``; each request (and, in realtime mode, each idle gap) in its own metered window."""
        from contextlib import ExitStack, nullcontext

        if self.config.serve != "in_process":
            return self._serve_http(model, requests, rec, desc, window)

        def meter(name: str) -> Any:
            return window(name) if window is not None else nullcontext(PhaseRecord(phase=name, duration_s=0.0))

        realtime = self.config.mode == "realtime" and window is not None  # warm-ups run back to back
        details: list[dict[str, Any]] = []
        latencies = []
        t0 = time.perf_counter()
        with bar(desc, len(requests)) as advance:
            for i, (at_s, ids) in enumerate(requests):
                idle_j = idle_s = None
                if realtime:
                    wait = at_s - (time.perf_counter() - t0)
                    if wait > 0:
                        with meter("idle") as gap:
                            time.sleep(wait)
                        idle_j, idle_s = gap.energy_j, gap.duration_s
                started = time.perf_counter() - t0
                with meter("request") as w, ExitStack() as stack:
                    parts: dict[str, PhaseRecord] = {"prefill": stack.enter_context(meter("prefill"))}

                    def first_token(parts: dict[str, PhaseRecord] = parts, stack: ExitStack = stack) -> None:
                        stack.close()  # the runtime calls this when the first token is out
                        parts["decode"] = stack.enter_context(meter("decode"))

                    out, ttft, token_s = model.generate(
                        ids, self.config.max_new_tokens, self.stop, on_first=first_token
                    )
                    stack.close()
                latencies.append(w.duration_s)
                rec.requests += 1
                rec.samples += 1
                rec.tokens += len(ids) + len(out)
                details.append(
                    {
                        "index": i,
                        "arrival_s": at_s,
                        "started_s": started,
                        "queue_delay_s": max(0.0, started - at_s) if realtime else None,
                        "input_tokens": len(ids),
                        "output_tokens": len(out),
                        "duration_s": w.duration_s,
                        "ttft_s": ttft,
                        "tpot_s": statistics.fmean(token_s) if token_s else None,
                        "energy_j": w.energy_j,
                        "estimated": w.estimated,
                        "energy_per_output_token_j": w.energy_j / len(out) if w.energy_j is not None and out else None,
                        "prefill_s": parts["prefill"].duration_s,
                        "prefill_energy_j": parts["prefill"].energy_j,
                        "decode_s": parts["decode"].duration_s if "decode" in parts else 0.0,
                        "decode_energy_j": parts["decode"].energy_j if "decode" in parts else None,
                        "idle_before_s": idle_s,
                        "idle_before_energy_j": idle_j,
                    }
                )
                advance(1)
        self._details = details
        return latencies

    def request_details(self) -> list[dict[str, Any]] | None:
        """Per-request facts of the last replay."""
        return self._details

    def workload_summary(self, details: list[dict[str, Any]], phase: dict[str, Any]) -> dict[str, Any]:
        """Tokens per joule, energy per output token, idle energy and the wall-time accounting check."""

        def total(key: str) -> float | None:
            xs = [d[key] for d in details if d[key] is not None]
            return float(sum(xs)) if xs else None

        out_tokens = sum(d["output_tokens"] for d in details)
        in_tokens = sum(d["input_tokens"] for d in details)
        request_s, idle_s = total("duration_s") or 0.0, total("idle_before_s") or 0.0
        energy = phase.get("energy_j")
        ttfts = sorted(d["ttft_s"] for d in details)
        tpots = [d["tpot_s"] for d in details if d["tpot_s"] is not None]
        request_j, prefill_j, decode_j = total("energy_j"), total("prefill_energy_j"), total("decode_energy_j")
        per_response = request_j / len(details) if request_j is not None and details else None
        served = details[0].get("served") if details else None
        return {
            **(served or {}),
            "mode": self.config.mode,
            "length": self.config.length,
            "requests": len(details),
            "input_tokens": in_tokens,
            "output_tokens": out_tokens,
            "phase_wall_s": phase["duration_s"],
            "request_windows_s": request_s,
            "idle_gaps_s": idle_s,
            "accounted_share": (request_s + idle_s) / phase["duration_s"] if phase["duration_s"] else None,
            "request_energy_j": request_j,
            "prefill_s": total("prefill_s"),
            "decode_s": total("decode_s"),
            "prefill_energy_j": prefill_j,
            "decode_energy_j": decode_j,
            # prefill + decode windows against the request windows they split (a check, 1.0 ideally)
            "split_share": (prefill_j + (decode_j or 0.0)) / request_j if request_j and prefill_j is not None else None,
            "energy_per_response_j": per_response,
            "wh_per_1000_queries": per_response * 1000 / 3600 if per_response is not None else None,
            "idle_energy_j": total("idle_before_energy_j"),
            "phase_energy_j": energy,
            "output_tokens_per_j": out_tokens / energy if energy else None,
            "energy_per_output_token_j": energy / out_tokens if energy and out_tokens else None,
            "ttft_p50_s": statistics.median(ttfts) if ttfts else None,
            "tpot_mean_s": statistics.fmean(tpots) if tpots else None,
            "decode_tokens_per_s": 1 / statistics.fmean(tpots) if tpots else None,
        }
