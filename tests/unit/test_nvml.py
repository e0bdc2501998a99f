import time

import pytest

from tests.fakes.pynvml import FakeNvml
from wattcut.measure.nvml import NvmlMeter


def make(fake, syncs):
    return NvmlMeter(fake, interval_s=3600, sync=lambda: syncs.append(time.perf_counter()))


def test_counter_delta_with_device_sync_at_both_edges():
    fake, syncs = FakeNvml(devices=2), []
    m = make(fake, syncs)
    start = m.begin()
    fake.energy_mj = [5_000, 7_500]
    (gpu,) = m.end(start)
    m.close()
    assert len(syncs) == 2  # begin and end each synchronise the device first
    assert gpu.energy_j == pytest.approx(12.5) and gpu.method == "nvml-counter" and not gpu.estimated
    assert gpu.uncertainty_rel == 0.05
    dev = gpu.details["devices"][0]
    assert dev["temperature_c"] == 55 and dev["power_limit_w"] == 700.0 and dev["energy_j"] == 5.0


def test_error_mid_window_falls_back_to_power_sampling_and_says_so():
    fake, syncs = FakeNvml(), []
    m = make(fake, syncs)
    start = m.begin()
    time.sleep(0.1)
    fake.fail_counter = True  # the counter read at the end of the window fails
    (gpu,) = m.end(start)
    m.close()
    assert gpu.method == "nvml-power-sampling"
    assert "counter read failed mid-window" in gpu.source
    assert gpu.energy_j == pytest.approx(100.0 * 0.1, rel=0.3)  # 100 W for ~0.1 s
    assert gpu.uncertainty_rel == 0.15


def test_gpu_without_counter_uses_power_sampling():
    fake, syncs = FakeNvml(counter=False), []
    m = make(fake, syncs)
    start = m.begin()
    m._sample()
    time.sleep(0.05)
    fake.power_mw = [300_000]
    m._sample()
    (gpu,) = m.end(start)
    m.close()
    assert gpu.method == "nvml-power-sampling" and "no energy counter" in gpu.source
    assert gpu.energy_j > 0


def test_nothing_measurable_is_none_not_zero():
    fake, syncs = FakeNvml(counter=False), []
    fake.nvmlDeviceGetPowerUsage = lambda h: (_ for _ in ()).throw(fake.NVMLError("lost"))
    m = make(fake, syncs)
    (gpu,) = m.end(m.begin())
    m.close()
    assert gpu.energy_j is None and gpu.method == "none" and "no power sample" in gpu.source
