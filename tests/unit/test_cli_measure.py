import sys
import types

import pytest

from wattcut.cli.measure import measure
from wattcut.errors import UserInputError


class FakeTracker:
    instances: list["FakeTracker"] = []

    def __init__(self, **kw):
        self.kw = kw
        self.started = self.stopped = False
        FakeTracker.instances.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True
        self.final_emissions_data = types.SimpleNamespace(
            cpu_energy=1e-6, ram_energy=2e-6, gpu_energy=0.0, energy_consumed=3e-6, emissions=1e-7
        )
        return 1e-7


@pytest.fixture
def fake_codecarbon(monkeypatch):
    mod = types.ModuleType("codecarbon")
    mod.OfflineEmissionsTracker = FakeTracker
    monkeypatch.setitem(sys.modules, "codecarbon", mod)
    FakeTracker.instances.clear()
    return mod


def test_crosscheck_runs_codecarbon_offline_alongside(tmp_path, fake_codecarbon):
    import json

    code = measure([sys.executable, "-c", "pass"], out=str(tmp_path), country="France", crosscheck="codecarbon")
    assert code == 0
    (t,) = FakeTracker.instances
    assert t.started and t.stopped and t.kw["country_iso_code"] == "FRA"  # name resolved to alpha-3
    cc = json.loads((tmp_path / "measurement.json").read_text())["crosscheck"]
    assert cc["energy_j"] == pytest.approx(3e-6 * 3.6e6) and cc["ram_energy_j"] == pytest.approx(7.2)
    assert cc["co2e_g"] == pytest.approx(1e-4)


def test_crosscheck_needs_a_country(tmp_path, fake_codecarbon):
    with pytest.raises(UserInputError, match="needs --country"):
        measure(["true"], out=str(tmp_path), crosscheck="codecarbon")


def test_crosscheck_without_codecarbon_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # import fails
    with pytest.raises(UserInputError, match=r"wattcut\[codecarbon\]"):
        measure(["true"], out=str(tmp_path), country="FRA", crosscheck="codecarbon")
