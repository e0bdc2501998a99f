"""Issue 24 (hardening, round 2): each test is named after the item it covers and failed before its fix."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.records import results as as_results
from wattcut.cli import main
from wattcut.errors import UserInputError

START = datetime(2024, 3, 1, tzinfo=UTC)
BASE = '[study]\nname = "x"\n[model]\nname_or_path = "m"\n[data]\nname = "sst2"\n'


def hourly(path, values, hours=None):
    hours = hours if hours is not None else range(len(values))
    stamps = [(START + timedelta(hours=h)).isoformat() for h in hours]
    rows = ["timestamp,g_per_kwh"] + [f"{t},{v}" for t, v in zip(stamps, values, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def said(capsys):
    r = capsys.readouterr()
    return r.out + r.err


def place(*args):
    base = ["place", "--energy-kwh", "2", "--hours", "2", "--start", START.isoformat(), "--deadline-h", "12"]
    return main([*base, *args])


# 3. place recommends a region because of a NaN; negative or NaN figures give negative or NaN CO2e ---------------
@pytest.mark.parametrize("bad", ["nan", "-5", "inf"])
def test_03_a_series_with_nan_or_negative_intensity_is_refused_not_recommended(tmp_path, capsys, bad):
    good = hourly(tmp_path / "good.csv", [300] * 24)
    odd = hourly(tmp_path / "odd.csv", [100, bad] + [100] * 22)
    assert place("--region", f"GOOD={good}", "--region", f"ODD={odd}") == 2
    err = said(capsys)
    assert "row 3" in err and "finite number, 0 or more" in err


@pytest.mark.parametrize(
    "flag", [["--pue", "-3"], ["--pue", "nan"], ["--energy-kwh", "nan"], ["--embodied-g-per-h", "-1e9"],
             ["--hours", "inf"], ["--deadline-h", "1e300"]]
)  # fmt: skip
def test_03_place_flags_must_be_finite_and_in_range(tmp_path, capsys, flag):
    good = hourly(tmp_path / "good.csv", [300] * 24)
    assert place("--region", f"GOOD={good}", *flag) == 2  # a usage error naming the flag, no traceback
    err = capsys.readouterr().err
    assert flag[0] in err and "Traceback" not in err


def test_03_placement_api_refuses_non_finite_figures(tmp_path):
    from wattcut.measure.carbon import TimeSeries
    from wattcut.stats.placement import Job
    from wattcut.stats.placement import place as compute

    s = TimeSeries(hourly(tmp_path / "a.csv", [300] * 24))
    for job, pue in [(Job(math.nan, 1, "t"), 1.0), (Job(1, 1, "t", -1e9), 1.0), (Job(1, 1, "t"), -3.0)]:
        with pytest.raises(UserInputError, match="finite"):
            compute(job, {"A": s}, "A", START.timestamp(), 12, pue)


# 5. one series reader and one set of rules for place and [carbon] timeseries_csv --------------------------------
def test_05_place_refuses_gaps_and_duplicate_hours_as_carbon_does(tmp_path, capsys):
    gap = hourly(tmp_path / "gap.csv", [100, 100, 500, 500], hours=[0, 1, 8, 9])  # 7 h without a value
    assert place("--region", f"G={gap}") == 2
    assert "gap of 7.0 h" in said(capsys)
    assert place("--region", f"G={gap}", "--gap-fill", "previous") == 0  # held, and said so
    assert "filled with the previous value" in said(capsys)
    twice = hourly(tmp_path / "twice.csv", [100, 200, 300], hours=[0, 1, 1])
    assert place("--region", f"T={twice}") == 2
    assert "two rows for 2024-03-01T01:00" in said(capsys)


def test_05_place_does_not_stretch_the_last_value_past_the_series(tmp_path, capsys):
    short = hourly(tmp_path / "short.csv", [100, 100])  # covers 2 h; the job would run 2 h from hour 0 ...
    assert place("--region", f"S={short}", "--hours", "6", "--deadline-h", "12") == 2  # ... but 6 h is not covered
    assert "ends before the job ends" in said(capsys)


def test_05_carbon_series_and_place_read_the_same_way(tmp_path):
    from wattcut.measure.carbon import TimeSeries
    from wattcut.settings import CarbonConfig

    twice = hourly(tmp_path / "twice.csv", [100, 200], hours=[0, 0])
    with pytest.raises(UserInputError, match="two rows"):
        TimeSeries(twice)
    from wattcut.measure import carbon

    with pytest.raises(UserInputError, match="two rows"):
        carbon.check_inputs(CarbonConfig(timeseries_csv=str(twice)), START.timestamp())


# 6. NaN and inf pass every numeric check ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "line"),
    [("measure", "idle_s = nan"), ("carbon", "pue = nan"), ("infer", "cooldown_s = inf"),
     ("deploy", "requests_per_day = inf"), ("carbon", "intensity_g_per_kwh = -inf")],
)  # fmt: skip
def test_06_nan_and_inf_settings_are_refused(tmp_path, capsys, table, line):
    exp = tmp_path / "e.toml"
    exp.write_text(f"{BASE}\n[{table}]\n{line}\n")
    assert main(["validate", str(exp)]) == 2
    out = said(capsys)
    assert line.split(" = ")[0] in out and ("finite" in out or "not valid" in out)


def test_06_a_nan_early_exit_threshold_is_refused(tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(BASE + '[[variants]]\nname = "ee"\ntechniques = [{ name = "early_exit", threshold = nan }]\n')
    assert main(["validate", str(exp)]) == 2
    assert "threshold = nan" in said(capsys)


@pytest.mark.parametrize(
    "args", [["report", "x", "--requests-per-day", "nan"], ["report", "x", "--requests-per-day", "inf"],
             ["search", "--budget-min", "nan"], ["search", "--budget-min", "inf"], ["run", "--trials", "0"],
             ["measure", "--idle", "nan", "--", "true"], ["measure", "--interval", "0", "--", "true"]]
)  # fmt: skip
def test_06_numeric_flags_must_be_finite_and_in_range(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "finite number" in err and "Traceback" not in err


# 10. CSV readers crash on a missing value or non-UTF-8 bytes ---------------------------------------------------
def test_10_carbon_csv_with_a_missing_value_or_non_utf8_bytes_is_refused(tmp_path, capsys):
    from wattcut.measure.carbon import TimeSeries

    missing = tmp_path / "missing.csv"
    missing.write_text("timestamp,g_per_kwh\n2024-03-01T00:00,100\n2024-03-01T01:00\n")
    with pytest.raises(UserInputError, match="row 3 has a missing value"):
        TimeSeries(missing)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("timestamp,g_per_kwh\n2024-03-01T00:00,100 \xb5\n".encode("latin-1"))
    with pytest.raises(UserInputError, match="not UTF-8"):
        TimeSeries(latin)
    assert place("--region", f"L={latin}") == 2 and "not UTF-8" in said(capsys)


# 15. output paths and bad results.json in place ---------------------------------------------------------------
def test_15_place_out_pointing_at_a_folder_and_a_bad_study_are_exit_2(tmp_path, capsys):
    good = hourly(tmp_path / "good.csv", [300] * 24)
    assert place("--region", f"G={good}", "--out", str(tmp_path)) == 2
    assert "is a folder" in said(capsys)
    for text in ["{not json", "[1, 2]", json.dumps({"study": "s", "trials": [{"phases": [{"energy_j": "x"}]}]})]:
        (tmp_path / "results.json").write_text(text)
        assert main(["place", "--region", f"G={good}", "--study", str(tmp_path)]) == 2
        assert "results.json" in said(capsys)


# 7. a degenerate baseline is flagged and nothing is recommended -------------------------------------------------
def _classified(variant, trial, energy, gold, pred):
    from tests.unit.test_report import full

    acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
    r = full(variant, trial, energy, acc)
    r["task"] = "sequence_classification"
    metrics = {**r["metrics"], "labels": ["negative", "neutral", "positive"]}
    r["metrics"] = metrics
    r["tasks"] = {"sequence_classification": {"metrics": metrics, "items": {"gold": gold, "pred": pred}}}
    return r


def test_07_a_baseline_no_better_than_the_majority_class_gets_no_recommendation(tmp_path):
    from tests.unit.test_report import make_store
    from wattcut.report.build import write_reports

    gold = [2] * 59 + [0] * 21 + [1] * 20  # 3 classes, majority share 0.59
    lazy = [2] * 100  # the baseline answers "positive" for everything: 0.59
    trials = []
    for i in range(3):
        trials.append(_classified("baseline", i, 10.0, gold, lazy))
        trials.append(_classified("<b>evil</b>", i, 2.0, gold, lazy))  # equally lazy and 5x cheaper
    s = make_store(tmp_path, trials)
    write_reports(s, tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    ref = res["statistics"]["reference_accuracy"]
    assert ref["majority_class_accuracy"] == pytest.approx(0.59) and ref["majority_label"] == "positive"
    assert ref["chance_accuracy"] == pytest.approx(1 / 3) and ref["degenerate"]
    rec = res["statistics"]["recommendation"]
    assert rec["variant"] is None and rec["degenerate_baseline"] and "majority class" in rec["reason"]
    md = (tmp_path / "report.md").read_text()
    assert md.index("**Degenerate baseline**") < md.index("| variant |")  # at the top, before the table
    assert "Degenerate baseline" in (tmp_path / "report.html").read_text()


def test_07_a_baseline_above_the_majority_class_is_shown_beside_its_reference(tmp_path):
    from tests.unit.test_report import make_store
    from wattcut.report.build import write_reports

    gold = [2] * 59 + [0] * 21 + [1] * 20
    good = gold[:90] + [0] * 10  # 0.9
    s = make_store(tmp_path, [_classified("baseline", i, 10.0, gold, good) for i in range(2)])
    write_reports(s, tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    assert not res["statistics"]["reference_accuracy"]["degenerate"]
    assert res["statistics"]["recommendation"]["variant"] == "baseline"
    assert 'always answering the majority class "positive" scores 0.590' in (tmp_path / "report.md").read_text()


# 9. malformed GGUF files ------------------------------------------------------------------------------------------
def _gguf(path, arch="llama"):
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_tensor("token_embd.weight", np.ones((64, 16), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("case", ["random", "header-only", "unknown-arch", "cut-in-half"])
def test_09_malformed_gguf_files_are_exit_2_in_validate(tmp_path, capsys, case):
    pytest.importorskip("gguf")
    folder = tmp_path / "m"
    folder.mkdir()
    path = folder / "model.gguf"
    if case == "random":
        path.write_bytes(bytes(range(256)) * 64)
    elif case == "header-only":
        path.write_bytes(_gguf(tmp_path / "full.gguf").read_bytes()[:24])
    elif case == "unknown-arch":
        _gguf(path, arch="bert")
    else:
        whole = _gguf(tmp_path / "full.gguf").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    exp = tmp_path / "e.toml"
    exp.write_text(
        f'[study]\nname = "x"\n[model]\nname_or_path = "{folder}"\ngguf_file = "model.gguf"\n'
        '[[tasks]]\nname = "perplexity"\nfile = "wikitext2/wiki.test.raw"\nmax_windows = 1\n'
    )
    assert main(["validate", str(exp)]) == 2
    out = said(capsys)
    assert "model.gguf" in out and ("not a readable GGUF" in out or "not a complete GGUF" in out or "bert" in out)
    assert "Traceback" not in out


# 13. search resumes only the same search, and refuses a damaged optuna.sqlite -----------------------------------
def test_13_search_resume_is_keyed_on_the_experiment_and_refuses_a_damaged_store(tmp_path):
    from wattcut.experiment import parse_experiment
    from wattcut.runner.search import _claim

    work = tmp_path / "search"
    a = parse_experiment({"study": {"name": "s"}, "model": {"name_or_path": "m"}, "data": {"name": "sst2"}}, "a")
    b = parse_experiment(
        {"study": {"name": "s"}, "model": {"name_or_path": "m"}, "data": {"name": "financial_phrasebank"}}, "b"
    )
    _claim(work, a, 300, 20)
    (work / "baseline").mkdir()
    _claim(work, a, 300, 20)  # the same search resumes
    with pytest.raises(UserInputError, match="different experiment"):
        _claim(work, b, 300, 20)  # another dataset (another label count) in the same --out
    with pytest.raises(UserInputError, match="different experiment"):
        _claim(work, a, 100, 20)  # another proxy
    (work / "optuna.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000)
    with pytest.raises(UserInputError, match="is damaged"):
        _claim(work, a, 300, 20)


# 20. relative data paths are read from the experiment file's folder; errors name the full path tried ------------
def test_20_relative_data_paths_resolve_from_the_experiment_folder(tmp_path, monkeypatch):
    from wattcut.experiment import load_experiment

    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_text("text,label\ngood,1\nbad,0\n")
    (folder / "exp.toml").write_text(
        BASE.replace('name = "sst2"', 'train_file = "data/train.csv"\neval_file = "data/train.csv"')
    )
    monkeypatch.chdir(tmp_path)  # somewhere else
    cfg = load_experiment(folder / "exp.toml")
    assert cfg.data.train_file == str((folder / "data" / "train.csv").resolve())


def test_20_a_missing_relative_data_file_names_the_full_path_tried(tmp_path, monkeypatch, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(BASE.replace('name = "sst2"', 'train_file = "nope.csv"\neval_file = "nope.csv"'))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(exp)]) == 2
    assert str((tmp_path / "nope.csv").resolve()) in " ".join(said(capsys).split())


# 23. setup hints agree with setup.sh and with each other -----------------------------------------------------------
def test_23_every_setup_hint_names_a_flag_setup_sh_has_and_llm_hints_say_llm():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    setup = (repo / "scripts" / "setup.sh").read_text()
    flags = set(re.findall(r"^\s+(--[a-z-]+)(?: \| (--[a-z-]+))?\)", setup, re.M)[0]) - {""}
    assert flags == {"--llm", "--all-models"}
    files = [repo / "README.md", *(repo / "src" / "wattcut").rglob("*.py"), *(repo / "src" / "wattcut").rglob("*.toml")]
    for f in files:
        text = f.read_text(encoding="utf-8")
        for flag in re.findall(r"setup\.sh (--[a-z-]+)", text):
            assert flag in flags, f"{f}: setup.sh {flag}"
        language_model = "llm" in f.name or f.name in ("lm_eval_task.py", "gguf.py")
        if language_model:
            assert "setup.sh --all-models" not in text, f"{f}: a language-model hint should say --llm"


# 18. formatting and wording ------------------------------------------------------------------------------------------
def test_18_break_even_reads_in_minutes_hours_or_days():
    from wattcut.report.estimates import time_text

    assert time_text(0.000104) == "9 s"
    assert time_text(0.01) == "14 min"
    assert time_text(0.5) == "12 h"
    assert time_text(3.2) == "3.2 days"
    assert time_text(None) == "—"


def test_18_task_tables_have_words_for_headers_and_no_empty_columns():
    from wattcut.report.tasks import task_tables

    def trial(v, ppl):
        entry = {"metrics": {"perplexity": ppl, "tokens_processed": 2048, "bits_per_byte": 1.2, "roc_auc": None}}
        return {"variant": v, "task": "ppl", "tasks": {"ppl": entry}}

    results = {
        "trials": [trial("baseline", 30.0), trial("q8", 30.3)],
        "summary": [{"variant": "baseline"}, {"variant": "q8"}],
    }
    [table] = task_tables(as_results(results))
    labels = [c["label"] for c in table["columns"]]
    assert labels == ["perplexity", "tokens processed", "bits per byte"]  # roc_auc: n/a everywhere, left out


def test_18_a_deterministic_metric_says_so_instead_of_plus_minus_zero():
    from wattcut.report.columns import mean_sd  # every view of the variant table formats through it

    same = {"n": 3, "mean": 30.226, "sd": 0.0}
    assert mean_sd(same, ".3f") == "30.226 (same in every trial)"
    assert mean_sd({"n": 3, "mean": 1.0, "sd": 0.5}, ".1f") == "1.0 ± 0.5"


def test_18_the_methods_list_and_the_ram_row_read_as_sentences():
    from wattcut.measure.rapl import discover
    from wattcut.report.html import _methods

    _, reason = discover(root=__import__("pathlib").Path("/no/such/powercap"))
    assert "CPU energy" not in reason and "estimated instead" in reason
    results = {
        "trials": [
            {
                "phases": [
                    {
                        "phase": "infer",
                        "energy": {"cpu": {"method": "cpu-time-model", "source": "model, not measured: 1 CPU-s"}},
                    }
                ]
            }
        ]
    }
    html = _methods(as_results({**results, "provenance": {}, "config": {}}))
    assert "e.g. model" not in html and "the first window's figures: model, not measured" in html


def test_15_compare_out_pointing_at_an_existing_file_is_exit_2(tmp_path, capsys):
    afile = tmp_path / "taken.json"
    afile.write_text("{}")
    assert main(["compare", str(tmp_path), str(tmp_path), "--out", str(afile)]) == 2
    assert "is an existing file" in said(capsys) and afile.read_text() == "{}"  # nothing lost


# 24. the fast tier holds no integration test: every test under tests/integration carries the mark --------------
def test_24_every_integration_test_is_out_of_the_fast_tier():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not integration", "tests/integration"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    collected = [line for line in r.stdout.splitlines() if "::" in line]
    assert collected == [], collected[:5]
    total = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/integration"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert sum("::" in line for line in total.stdout.splitlines()) > 50  # the folder was collected at all
