"""wattcut tune's choice: the lowest energy meeting the target, its paired saving vs the default, the frontier."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattcut.runner.tune import Measured, Setting
from wattcut.stats.tune import analyse, p95

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "wattcut" / "examples"


def _m(threads: int, batch: int, energy: list[float], latency_s: list[float]) -> Measured:
    return Measured(Setting(threads, batch), energy, True, latency_s)


def test_the_cheapest_setting_meeting_the_target_is_chosen_with_a_paired_ci() -> None:
    default = _m(2, 1, [1.0, 1.1, 0.9, 1.0], [0.010] * 40)
    cheap_slow = _m(1, 32, [0.3, 0.33, 0.27, 0.3], [0.200] * 40)  # the cheapest, too slow for a 50 ms target
    middle = _m(1, 1, [0.5, 0.55, 0.45, 0.5], [0.020] * 40)
    worse = _m(2, 8, [1.2, 1.3, 1.1, 1.2], [0.030] * 40)  # dominated by the default on both axes
    r = analyse([default, cheap_slow, middle, worse], {"latency": 50.0, "tpot": None})
    assert r["chosen"] == "t1-b1" and r["default"] == "t2-b1"
    by = {s["setting"]: s for s in r["settings"]}
    assert by["t1-b1"]["vs_default"]["ratio"] == pytest.approx(0.5, rel=1e-6)  # every round exactly half
    assert by["t1-b32"]["meets_target"] is False and by["t2-b8"]["on_frontier"] is False
    assert set(r["frontier"]) == {"t2-b1", "t1-b1", "t1-b32"}


def test_no_setting_meeting_the_target_names_the_fastest() -> None:
    from wattcut.report.tune import markdown

    r = analyse([_m(2, 1, [1.0, 1.0], [0.5] * 5), _m(1, 1, [0.5, 0.5], [0.9] * 5)], {"latency": 10.0})
    assert r["chosen"] is None and r["fastest"] == "t2-b1"
    about = {"study": "s", "variant": "v", "runtime": "onnxruntime", "precision": "int8", "cpu": "c", "rounds": 2,
             "unit": "text", "energy_method": "cpu: cpu-time-model"}  # fmt: skip
    text = markdown(r, about)
    assert "No setting meets the target" in text and "t2-b1" in text and "p95 latency <= 10 ms" in text


def test_p95_interpolates() -> None:
    assert p95([float(i) for i in range(101)]) == pytest.approx(95.0)
    assert p95([]) is None


def test_hints_multiply_the_grid_and_the_built_hint_replaces_the_default_once() -> None:
    from types import SimpleNamespace

    from wattcut.errors import UserInputError
    from wattcut.experiment import load_experiment
    from wattcut.runner.tune import grid, resolve_hints
    from wattcut.runtimes.base import Capabilities

    cfg = load_experiment(EXAMPLES / "default.toml")
    task = SimpleNamespace(name="sequence_classification")
    settings = grid(cfg, task, 1, [1], [1], ["LATENCY", "THROUGHPUT"])
    assert [s.name for s in settings] == ["t1-b1", "t1-b1-latency", "t1-b1-throughput"]
    ov = SimpleNamespace(capabilities=Capabilities(threads=True, performance_hint=True), performance_hint="LATENCY")
    resolved = resolve_hints(settings, ov, "v")
    assert [s.name for s in resolved] == ["t1-b1-latency", "t1-b1-throughput"]  # the default is served once
    ort = SimpleNamespace(capabilities=Capabilities(threads=True), runtime="onnxruntime")
    with pytest.raises(UserInputError, match="no performance hint"):
        resolve_hints(settings, ort, "v")
    assert resolve_hints(settings[:1], ort, "v") == settings[:1]  # no hint asked: any runtime
    with pytest.raises(UserInputError, match="LATENCY or THROUGHPUT"):
        grid(cfg, task, 1, [1], [1], ["FAST"])


def test_the_hint_column_appears_only_when_hints_were_swept() -> None:
    from wattcut.report.tune import markdown

    about = {"study": "s", "variant": "v", "runtime": "openvino", "precision": "int8", "cpu": "c", "rounds": 2,
             "unit": "text", "energy_method": "cpu: cpu-time-model"}  # fmt: skip
    plain = analyse([_m(1, 1, [1.0, 1.0], [0.01] * 5), _m(2, 1, [0.9, 0.9], [0.01] * 5)], {"latency": 50.0})
    assert "| hint |" not in markdown(plain, about)
    hinted = [_m(1, 1, [1.0, 1.0], [0.01] * 5), _m(1, 1, [1.3, 1.3], [0.01] * 5)]
    hinted[0].setting = Setting(1, 1, hint="LATENCY")
    hinted[1].setting = Setting(1, 1, hint="THROUGHPUT")
    text = markdown(analyse(hinted, {"latency": 50.0}), about)
    assert "| hint |" in text and "| t1-b1-throughput | 1 | 1 | THROUGHPUT |" in text
    assert "**Chosen: t1-b1-latency** (1 thread(s), batch 1, LATENCY hint)" in text
