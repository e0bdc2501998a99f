import pytest

from tests.fakes.powercap import FakePowercap
from wattcut.measure import rapl
from wattcut.measure.select import select_meters
from wattcut.settings import MeasureConfig


@pytest.fixture
def powercap(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTCUT_POWERCAP_ROOT", str(tmp_path / "powercap"))
    return tmp_path / "powercap"


def meter_for(root, **kw):
    fake = FakePowercap(root, **kw)
    domains, why = rapl.discover()
    assert domains, why
    return fake, rapl.RaplMeter(domains, interval_s=3600)  # no background reads: edges only


def test_package_and_dram_deltas(powercap):
    fake, m = meter_for(powercap)
    fake.set("package-0", 100_000)
    fake.set("package-0/dram", 5_000)
    start = m.begin()
    fake.set("package-0", 350_000)
    fake.set("package-0/dram", 25_000)
    readings = {r.component: r for r in m.end(start)}
    m.close()
    assert readings["cpu"].energy_j == pytest.approx(0.25) and readings["ram"].energy_j == pytest.approx(0.02)
    assert readings["cpu"].estimated is False and readings["cpu"].method == "rapl"
    assert "measured" in readings["cpu"].source


def test_wraparound_is_folded_in(powercap):
    fake, m = meter_for(powercap, max_uj=1_000_000)
    fake.set("package-0", 900_000)
    start = m.begin()
    fake.set("package-0", 1_100_000)  # wraps to 100_000
    (cpu,) = [r for r in m.end(start) if r.component == "cpu"]
    m.close()
    assert cpu.energy_j == pytest.approx(0.2)


def test_long_window_counts_every_wrap_via_the_poller(powercap):
    fake, m = meter_for(powercap, max_uj=1_000_000)
    start = m.begin()
    total = 0
    for _ in range(5):  # five times 0.8 of the range: more than four wraps in one window
        total += 800_000
        fake.set("package-0", total)
        m._read()  # what the background thread does every interval_s
    (cpu,) = [r for r in m.end(start) if r.component == "cpu"]
    m.close()
    assert cpu.energy_j == pytest.approx(4.0)


def test_multiple_packages_are_summed(powercap):
    fake, m = meter_for(powercap, packages=2, dram=False)
    start = m.begin()
    fake.set("package-0", 1000)
    fake.set("package-1", 3000)
    readings = m.end(start)
    m.close()
    assert [r.component for r in readings] == ["cpu"] and readings[0].energy_j == pytest.approx(0.004)


def test_missing_dram_domain_falls_back_to_ram_model_without_double_counting(powercap):
    FakePowercap(powercap, dram=False)
    meters, probes = select_meters(MeasureConfig(), gpu=False)
    try:
        assert [m.name for m in meters] == ["rapl", "ram-rss-model"]
        assert meters[0].components == ("cpu",)
        ram = [p for p in probes if p.component == "ram" and p.meter == "rapl"][0]
        assert not ram.available and "no DRAM domain" in ram.reason
    finally:
        for m in meters:
            m.close()


def test_with_dram_domain_no_ram_model_is_used(powercap):
    FakePowercap(powercap, dram=True)
    meters, _ = select_meters(MeasureConfig(), gpu=False)
    try:
        assert [m.name for m in meters] == ["rapl"] and meters[0].components == ("cpu", "ram")
    finally:
        meters[0].close()


def test_permission_denied_is_explained_and_falls_back(powercap, monkeypatch):
    FakePowercap(powercap)
    real = rapl._domain

    def denied(component, label, path):
        raise PermissionError(13, "Permission denied", str(path / "energy_uj"))

    monkeypatch.setattr(rapl, "_domain", denied)
    domains, why = rapl.discover()
    assert domains == [] and "not readable" in why and "chmod" in why and "estimated" in why
    meters, probes = select_meters(MeasureConfig(), gpu=False)
    assert [m.name for m in meters] == ["cpu-time-model", "ram-rss-model"]
    assert "chmod" in probes[0].reason
    monkeypatch.setattr(rapl, "_domain", real)


def test_no_powercap_at_all(powercap):
    domains, why = rapl.discover()
    assert domains == [] and "no RAPL" in why
