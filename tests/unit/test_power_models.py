"""Microarchitecture inference from cpuinfo, the shipped power models and their provenance, the meters' intervals."""

import math
import time
from pathlib import Path

import pytest

from wattcut.measure import power_models
from wattcut.measure.cputime import CpuTimeMeter, cpu_power
from wattcut.measure.microarch import parse_cpuinfo, this_machine
from wattcut.measure.ram import RamModelMeter

FIXTURES = Path(__file__).resolve().parents[1] / "fakes" / "cpuinfo"

CASES = {  # file: (microarchitecture, core, virtual, CCF architecture in force)
    "intel-skylake-sp-vm.txt": ("Skylake", None, True, "Skylake"),
    "intel-cascadelake-metal.txt": ("Cascade Lake", None, False, "Cascade Lake"),
    "intel-icelake-vm-generic-name.txt": ("Ice Lake", None, True, "Ice Lake"),
    "intel-sapphirerapids-vm.txt": ("Sapphire Rapids", None, True, "Sapphire Rapids"),
    "amd-rome-metal.txt": ("Rome", "Zen 2", False, "EPYC 2nd Gen"),
    "amd-milan-vm.txt": ("Milan", "Zen 3", True, "EPYC 3rd Gen"),
    "amd-genoa-vm-generic-name.txt": ("Genoa", "Zen 4", True, "EPYC 4th Gen"),
    "amd-genoa-metal.txt": ("Genoa", "Zen 4", False, "EPYC 4th Gen"),
    "arm-graviton2-vm.txt": ("Neoverse N1", None, False, "Graviton2"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_microarchitecture_is_inferred_from_cpuid_fields(name):
    march = this_machine(FIXTURES / name)
    expected, core, virtual, ccf = CASES[name]
    assert (march.name, march.core, march.virtual, march.bounded) == (expected, core, virtual, False)
    assert march.evidence.startswith("from ")  # names the fields it used
    assert power_models.ccf_architecture(march) == ccf
    model = power_models.cpu_model(march)
    assert model is not None and model.architecture == ccf and model.min_w_per_vcpu < model.max_w_per_vcpu


def test_a_vm_model_name_alone_does_not_decide():
    """'AMD EPYC' says nothing; family 25 model 17 is Genoa, model 1 is Milan."""
    genoa = parse_cpuinfo((FIXTURES / "amd-genoa-vm-generic-name.txt").read_text())
    milan = {**genoa, "model": "1"}
    assert this_machine(FIXTURES / "amd-genoa-vm-generic-name.txt").name == "Genoa"
    from wattcut.measure.microarch import infer

    assert infer(milan).name == "Milan"


def test_unknown_model_falls_back_to_flags_then_to_the_labelled_generic_figure():
    amx = this_machine(FIXTURES / "intel-unknown-model-with-amx.txt")
    assert amx.name == "Sapphire Rapids" and amx.bounded and "AMX" in amx.evidence and "or later" in amx.label()
    unknown = this_machine(FIXTURES / "intel-unknown-model.txt")
    assert unknown.name is None and power_models.cpu_model(unknown) is None
    p = cpu_power(None, parse_cpuinfo((FIXTURES / "intel-unknown-model.txt").read_text()))
    assert p.model is None and p.w_per_core == 4.0 and "last resort" in p.origin


def test_cpu_power_uses_the_microarchitecture_model():
    p = cpu_power(None, parse_cpuinfo((FIXTURES / "amd-milan-vm.txt").read_text()))
    assert p.model is not None and p.model.architecture == "EPYC 3rd Gen"
    assert "Cloud Carbon Footprint" in p.origin and "Milan" in p.origin
    assert (
        cpu_power(3.0, parse_cpuinfo((FIXTURES / "amd-milan-vm.txt").read_text())).model is None
    )  # user's figure wins


def test_every_shipped_coefficient_has_a_source_year_and_licence():
    coefficients = power_models.every_coefficient()
    assert len(coefficients) >= 2 * 20 + 4
    for name, value, record in coefficients:
        assert isinstance(value, float) and value > 0, name
        assert len(record.get("source", "")) > 40, f"{name}: no source"
        assert 2000 <= int(record["year"]) <= 2026, f"{name}: no year"
        assert record.get("licence"), f"{name}: no licence"
    d = power_models.data()
    assert d["version"] >= 1 and "SPECpower" in d["cpu"]["method"]


def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_interval_recomputes_from_cpu_seconds_utilisation_and_coefficients():
    p = cpu_power(None, parse_cpuinfo((FIXTURES / "amd-genoa-metal.txt").read_text()))
    m = p.model
    meter = CpuTimeMeter(p, vcpus=2)
    start = meter.begin()
    busy(0.2)
    time.sleep(0.1)
    (e,) = meter.end(start)
    cpu_s, u = e.details["cpu_time_s"], e.details["utilisation"]
    assert 0.0 < u < 1.0  # one busy core of two, part of the window
    assert e.energy_j == pytest.approx(cpu_s * (m.min_w_per_vcpu + u * (m.max_w_per_vcpu - m.min_w_per_vcpu)))
    assert e.low_j == pytest.approx(cpu_s * m.min_w_per_vcpu)
    assert e.high_j == pytest.approx(cpu_s * m.max_w_per_vcpu)
    assert e.low_j < e.energy_j < e.high_j and e.estimated


def test_ram_interval_spans_boavizta_to_ccf():
    march = this_machine(FIXTURES / "amd-milan-vm.txt")  # DDR4
    model = power_models.ram_model(march)
    assert model.memory_type == "DDR4" and model.w_per_gb == 0.375
    assert model.low_w_per_gb == pytest.approx((3.0 + 0.055 * 32) / 32) and model.high_w_per_gb == 0.392
    assert power_models.memory_type(this_machine(FIXTURES / "amd-genoa-metal.txt")) == "DDR5"
    meter = RamModelMeter("rss", 0.375, power=model)
    s = meter.begin()
    time.sleep(0.05)
    (r,) = meter.end(s)
    gb = r.details["rss_gb"]
    assert r.low_j / r.energy_j == pytest.approx(model.low_w_per_gb / 0.375)
    assert r.high_j / r.energy_j == pytest.approx(0.392 / 0.375)
    assert math.isclose(r.energy_j / (gb * 0.375), r.high_j / (gb * 0.392), rel_tol=1e-9)  # the same window


def test_merged_rounds_keep_each_windows_model_inputs():
    from wattcut.measure.base import PhaseRecord, merge

    p = cpu_power(None, parse_cpuinfo((FIXTURES / "amd-genoa-metal.txt").read_text()))
    meter = CpuTimeMeter(p, vcpus=2)
    rounds = []
    for seconds in (0.05, 0.1):
        start = meter.begin()
        busy(seconds)
        rounds.append(PhaseRecord("infer", seconds, energy=meter.end(start)))
    (e,) = merge(rounds).energy
    m = p.model
    windows = e.details["windows"]
    assert len(windows) == 2 and e.details["cpu_time_s"] == pytest.approx(sum(w["cpu_time_s"] for w in windows))
    expected = sum(w["cpu_time_s"] * m.w_at(w["utilisation"]) for w in windows)
    assert e.energy_j == pytest.approx(expected, rel=1e-12)
    assert e.low_j == pytest.approx(e.details["cpu_time_s"] * m.min_w_per_vcpu, rel=1e-12)
