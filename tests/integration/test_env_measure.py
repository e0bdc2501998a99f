"""`wattcut env` and `wattcut measure` from a fresh install, offline, with no network attempt."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NONET = REPO / "tests" / "fakes" / "nonet"


def offline(*args, tmp_path, **kw):
    log = tmp_path / "net.log"
    env = {**os.environ, "PYTHONPATH": str(NONET), "WATTCUT_NETLOG": str(log), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", *args], capture_output=True, text=True, env=env, cwd=REPO, **kw
    )
    return r, (log.read_text() if log.exists() else "")


def test_network_guard_itself_works(tmp_path):
    log = tmp_path / "net.log"
    env = {**os.environ, "PYTHONPATH": str(NONET), "WATTCUT_NETLOG": str(log)}
    code = "import socket\ntry:\n    socket.getaddrinfo('example.org', 80)\nexcept OSError:\n    pass"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert "socket.getaddrinfo" in log.read_text()


def test_env_reports_meters_and_carbon_without_network(tmp_path):
    r, net = offline("env", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert net == ""
    out = r.stdout
    for needle in (
        "CPU:",
        "avx512_vnni=",
        "amx_int8=",
        "cores:",
        "memory:",
        "cpu  rapl",
        "cpu-time-model",
        "ram  ",
        "gpu  nvml",
        "GPUs:",
        "carbon:",
    ):
        assert needle in out, (needle, out)
    if not Path("/sys/class/powercap").exists():
        assert "CPU energy will be estimated" in out or "no RAPL" in out


def test_env_shows_the_location_of_an_experiment(tmp_path):
    exp = tmp_path / "e.toml"
    exp.write_text((REPO / "examples" / "smoke.toml").read_text() + '\n[carbon]\ncountry = "FRA"\npue = 1.2\n')
    r, net = offline("env", str(exp), tmp_path=tmp_path)
    assert r.returncode == 0 and net == ""
    assert "France (FRA)" in r.stdout and "PUE 1.2" in r.stdout


def test_measure_a_command_offline(tmp_path):
    out = tmp_path / "m"
    work = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass"
    r, net = offline(
        "measure", "--out", str(out), "--country", "DEU", "--", sys.executable, "-c", work, tmp_path=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert net == ""
    result = json.loads((out / "measurement.json").read_text())
    phase = result["trials"][0]["phases"][0]
    cpu = phase["energy"]["cpu"]
    assert cpu["method"] in ("rapl", "cpu-time-model") and isinstance(cpu["estimated"], bool)
    if cpu["method"] == "cpu-time-model":
        # the child's CPU time is billed, not this process's idle wait
        assert 0.45 <= cpu["details"]["cpu_time_s"] <= 1.5
    assert phase["carbon"]["intensity_location"] == "Germany (DEU)"
    row = next(csv.DictReader((out / "emissions.csv").open()))
    assert float(row["energy_consumed"]) > 0 and row["country_iso_code"] == "DEU"
    label = f"[{'estimated' if cpu['estimated'] else 'measured'}: {cpu['method']}]"
    assert label in r.stdout  # the summary names how the CPU figure was obtained


def test_measure_passes_the_exit_code_through(tmp_path):
    r, _ = offline(
        "measure", "--out", str(tmp_path), "--", sys.executable, "-c", "raise SystemExit(3)", tmp_path=tmp_path
    )
    assert r.returncode == 3 and (tmp_path / "emissions.csv").is_file()


def test_measure_bad_input(tmp_path):
    r, _ = offline("measure", "--out", str(tmp_path), "--country", "Atlantis", "--", "true", tmp_path=tmp_path)
    assert r.returncode == 2 and "Unknown country" in r.stderr and "Traceback" not in r.stderr
    r, _ = offline("measure", "--out", str(tmp_path), tmp_path=tmp_path)
    assert r.returncode == 2 and "needs a command" in r.stderr
