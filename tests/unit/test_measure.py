import time

import pytest

from tests.fakes.meters import ReplayMeter
from wattcut.measure.cputime import CpuTimeMeter
from wattcut.measure.null import NullMeter
from wattcut.measure.ram import RamRssMeter
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
    assert d["energy"]["cpu"] == {
        "energy_j": 30.0,
        "method": "replay",
        "estimated": False,
        "source": "recorded reading (test)",
    }


def test_windows_nest():
    session = EnergySession([ReplayMeter("cpu", [1.0, 5.0])])
    with session.phase("compress"), session.phase("calibrate"):
        pass
    inner, outer = session.take()
    assert (inner.phase, inner.energy_j) == ("calibrate", 1.0)
    assert (outer.phase, outer.energy_j) == ("compress", 5.0)


def test_failed_phase_records_nothing():
    session = EnergySession([ReplayMeter("cpu", [1.0])])
    with pytest.raises(RuntimeError), session.phase("train"):
        raise RuntimeError("boom")
    assert session.records == []


def test_cpu_time_model_bills_cpu_seconds_not_wall_time():
    meter = CpuTimeMeter(w_per_core=10.0)
    start = meter.begin()
    time.sleep(0.3)  # wall time without CPU work is not billed
    idle = meter.end(start)
    start = meter.begin()
    busy(0.3)
    work = meter.end(start)
    assert idle.energy_j < 0.5  # < 0.05 CPU-s of noise at 10 W
    assert 2.5 <= work.energy_j <= 4.5  # ~0.3 CPU-s x 10 W
    assert work.estimated and work.method == "cpu-time-model"
    assert "10 W per busy core" in work.source and "not measured" in work.source


def test_ram_model_scales_with_duration():
    meter = RamRssMeter(w_per_gb=1.0)
    s = meter.begin()
    time.sleep(0.2)
    r = meter.end(s)
    assert r.estimated and r.energy_j > 0 and "W/GB" in r.source


def test_null_meter_reports_absence_not_zero():
    r = NullMeter("gpu", "no GPU").end(None)
    assert r.energy_j is None and r.method == "none" and r.source == "no GPU"
    session = EnergySession([NullMeter("gpu", "no GPU")])
    with session.phase("infer"):
        pass
    assert session.records[0].to_dict()["energy_j"] is None
