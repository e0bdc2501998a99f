"""llama.cpp's own HTTP server (``llama-server``), for serving a GGUF as a deployment does.

:class:`LlamaServer` starts the server that ``scripts/setup.sh --llm`` builds from the same
llama.cpp source as the Python binding, on a loopback port, with N parallel slots
(continuous batching), waits for ``/health``, and stops it (its whole process group) on
exit. The child also gets ``PR_SET_PDEATHSIG``: if wattcut dies, even by SIGKILL, the kernel
ends the server, so none is left running. While it runs it is followed by the CPU-time and
RAM models (:mod:`wattcut.measure.follow`).

:func:`stream_completion` sends one request to an OpenAI-compatible ``/v1/completions``
endpoint with ``stream: true`` and times each streamed chunk (one token per chunk on
llama-server): time to first token and the gaps between tokens come from the stream itself.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wattcut.errors import UserInputError
from wattcut.measure.follow import follow, unfollow

_RUNNING: dict[int, LlamaServer] = {}  # pid -> server, stopped at exit whatever happens to the study


class ServeError(UserInputError):
    """A server that does not come up, or an endpoint that answers with an error."""


def server_binary() -> Path:
    """The ``llama-server`` built by setup, or an error saying how to build it."""
    from wattcut.models.llama_tools import tools_dir

    path = tools_dir() / "bin" / "llama-server"
    if not path.is_file():
        raise ServeError(
            f"llama-server is not built ({path} is missing).",
            "Run `bash scripts/setup.sh --llm` again: it builds llama.cpp's server with the Python binding.",
        )
    return path


def free_port() -> int:
    """A loopback port free now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class LlamaServer:
    """A ``llama-server`` for one GGUF (a context manager; ``url`` while it runs)."""

    gguf: Path
    threads: int
    parallel: int = 1
    ctx_per_slot: int = 2048
    port: int | None = None
    log: Path | None = None
    startup_timeout_s: float = 120.0
    what: str = ""  # what is served, in words (for the record)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlamaServer:
        """Start the server and wait until ``/health`` answers 200; a clear error when it does not come up."""
        from wattcut.models.llama_tools import tool_env

        binary = server_binary()
        if self.port is None:
            self.port = free_port()
        elif not _port_free(self.port):
            raise ServeError(
                f"Port {self.port} on 127.0.0.1 is already in use: llama-server cannot listen there.",
                "Choose another port, or leave it out so wattcut picks a free one.",
            )
        cmd = [
            str(binary), "-m", str(self.gguf), "--host", "127.0.0.1", "--port", str(self.port),
            "-t", str(self.threads), "-tb", str(self.threads), "-np", str(self.parallel),
            "-c", str(self.ctx_per_slot * self.parallel), "-cb",
        ]  # fmt: skip
        self.log = self.log or Path(os.environ.get("TMPDIR", "/tmp")) / f"wattcut-llama-server-{self.port}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603  (our own build of llama.cpp's server)
                cmd, stdout=out, stderr=subprocess.STDOUT, env=tool_env(), start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )  # fmt: skip
        _RUNNING[self.proc.pid] = self
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise ServeError(
                    f"llama-server exited (code {self.proc.returncode}) before it was ready for {self.gguf.name}: "
                    f"{tail}",
                    f"Check that the file is a valid GGUF and the port is free; the whole log is in {self.log}.",
                )
            if _healthy(self.url):
                follow(self.proc.pid)
                return self
            time.sleep(0.1)
        self.stop()
        raise ServeError(
            f"llama-server did not become ready within {self.startup_timeout_s:.0f} s for {self.gguf.name}.",
            f"See its log in {self.log}; a large model may need a longer startup.",
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if self.log else []
        except OSError:
            return ""
        return " | ".join(line.strip() for line in lines[-4:])[-600:]

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after 10 s) and stop billing it."""
        if self.proc is None:
            return
        unfollow(self.proc.pid)
        _RUNNING.pop(self.proc.pid, None)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all() -> None:
    """Stop every server this process started (at exit; also between trials)."""
    for server in list(_RUNNING.values()):
        server.stop()


atexit.register(stop_all)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _healthy(url: str) -> bool:
    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=2)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@dataclass(frozen=True)
class Reply:
    """One streamed completion: when it was sent, each token's arrival (perf_counter s), and token counts."""

    sent_s: float
    token_times_s: tuple[float, ...]
    input_tokens: int | None
    output_tokens: int
    done_s: float

    @property
    def ttft_s(self) -> float | None:
        """Time to first token."""
        return self.token_times_s[0] - self.sent_s if self.token_times_s else None

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first."""
        t = self.token_times_s
        return (t[-1] - t[0]) / (len(t) - 1) if len(t) > 1 else None


def stream_completion(
    url: str, prompt: list[int] | str, max_tokens: int, ignore_eos: bool, timeout_s: float = 300.0
) -> Reply:
    """POST a streamed greedy completion to ``url``/v1/completions and time its tokens."""
    parts = urlsplit(url)
    body = {
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": ignore_eos,  # llama.cpp's extension: fixed-length replies for like-for-like comparisons
        "cache_prompt": False,  # every request pays its own prefill, as distinct users' requests do
    }
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    sent = time.perf_counter()
    times: list[float] = []
    usage: dict[str, Any] = {}
    try:
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
        conn.request(
            "POST", (parts.path.rstrip("/") or "") + "/v1/completions", json.dumps(body),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        resp = conn.getresponse()
        if resp.status != 200:
            detail = resp.read(600).decode("utf-8", errors="replace")
            raise ServeError(
                f"The endpoint {url} answered HTTP {resp.status} to a completion request: {detail}",
                "Check the server's log; the replay stops for this variant and the study goes on.",
            )
        for raw in resp:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise ServeError(
                    f"The endpoint {url} reported an error mid-stream: {chunk['error']}",
                    "Check the server's log; the replay stops for this variant and the study goes on.",
                )
            if chunk.get("usage"):
                usage = chunk["usage"]
            if chunk.get("choices"):
                times.append(time.perf_counter())
        conn.close()
    except (OSError, http.client.HTTPException, json.JSONDecodeError) as e:
        raise ServeError(
            f"The endpoint {url} failed mid-replay: {type(e).__name__}: {e}",
            "Check that the server is up and reachable; the replay stops for this variant and the study goes on.",
        ) from None
    n_out = int(usage.get("completion_tokens") or len(times))
    times = times[:n_out] if n_out else times  # a trailing chunk that carries only the finish reason
    return Reply(sent, tuple(times), usage.get("prompt_tokens"), n_out, time.perf_counter())
