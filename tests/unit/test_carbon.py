import pytest

from wattcut.errors import UserInputError
from wattcut.measure import carbon
from wattcut.settings import CarbonConfig


def test_country_conversion_is_energy_times_intensity_times_pue():
    pack = carbon.pack()
    fra = next(c for c in pack["countries"] if c["code"] == "FRA" and c["dataset"] == pack["default_dataset"])
    cfg = CarbonConfig(country="FRA", pue=1.4)
    i = carbon.resolve(cfg)
    out = carbon.co2e(7.2e6, i, cfg.pue)  # 2 kWh
    assert out["co2e_g"] == 2.0 * fra["g_per_kwh"] * 1.4
    assert out["intensity_year"] == fra["year"] and out["intensity_basis"] == "life-cycle"
    assert "Our World in Data" in out["intensity_source"] and out["pue"] == 1.4


def test_seed003_electricity_maps_values_and_names():
    i = carbon.resolve(CarbonConfig(country="germany", dataset="electricitymaps-2024"))
    assert i.g_per_kwh == 333.77 and i.year == 2024


def test_region_value():
    i = carbon.resolve(CarbonConfig(country="USA", region="CA"))
    assert i.kind == "region" and "eGRID2023" in i.source and i.basis == "operational"


def test_unknown_country_is_an_error_with_suggestion():
    with pytest.raises(UserInputError, match='Unknown country "Frnace".*Did you mean "France"'):
        CarbonConfig(country="Frnace")


def test_no_location_is_the_labelled_world_average():
    i = carbon.resolve(CarbonConfig())
    assert i.kind == "world-default" and "no location set" in i.location and i.g_per_kwh == 475.0


def test_time_series_is_time_weighted(tmp_path):
    csv = tmp_path / "grid.csv"
    csv.write_text("timestamp,g_per_kwh\n2026-01-01T00:00:00,100\n2026-01-01T01:00:00,400\n")
    t0 = 1767225600.0  # 2026-01-01T00:00:00Z
    cfg = CarbonConfig(timeseries_csv=str(csv))
    # 30 min at 100 then 60 min at 400 (the last row holds onwards)
    assert carbon.resolve(cfg, t0 + 1800, t0 + 1800 + 5400).g_per_kwh == pytest.approx((1800 * 100 + 3600 * 400) / 5400)
    assert carbon.resolve(cfg, t0 + 10, t0 + 20).g_per_kwh == 100
    with pytest.raises(UserInputError, match="after the job starts"):
        carbon.resolve(cfg, t0 - 10, t0 + 10)


def test_constant_wins_and_pue_below_one_is_refused():
    assert carbon.resolve(CarbonConfig(country="FRA", intensity_g_per_kwh=12.0)).g_per_kwh == 12.0
    with pytest.raises(UserInputError, match="pue"):
        CarbonConfig(pue=0.9)


def test_embodied_share_is_linear():
    cfg = CarbonConfig(embodied_kg_co2e=1000.0, lifetime_years=4.0, use_share=0.5)
    seconds = 4 * 365.25 * 86400
    assert carbon.embodied_g(cfg, seconds) == pytest.approx(500_000.0)
    assert carbon.embodied_g(CarbonConfig(), 10.0) is None
