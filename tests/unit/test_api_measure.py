"""wattcut.measure: the Python API's windows, on this machine's meters and on the RAPL/NVML fakes."""

import csv
import re
import sys
from pathlib import Path

import pytest

import wattcut
from tests.fakes.powercap import FakePowercap
from tests.fakes.pynvml import FakeNvml
from wattcut.errors import UserInputError
from wattcut.measure.emissions import CODECARBON_COLUMNS
from wattcut.measure.window import Measurement, WindowError

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- api-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ```python block after <!-- api-snippet -->"
    return m.group(1)


def test_the_readme_snippet_runs_as_written_and_nested_windows_nest():
    scope: dict = {}
    exec(compile(readme_snippet(), "README.md", "exec"), scope)  # noqa: S102 (the README's own code)
    outer, inner = scope["outer"].result, scope["inner"].result
    assert isinstance(outer, Measurement) and isinstance(inner, Measurement)
    assert inner.path == ("outer", "inner") and outer.children == (inner,)
    assert 0 < inner.energy_j <= outer.energy_j
    assert inner.duration_s <= outer.duration_s
    cpu = outer.component("cpu")
    assert cpu is not None and cpu.method and cpu.source
    # on this machine (no RAPL) the CPU figure is a model: it says so and carries its range
    if cpu.estimated:
        assert outer.estimated and outer.low_j <= outer.energy_j <= outer.high_j
        assert outer.co2e_low_g <= outer.co2e_g <= outer.co2e_high_g
    assert outer.co2e_g == pytest.approx(outer.energy_j / 3.6e6 * outer.intensity.g_per_kwh * outer.pue)


@pytest.fixture
def fake_counters(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTCUT_POWERCAP_ROOT", str(tmp_path / "powercap"))
    rapl = FakePowercap(tmp_path / "powercap", max_uj=10**12)
    gpu = FakeNvml(devices=1)
    monkeypatch.setitem(sys.modules, "pynvml", gpu)
    monkeypatch.setattr("wattcut.measure.nvml.torch_sync", lambda: None)
    return rapl, gpu


def test_on_counters_the_result_is_the_counters_deltas(fake_counters):
    rapl, gpu = fake_counters
    rapl.set("package-0", 1_000_000)
    rapl.set("package-0/dram", 200_000)
    gpu.energy_mj = [4_000]
    with wattcut.measure("outer", interval_s=3600, country="FRA") as outer:
        rapl.set("package-0", 3_500_000)  # +2.5 J
        with wattcut.measure("inner") as inner:
            rapl.set("package-0", 4_000_000)  # +0.5 J
            rapl.set("package-0/dram", 300_000)  # +0.1 J
            gpu.energy_mj = [6_000]  # +2 J
        gpu.energy_mj = [9_000]  # +3 J more
    o, i = outer.result, inner.result
    assert o.component("cpu").energy_j == pytest.approx(3.0) and i.component("cpu").energy_j == pytest.approx(0.5)
    assert o.component("ram").energy_j == pytest.approx(0.1) and i.component("ram").energy_j == pytest.approx(0.1)
    assert o.component("gpu").energy_j == pytest.approx(5.0) and i.component("gpu").energy_j == pytest.approx(2.0)
    assert o.energy_j == pytest.approx(8.1) and i.energy_j == pytest.approx(2.6)
    assert not o.estimated and o.low_j is None and o.high_j is None
    assert {c.method for c in o.components} == {"rapl", "nvml-counter"}
    assert "France" in o.intensity.location
    assert o.co2e_g == pytest.approx(8.1 / 3.6e6 * o.intensity.g_per_kwh)


def test_idle_baseline_gives_net_figures(fake_counters):
    rapl, _ = fake_counters
    with wattcut.measure("work", interval_s=3600, idle_s=0.05) as w:
        rapl.set("package-0", 2_000_000)
    r = w.result
    assert r.idle is not None and r.net_energy_j is not None
    idle_w = sum(w or 0.0 for w in r.idle.power_w.values())
    assert r.net_energy_j == pytest.approx(r.energy_j - idle_w * r.duration_s)


def test_decorator_measures_each_call():
    window = wattcut.measure("predict")

    @window
    def predict(n):
        return sum(i * i for i in range(n))

    assert predict(10_000) == sum(i * i for i in range(10_000))  # the function's own value comes back
    predict(20_000)
    assert len(window.calls) == 2 and window.result is window.calls[-1]
    assert all(c.name == "predict" and c.duration_s > 0 and c.energy_j > 0 for c in window.calls)


def test_begin_end_and_misuse_are_typed_errors():
    w = wattcut.measure("once").begin()
    with pytest.raises(WindowError, match="no result yet"):
        _ = w.result
    r = w.end()
    assert r.name == "once"
    with pytest.raises(WindowError, match="closed already"):
        w.end()
    with pytest.raises(WindowError, match="already closed"):
        w.begin()
    with pytest.raises(WindowError, match="never opened"):
        wattcut.measure("new").end()
    outer = wattcut.measure("outer").begin()
    inner = wattcut.measure("inner").begin()
    with pytest.raises(WindowError, match="Close 'inner' first"):
        outer.end()
    inner.end()
    outer.end()
    assert isinstance(WindowError("a", "b"), UserInputError)  # the CLI maps it to exit 2


def test_bad_settings_are_refused_when_the_window_is_made():
    with pytest.raises(WindowError, match="pue"):
        wattcut.measure("x", pue=0.5)
    with pytest.raises(WindowError, match="needs a name"):
        wattcut.measure("")
    with pytest.raises(UserInputError, match="Narnia"):
        wattcut.measure("x", country="Narnia")


def test_a_failing_body_is_still_measured_and_flagged():
    w = wattcut.measure("boom")
    with pytest.raises(ZeroDivisionError), w:
        _ = 1 / 0
    assert w.result.failed and w.result.duration_s >= 0


def test_emissions_csv_rows_are_appended_in_codecarbon_layout(tmp_path):
    path = tmp_path / "emissions.csv"
    for _ in range(2):
        with wattcut.measure("run", emissions_csv=path, project="mine", country="DEU"), wattcut.measure("step"):
            sum(range(10_000))
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0])[: len(CODECARBON_COLUMNS)] == CODECARBON_COLUMNS
    assert [r["wattcut_phase"] for r in rows] == ["run", "run/step", "run", "run/step"]
    assert {r["project_name"] for r in rows} == {"mine"} and rows[0]["country_iso_code"] == "DEU"
    assert float(rows[0]["energy_consumed"]) > 0 and float(rows[0]["emissions"]) > 0
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(UserInputError, match="columns wattcut writes"), wattcut.measure("x", emissions_csv=other):
        pass


def test_load_study_refuses_a_folder_without_a_store(tmp_path):
    with pytest.raises(UserInputError, match="No wattcut store"):
        wattcut.load_study(tmp_path)
