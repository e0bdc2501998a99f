"""--dry-run's estimate: rates from a finished study, scaled back to that study, give its wall time."""

import json
from pathlib import Path

import pytest

from wattcut.experiment import parse_experiment
from wattcut.runner.predict import from_ledger, predict, record
from wattcut.settings import to_doc
from wattcut.stats.prediction import rates_of, versus_actual
from wattcut.store.records import Results

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report" / "results.json"


class StubTask:
    """What the estimate reads of a task: whether it trains, and its sizes (from the example's own records)."""

    trains = True
    explains = True
    key = "sequence_classification"
    metric_spec = object()

    def __init__(self, rows, items):
        self._rows, self._items = rows, items

    def train_data(self):
        return range(self._rows)

    def eval_items(self):
        return self._items

    def proxy_size(self):
        return self._items


def example():
    results = Results.read(EXAMPLE)
    cfg = parse_experiment(to_doc(results.config), "example")
    base = rates_of(results)["variants"]["baseline"]["phases"]
    per_trial = lambda k: base[f"{k}|sequence_classification"]["units"] / 3  # noqa: E731
    task = StubTask(int(per_trial("train") / cfg.train.epochs), int(per_trial("evaluate")))
    return results, cfg, task


def test_a_study_predicted_from_its_own_records_gives_its_own_wall_time():
    results, cfg, task = example()
    rates = rates_of(results)
    attempts = {t.trial_index: t.contention.rounds for t in results.trials}
    p = predict(cfg, [task], rates, "earlier run", "itself")
    if set(attempts.values()) == {1}:  # no round was repeated for contention: the parts add up exactly
        assert p.wall_s == pytest.approx(rates["wall_s"], rel=1e-6)
    else:  # a repeated round is in the high end, not the point
        assert p.wall_s < rates["wall_s"] <= p.wall_high_s
    assert p.wall_low_s == pytest.approx(0.85 * p.wall_s) and p.wall_high_s > 1.15 * p.wall_s
    energy = sum(ph.energy_j for t in results.trials for ph in t.phases if ph.parent is None)
    assert p.energy_j == pytest.approx(energy, rel=1e-6)
    assert versus_actual(p.to_dict(), results)["wall_inside"]


def test_sizes_scale_their_own_parts_only():
    results, cfg, task = example()
    rates = rates_of(results)
    p1 = predict(cfg, [task], rates, "probe", "x")
    bigger = StubTask(task._rows, task._items * 2)
    p2 = predict(cfg, [bigger], rates, "probe", "x")
    by = lambda p, phase: sum(x.duration_s for x in p.parts if x.phase == phase)  # noqa: E731
    assert by(p2, "evaluate") == pytest.approx(2 * by(p1, "evaluate"))
    assert by(p2, "train") == pytest.approx(by(p1, "train")) and by(p2, "infer") == pytest.approx(by(p1, "infer"))
    more = predict(cfg.__class__(**{**cfg.__dict__, "trials": 6}), [task], rates, "probe", "x")
    assert by(more, "train") == pytest.approx(2 * by(p1, "train"))
    assert p1.wall_low_s == pytest.approx(0.75 * p1.wall_s)


def test_the_ledger_keeps_finished_studies_for_the_same_model_and_data(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTCUT_HISTORY", str(tmp_path))
    results, cfg, _ = example()
    assert from_ledger(cfg) is None
    record(results)
    (tmp_path / "ledger.jsonl").open("a").write("{not json\n")  # a line cut short by a crash is skipped
    found = from_ledger(cfg)
    assert found is not None and found["study"] == results.study
    other = parse_experiment({**to_doc(results.config), "data": {**to_doc(results.config)["data"], "max_length": 32}})
    assert from_ledger(other) is None
    assert json.loads((tmp_path / "ledger.jsonl").read_text().splitlines()[0])["cpu"]


def test_campaign_dry_run_predicts_each_study_and_runs_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray")
    from tests.unit.test_campaign_plan import write
    from wattcut.cli import main
    from wattcut.runner import dry_run
    from wattcut.runner.predict import Prediction

    path = write(
        tmp_path,
        '[campaign]\nname = "two"\nexperiment = "base.toml"\nquick = true\n'
        '[[variant_sets]]\nlabel = "int8"\n'
        'variants = [{ name = "int8", techniques = [{ name = "ort_int8_dynamic" }] }]\n'
        '[[variant_sets]]\nlabel = "ffn"\n',
    )
    seen = []

    def fake(cfg, tasks):  # the probe itself is exercised by the integration tier; here: the campaign's arithmetic
        seen.append(cfg.name)
        return Prediction(60.0, 45.0, 81.0, None, None, None, "probe", "fake", "h", "cpu", "now")

    monkeypatch.setattr(dry_run, "estimate", fake)
    assert main(["campaign", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert len(seen) == 2 and "1.5-2.7 min if its 2 studies ran one after another" in said
    assert not (tmp_path / "out").exists()
