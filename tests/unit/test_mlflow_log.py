"""wattcut mlflow: a study logged to a real local MLflow database and read back."""

from pathlib import Path

import pytest

from wattcut.api import load_study
from wattcut.cli import main
from wattcut.errors import UserInputError
from wattcut.integrations.mlflow import check_uri, variant_metrics

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report"


def read_back(uri, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    return client, parent, children


def check_logged(folder, uri, experiment):
    results = load_study(folder)
    client, parent, children = read_back(uri, experiment)
    assert parent.data.params["name"] == results.config["name"]
    assert parent.data.tags["wattcut.recommended"] == str(results.statistics["recommendation"]["variant"])
    variants = list(dict.fromkeys(t.variant for t in results.trials))
    assert sorted(children) == sorted(variants)
    for v in variants:
        expected = variant_metrics(results, v)
        assert expected and children[v].data.metrics == pytest.approx(expected)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "results.json", "emissions.csv"} <= names
    return results, children


def test_example_study_is_logged_and_read_back(tmp_path):
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["mlflow", str(EXAMPLE), "--tracking-uri", uri, "--experiment", "example"]) == 0
    results, children = check_logged(EXAMPLE, uri, "example")
    rec = results.statistics["recommendation"]["variant"]
    m = children[rec].data.metrics
    assert m["energy_ratio_ci95_low"] <= m["energy_ratio_vs_baseline"] <= m["energy_ratio_ci95_high"]
    assert m["non_inferior"] == 1.0
    assert children[rec].data.params["techniques"].startswith("[{")
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts beside the database, not in the working directory


@pytest.mark.parametrize("uri", ["/tmp/mlruns", "mlflow.db", "ftp://host/x"])
def test_a_tracking_uri_without_a_known_scheme_is_refused(uri, capsys):
    with pytest.raises(UserInputError, match="not an MLflow tracking URI"):
        check_uri(uri)
    assert main(["mlflow", str(EXAMPLE), "--tracking-uri", uri]) == 2
    assert "sqlite:///" in capsys.readouterr().err


def test_an_unusable_tracking_database_is_exit_2_and_nothing_is_half_logged(tmp_path, capsys):
    pytest.importorskip("mlflow")
    (tmp_path / "a-file").write_text("not a folder")
    uri = f"sqlite:///{tmp_path}/a-file/mlflow.db"  # its folder is a file: no database can be made there
    assert main(["mlflow", str(EXAMPLE), "--tracking-uri", uri]) == 2
    assert "cannot be used" in capsys.readouterr().err
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_the_runs_say_whether_their_energy_is_estimated(tmp_path):
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert main(["mlflow", str(EXAMPLE), "--tracking-uri", uri, "--experiment", "tags"]) == 0
    _, parent, _ = read_back(uri, "tags")
    assert parent.data.tags["wattcut.energy_estimated"] == "True"
    assert "cpu-time-model" in parent.data.tags["wattcut.energy_methods"]
