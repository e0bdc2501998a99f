"""wattcut place: the lowest-carbon window per region, checked against an independent sliding-window search."""

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wattcut.cli import main
from wattcut.measure.carbon import TimeSeries, grid
from wattcut.stats.placement import Job, place

START = datetime(2024, 3, 1, tzinfo=UTC)


def hourly_csv(path, values):
    rows = ["timestamp,g_per_kwh"] + [
        f"{(START + timedelta(hours=i)).isoformat()},{v:.3f}" for i, v in enumerate(values)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def series(seed, n=96):
    rng = np.random.default_rng(seed)
    hours = np.arange(n)
    return np.round(300 + 120 * np.sin(2 * math.pi * (hours - seed) / 24) + rng.normal(0, 25, n), 3)  # as written


@pytest.mark.parametrize(("job_h", "deadline_h", "seed"), [(3, 24, 0), (5, 48, 1), (1, 12, 2), (8, 72, 3)])
def test_lowest_carbon_window_matches_an_independent_search_to_the_hour(tmp_path, job_h, deadline_h, seed):
    values = series(seed)
    csv = hourly_csv(tmp_path / "a.csv", values)
    answer = place(Job(2.0, job_h, "test"), {"A": TimeSeries(csv)}, "A", START.timestamp(), deadline_h, 1.2)
    # independent: mean of every window of job_h whole hours that starts on the hour and ends by the deadline
    means = np.convolve(values, np.ones(job_h) / job_h, mode="valid")[: deadline_h - job_h + 1]
    best_hour = int(np.argmin(means))
    got = datetime.fromisoformat(answer["regions"]["A"]["best_start"])
    assert got == START + timedelta(hours=best_hour)
    assert answer["regions"]["A"]["mean_g_per_kwh"] == pytest.approx(means[best_hour], rel=1e-9)
    assert answer["regions"]["A"]["co2e_g"] == pytest.approx(2.0 * means[best_hour] * 1.2)
    assert answer["regions"]["A"]["now_co2e_g"] == pytest.approx(2.0 * means[0] * 1.2)


def test_best_region_and_saving_against_now_in_the_default_region(tmp_path):
    a = hourly_csv(tmp_path / "a.csv", series(0))
    b = hourly_csv(tmp_path / "b.csv", np.clip(series(5) - 150, 0, None))  # intensities are never negative
    regions = {"A": TimeSeries(a), "B": TimeSeries(b), "FRA": grid("FRA")}
    answer = place(Job(1.0, 2, "test", embodied_g_per_h=10.0), regions, "A", START.timestamp(), 24, 1.0)
    rows = answer["regions"]
    assert answer["best_region"] == min(rows, key=lambda n: rows[n]["co2e_g"])
    now = rows["A"]["now_co2e_g"]
    for r in rows.values():
        assert r["saving_vs_now_default_g"] == pytest.approx(now - r["co2e_g"])
        assert r["co2e_g"] >= 20.0  # the embodied share (10 g/h x 2 h) goes with the job wherever it runs
    assert rows["FRA"]["wait_h"] == 0 and "constant" in rows["FRA"]["source"]


def test_cli_places_a_job_and_refuses_bad_input(tmp_path, capsys):
    csv = hourly_csv(tmp_path / "a.csv", series(0))
    out = tmp_path / "place.json"
    code = main(
        ["place", "--region", f"A={csv}", "--region", "DEU", "--energy-kwh", "3", "--hours", "4",
         "--start", START.isoformat(), "--deadline-h", "24", "--out", str(out)]
    )  # fmt: skip
    assert code == 0 and json.loads(out.read_text())["regions"]["A"]["best_start"]
    assert "lowest CO2e" in capsys.readouterr().out
    assert main(["place", "--region", f"A={csv}", "--hours", "4"]) == 2  # no energy
    assert main(["place", "--region", f"A={tmp_path / 'missing.csv'}", "--energy-kwh", "1", "--hours", "1"]) == 2
    args = ["place", "--region", f"A={csv}", "--energy-kwh", "1", "--hours", "30", "--deadline-h", "24"]
    assert main(args) == 2  # the deadline is shorter than the job
