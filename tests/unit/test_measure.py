import time

import pytest

from tests.fakes.meters import ReplayMeter
from wattcut.measure.cputime import CpuPower, CpuTimeMeter, cpu_power
from wattcut.measure.null import NullMeter
from wattcut.measure.ram import RamModelMeter, dimm_power_w
from wattcut.measure.session import EnergySession


def busy(seconds):
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1
    return x


def test_phase_records_replayed_energy_and_normalises():
    session = EnergySession([ReplayMeter("cpu", [30.0]), ReplayMeter("ram", [10.0], estimated=True)])
    with session.phase("infer") as rec:
        rec.samples, rec.tokens, rec.requests = 8, 80, 4
    (r,) = session.take()
    d = r.to_dict()
    assert d["energy_j"] == 40.0 and d["estimated"] is True  # one estimated component taints the sum
    assert d["energy_per_sample_j"] == 5.0 and d["energy_per_token_j"] == 0.5
    assert d["energy_per_1k_requests_j"] == 10_000.0
    assert d["energy"]["cpu"]["energy_j"] == 30.0 and d["energy"]["cpu"]["method"] == "replay"
    assert d["energy"]["cpu"]["estimated"] is False and d["energy_kwh"] == 40.0 / 3.6e6


def test_windows_nest():
    session = EnergySession([ReplayMeter("cpu", [1.0, 5.0])])
    with session.phase("compress"), session.phase("calibrate"):
        pass
    inner, outer = session.take()
    assert (inner.phase, inner.energy_j, inner.parent) == ("calibrate", 1.0, "compress")
    assert (outer.phase, outer.energy_j, outer.parent) == ("compress", 5.0, None)


def test_idle_baseline_gives_net_energy():
    # idle window: 2 J over its duration; then a phase measuring 10 J gross
    session = EnergySession([ReplayMeter("cpu", [2.0, 10.0])])
    idle = session.measure_idle(0.1)
    assert idle.power_w["cpu"] == pytest.approx(2.0 / idle.duration_s)
    with session.phase("infer") as rec:
        time.sleep(0.05)
    (c,) = rec.energy
    assert c.energy_j == 10.0
    assert c.net_energy_j == pytest.approx(10.0 - idle.power_w["cpu"] * rec.duration_s)
    assert rec.to_dict()["net_energy_j"] == pytest.approx(c.net_energy_j)
    assert session.records == [rec]  # the idle window itself is not a phase


def test_failed_phase_records_nothing():
    session = EnergySession([ReplayMeter("cpu", [1.0])])
    with pytest.raises(RuntimeError), session.phase("train"):
        raise RuntimeError("boom")
    assert session.records == []


def test_cpu_time_model_bills_cpu_seconds_not_wall_time():
    meter = CpuTimeMeter(CpuPower(10.0, "test"))
    start = meter.begin()
    time.sleep(0.3)  # wall time without CPU work is not billed
    (idle,) = meter.end(start)
    start = meter.begin()
    busy(0.3)
    (work,) = meter.end(start)
    assert idle.energy_j < 0.5  # < 0.05 CPU-s of noise at 10 W
    assert 2.5 <= work.energy_j <= 4.5  # ~0.3 CPU-s x 10 W
    assert work.estimated and work.method == "cpu-time-model"
    assert "10 W per busy core" in work.source and "not measured" in work.source
    assert work.uncertainty_rel == 0.5


def test_ram_rss_model_scales_with_duration():
    meter = RamModelMeter("rss", w_per_gb=1.0)
    s = meter.begin()
    time.sleep(0.2)
    (r,) = meter.end(s)
    assert r.estimated and r.energy_j > 0 and "W/GB" in r.source and r.method == "ram-rss-model"


@pytest.mark.parametrize(
    ("total_gb", "watts", "dimms"), [(1, 10.0, 1), (16, 10.0, 2), (24, 20.0, 4), (128, 38.0, 8), (256, 70.0, 16)]
)
def test_dimm_rule_matches_codecarbon_v3(total_gb, watts, dimms):
    # 5 W per DIMM: x1.0 for 1-4, x0.9 for 5-8, x0.8 for 9-16; at least 10 W
    assert dimm_power_w(total_gb) == (pytest.approx(watts), dimms)


def test_seed003_ram_model_is_seven_times_the_dimm_rule():
    a, b = RamModelMeter("dimm", 0.375), RamModelMeter("seed003", 0.375)
    sa, sb = a.begin(), b.begin()
    time.sleep(0.05)
    (ra,), (rb,) = a.end(sa), b.end(sb)
    assert rb.details["power_w"] == 7 * ra.details["power_w"]


def test_cpu_power_resolution_order():
    assert cpu_power(7.0).w_per_core == 7.0
    bare = {"model name": "AMD EPYC 4124P 4-Core Processor", "siblings": "8", "flags": "avx2"}
    p = cpu_power(None, bare)
    assert p.w_per_core == pytest.approx(65.0 / 8) and "TDP 65 W" in p.origin
    vm = {**bare, "flags": "avx2 hypervisor"}
    assert cpu_power(None, vm).w_per_core == 4.0 and "virtual machine" in cpu_power(None, vm).origin
    unknown = {"model name": "Mystery CPU 9000", "siblings": "4", "flags": ""}
    assert "not in the CPU power table" in cpu_power(None, unknown).origin


def test_null_meter_reports_absence_not_zero():
    (r,) = NullMeter("gpu", "no GPU").end(None)
    assert r.energy_j is None and r.method == "none" and r.source == "no GPU"
    session = EnergySession([NullMeter("gpu", "no GPU")])
    with session.phase("infer"):
        pass
    assert session.records[0].to_dict()["energy_j"] is None
