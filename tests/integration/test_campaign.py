"""wattcut campaign on a real Ray cluster: local mode, and two nodes on loopback with a worker killed mid-run."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).parent / "ray"
# a loopback test cluster: no usage reports; no token auth (driver, head and worker must agree, and a token file
# left in ~/.ray by an earlier local-mode run would otherwise switch the head to token mode)
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
pytest.importorskip("ray")


def write_campaign(tmp_path, tiny_bert, trials=1, datasets=("sst2", "amazon_polarity_sample")):
    base = tmp_path / "base.toml"
    base.write_text(
        f"""
[study]
name = "tiny"
trials = {trials}
[model]
name_or_path = "{tiny_bert}"
[data]
name = "sst2"
train_size = 48
eval_size = 24
max_length = 16
[infer]
requests = 6
warmup_requests = 1
rounds = 2
cooldown_s = 0.0
sentinel_requests = 2
[measure]
idle_s = 0.0
"""
    )
    camp = tmp_path / "campaign.toml"
    camp.write_text(
        """
[campaign]
name = "tiny"
experiment = "base.toml"
retries = 2

[[variant_sets]]
label = "ffn"
variants = [{ name = "ffn-50", techniques = [{ name = "prune_ffn_neurons", amount = 0.5 }] }]

[[variant_sets]]
label = "l1"
variants = [{ name = "l1-50", techniques = [{ name = "prune_l1_unstructured", amount = 0.5 }] }]
"""
        + "".join(f'\n[[datasets]]\nlabel = "{d}"\ndata = {{ name = "{d}" }}\n' for d in datasets)
    )  # binary datasets: the tiny model's saved head has two labels
    return camp


def campaign(camp, out, *extra, wait=True):
    cmd = [sys.executable, "-m", "wattcut", "campaign", str(camp), "--out", str(out), *extra]
    env = {**os.environ, **RAY_ENV}
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def trials_in(out):
    db = sqlite3.connect(out / "campaign.sqlite")
    try:
        rows = db.execute("SELECT study_id, variant, trial_index FROM trials").fetchall()
        studies = db.execute("SELECT study_id, status, attempts, node FROM studies").fetchall()
    finally:
        db.close()
    return rows, studies


def test_local_mode_runs_the_grid_once_and_a_rerun_skips_it(tiny_bert, tmp_path):
    camp, out = write_campaign(tmp_path, tiny_bert, datasets=("sst2",)), tmp_path / "out"
    r = campaign(camp, out)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows, studies = trials_in(out)
    assert len(studies) == 2 and {s[1] for s in studies} == {"done"}
    assert len(rows) == len(set(rows)) == 2 * 2  # baseline + one variant per study, each exactly once
    report = (out / "campaign.md").read_text()
    assert "## By datasets" in report and ("not exposed by this machine" in report or "°C" in report)
    for sid, *_ in studies:
        assert (out / "studies" / sid / "results.json").is_file()
    again = campaign(camp, out)
    assert again.returncode == 0 and "Resuming" in again.stdout + again.stderr
    assert trials_in(out)[0] == rows


def test_24_02_a_rerun_after_a_label_changes_meaning_runs_that_study_again(tiny_bert, tmp_path):
    camp, out = write_campaign(tmp_path, tiny_bert, datasets=("sst2",)), tmp_path / "out"
    l1 = (
        '[[variant_sets]]\nlabel = "l1"\n'
        'variants = [{ name = "l1-50", techniques = [{ name = "prune_l1_unstructured", amount = 0.5 }] }]\n'
    )
    camp.write_text(camp.read_text().replace(l1, ""))  # one study
    assert campaign(camp, out).returncode == 0
    db = sqlite3.connect(out / "campaign.sqlite")
    first = json.loads(db.execute("SELECT record_json FROM trials WHERE variant = 'ffn-50'").fetchone()[0])
    db.close()
    # same label "ffn", another meaning: the stored study must not stand in for it
    camp.write_text(camp.read_text().replace("amount = 0.5", "amount = 0.25"))
    again = campaign(camp, out)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Changed" in again.stdout + again.stderr and "Resuming" not in again.stdout + again.stderr
    db = sqlite3.connect(out / "campaign.sqlite")
    records = [json.loads(r[0]) for r in db.execute("SELECT record_json FROM trials WHERE variant = 'ffn-50'")]
    db.close()
    assert len(records) == 1 and records[0]["techniques"] != first["techniques"]
    assert records[0]["techniques"][0]["amount"] == 0.25


def test_24_11_12_a_bad_campaign_creates_no_folder_and_a_dead_address_fails_fast(tiny_bert, tmp_path):
    camp, out = write_campaign(tmp_path, tiny_bert, datasets=("sst2",)), tmp_path / "out"
    start = time.monotonic()
    r = campaign(camp, out, "--address", f"127.0.0.1:{_free_port()}")  # nothing listens there
    assert r.returncode == 2 and "No Ray cluster answers" in r.stdout + r.stderr
    assert time.monotonic() - start < 60 and not out.exists()
    r = campaign(camp, out, "--address", "not an address")
    assert r.returncode == 2 and "is not a Ray address" in r.stdout + r.stderr and not out.exists()
    camp.write_text(camp.read_text().replace('data = { name = "sst2" }', 'data = { name = "no_such_dataset" }'))
    r = campaign(camp, out)
    assert r.returncode == 2 and not out.exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_nodes():
    import tempfile

    port = _free_port()
    env = {**os.environ, **RAY_ENV}
    temp = tempfile.mkdtemp(prefix="wr-", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    res = '{"wattcut_node": 1}'
    head = [str(RAY), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
            f"--resources={res}", "--include-dashboard=false", f"--temp-dir={temp}"]  # fmt: skip
    worker = [str(RAY), "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
              f"--resources={res}"]  # fmt: skip
    try:
        for cmd in (head, worker):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def test_two_node_cluster_survives_a_killed_worker_without_losing_or_duplicating_trials(tiny_bert, tmp_path, two_nodes):
    camp, out = write_campaign(tmp_path, tiny_bert, trials=2), tmp_path / "out"
    proc = campaign(camp, out, "--address", two_nodes, wait=False)
    killed = None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:  # once a trial has reached the driver, kill a study
        if (out / "campaign.sqlite").is_file() and trials_in(out)[0]:
            pids = subprocess.run(["pgrep", "-f", "ray::run_study_task"], capture_output=True, text=True).stdout
            if pids.split():
                killed = int(pids.split()[0])
                os.kill(killed, signal.SIGKILL)
                break
        time.sleep(0.5)
    log, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, log[-4000:]
    assert killed is not None, "no study task was seen running"
    rows, studies = trials_in(out)
    assert {s[1] for s in studies} == {"done"}
    assert len(rows) == len(set(rows)) == 4 * 2 * 2  # 4 studies x (baseline + variant) x 2 trials, exactly once
    assert max(s[2] for s in studies) >= 2  # the killed study was attempted again
    assert len({s[3].split(":")[1] for s in studies}) == 2  # studies ran on both nodes
    data = json.loads((out / "campaign.json").read_text())
    assert len(data["studies"]) == 4
