"""Grid carbon intensities from the data pack shipped with wattcut: countries, regions, the world.

On the bottom floor so that settings can refuse an unknown country or grid when the file is
read; :mod:`wattcut.measure.carbon` prices energy with them. No network access happens here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError, did_you_mean


@dataclass(frozen=True)
class Intensity:
    """A grid carbon intensity and where it came from.

    Attributes:
        g_per_kwh: grams CO2e per kWh drawn from the grid.
        location: What the value describes (country, region, "world average"...).
        source: Publisher and table.
        year: Year the value describes (None for a user constant).
        basis: ``life-cycle``, ``operational`` or ``user-supplied``.
        kind: ``country``, ``region``, ``constant``, ``timeseries`` or ``world-default``.
    """

    g_per_kwh: float
    location: str
    source: str
    year: int | None
    basis: str
    kind: str


@lru_cache(maxsize=1)
def pack() -> dict[str, Any]:
    """The carbon data pack shipped with wattcut."""
    # read as a plain file: importing wattcut.measure to locate it would run an arrow upward
    return json.loads((Path(__file__).parent / "measure" / "data" / "carbon_pack.json").read_text(encoding="utf-8"))


def world() -> Intensity:
    """The world-average intensity, used only when no location is configured."""
    w = pack()["world"]
    return Intensity(
        w["g_per_kwh"],
        "world average (no location set: set [carbon] country)",
        w["source"],
        w["year"],
        w["basis"],
        "world-default",
    )


def country_intensity(country: str, region: str | None = None, dataset: str | None = None) -> Intensity:
    """Look a country (and optional region) up in the data pack.

    Raises:
        UserInputError: Unknown country, region or dataset; never a silent default.
    """
    p = pack()
    dataset = dataset or p["default_dataset"]
    rows = [c for c in p["countries"] if c["dataset"] == dataset]
    if region is None and not rows:
        datasets = sorted({c["dataset"] for c in p["countries"]})
        raise UserInputError(
            f'[carbon] dataset = "{dataset}" is not in the data pack.{did_you_mean(dataset, datasets)}',
            f"Datasets: {', '.join(datasets)}.",
        )
    key = country.strip().casefold()
    match = next((c for c in p["countries"] if key in (c["code"].casefold(), c["name"].casefold())), None)
    if match is None:
        names = [c["name"] for c in rows] + [c["code"] for c in rows]
        raise UserInputError(
            f'Unknown country "{country}" in [carbon] country.{did_you_mean(country, names)}',
            'Use an ISO 3166 alpha-3 code (e.g. "FRA", "DEU", "USA") or the English name; '
            "`wattcut env --countries` lists them.",
        )
    code = match["code"]
    if region is not None:
        regions = [r for r in p["regions"] if r["country"] == code]
        r = next((r for r in regions if region.casefold() in (r["code"].casefold(), r["name"].casefold())), None)
        if r is None:
            known = [x["code"] for x in regions]
            raise UserInputError(
                f'Unknown region "{region}" for {code} in [carbon] region.{did_you_mean(region, known)}',
                f"Regions known for {code}: {', '.join(known) or 'none'}; or remove region for the national value.",
            )
        return Intensity(r["g_per_kwh"], f"{r['name']}, {code}", r["source"], r["year"], r["basis"], "region")
    row = next((c for c in rows if c["code"] == code), None)
    if row is None:
        raise UserInputError(
            f'The dataset "{dataset}" has no value for {code}.',
            f'Use [carbon] dataset = "{p["default_dataset"]}" or another country.',
        )
    return Intensity(row["g_per_kwh"], f"{row['name']} ({code})", row["source"], row["year"], row["basis"], "country")


def grid(spec: str) -> Intensity:
    """A named grid for deployment estimates.

    ``spec`` is ``WORLD``, a country (``DEU`` or ``Germany``, from the pack's default
    table), ``dataset:COUNTRY`` (``electricitymaps-2024:DEU``) or ``COUNTRY/REGION``
    (``USA/CA``).

    Raises:
        UserInputError: Unknown grid, with the accepted forms.
    """
    if spec.strip().upper() == "WORLD":
        w = pack()["world"]
        return Intensity(w["g_per_kwh"], "world average", w["source"], w["year"], w["basis"], "world")
    dataset, _, place = spec.rpartition(":")
    country, _, region = place.partition("/")
    try:
        return country_intensity(country, region or None, dataset or None)
    except UserInputError as e:
        reason = e.problem.replace(" in [carbon] country", "").replace(" in [carbon] region", "")
        raise UserInputError(
            f'[deploy] grids: "{spec}" is not a known grid: {reason}',
            'Use "WORLD", a country code ("DEU"), "dataset:CODE" ("electricitymaps-2024:DEU") or "CODE/REGION" '
            '("USA/CA"); `wattcut env --countries` lists the countries.',
        ) from None
