"""A fake pynvml module: counters and power per device, with injectable failures."""

from __future__ import annotations

from types import SimpleNamespace


class NVMLError(Exception):
    pass


class FakeNvml:
    """Behaves like the parts of ``pynvml`` the NVML meter uses."""

    NVMLError = NVMLError

    def __init__(self, devices: int = 1, counter: bool = True) -> None:
        self.energy_mj = [0] * devices
        self.power_mw = [100_000] * devices
        self.counter = counter
        self.fail_counter = False
        self.calls: list[str] = []

    def nvmlInit(self):  # noqa: N802
        self.calls.append("init")

    def nvmlDeviceGetCount(self):  # noqa: N802
        return len(self.energy_mj)

    def nvmlDeviceGetHandleByIndex(self, i):  # noqa: N802
        return SimpleNamespace(index=i)

    def nvmlDeviceGetName(self, h):  # noqa: N802
        return f"Fake GPU {h.index}"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):  # noqa: N802
        if not self.counter or self.fail_counter:
            raise NVMLError("Not Supported" if not self.counter else "GPU is lost")
        return self.energy_mj[h.index]

    def nvmlDeviceGetPowerUsage(self, h):  # noqa: N802
        return self.power_mw[h.index]

    def nvmlDeviceGetTemperature(self, h, sensor):  # noqa: N802
        return 55

    def nvmlDeviceGetEnforcedPowerLimit(self, h):  # noqa: N802
        return 700_000
