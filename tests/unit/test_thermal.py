"""CPU temperatures per window from a fake sysfs tree; "not exposed" where there is none."""

import time

import pytest

from tests.records import results as as_results
from wattcut.measure.base import PhaseRecord, merge
from wattcut.measure.session import EnergySession
from wattcut.measure.thermal import NOT_EXPOSED, ThermalSampler
from wattcut.report.estimates import thermal_lines


@pytest.fixture
def sysfs(tmp_path, monkeypatch):
    chip = tmp_path / "class" / "hwmon" / "hwmon0"
    chip.mkdir(parents=True)
    (chip / "name").write_text("k10temp\n")
    (chip / "temp1_input").write_text("51000\n")
    (chip / "temp2_input").write_text("48500\n")
    other = tmp_path / "class" / "hwmon" / "hwmon1"
    other.mkdir()
    (other / "name").write_text("nvme\n")  # not a CPU sensor
    (other / "temp1_input").write_text("90000\n")
    monkeypatch.setenv("WATTCUT_SYSFS_ROOT", str(tmp_path))
    return chip


def test_window_summary_reads_the_hottest_cpu_sensor(sysfs):
    s = ThermalSampler(interval_s=0.02)
    try:
        assert [label for label, _ in s.sensors] == ["k10temp/temp1_input", "k10temp/temp2_input"]
        start = s.begin()
        time.sleep(0.05)
        (sysfs / "temp1_input").write_text("63000\n")
        time.sleep(0.05)
        out = s.end(start)
    finally:
        s.close()
    t = out["cpu_temp_c"]
    assert t["min"] == 51.0 and t["max"] == 63.0 and 51.0 < t["mean"] < 63.0 and out["samples"] >= 3


def test_no_sensor_says_not_exposed(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTCUT_SYSFS_ROOT", str(tmp_path))
    session = EnergySession([], thermal=ThermalSampler())
    with session.phase("infer"):
        pass
    session.close()
    (rec,) = session.take()
    assert rec.thermal == {"cpu_temp_c": None, "status": NOT_EXPOSED}
    results = {"trials": [{"phases": [rec.to_dict()]}]}
    assert thermal_lines(as_results(results)) == [
        "CPU temperature: not exposed by this machine (no hwmon or thermal-zone sensor)."
    ]


def test_rounds_merge_into_one_summary():
    a = PhaseRecord("infer", 1.0, thermal={"cpu_temp_c": {"min": 50, "mean": 52, "max": 55}, "samples": 1})
    b = PhaseRecord("infer", 1.0, thermal={"cpu_temp_c": {"min": 49, "mean": 58, "max": 60}, "samples": 3})
    t = merge([a, b]).thermal["cpu_temp_c"]
    assert t == {"min": 49, "mean": pytest.approx((52 + 3 * 58) / 4), "max": 60}
