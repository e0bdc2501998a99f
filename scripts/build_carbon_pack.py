"""Build wattcut's carbon-intensity data pack (src/wattcut/measure/data/carbon_pack.json).

Reads public tables shipped inside the CodeCarbon wheel (used as data only, MIT-licensed
package; the underlying data keep their own licences) and adds facts quoted in the seed
studies. Every value carries its source, year and basis.

    pip download --no-deps codecarbon==3.3.2 -d /tmp/cc
    python scripts/build_carbon_pack.py /tmp/cc/codecarbon-3.3.2-py3-none-any.whl

Bases: "life-cycle" counts emissions over the whole life of the generating plants
(construction, fuel supply, operation); "operational" counts only combustion at the plant.
They are not comparable; a report must say which one it used.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

PACK = Path(__file__).resolve().parents[1] / "src" / "wattcut" / "measure" / "data" / "carbon_pack.json"
LB_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0

OWID = {
    "source": "Our World in Data, electricity mix (carbon_intensity_elec; Ember and Energy Institute), "
    "as shipped in CodeCarbon 3.3.2 data/private_infra/global_energy_mix.json; CC BY 4.0",
    "basis": "life-cycle",
}
EGRID = {
    "source": "US EPA eGRID2023, state annual CO2-equivalent total output emission rate (STC2ERTA), "
    "as shipped in CodeCarbon 3.3.2 data/private_infra/2023/usa_emissions.json",
    "basis": "operational",
}
ELECTRICITY_MAPS_2024 = {
    "source": "Electricity Maps, yearly national average 2024, life-cycle (as quoted in seed study 003, Table 29)",
    "basis": "life-cycle",
    "year": 2024,
    "values": {
        "BEL": ("Belgium", 153.14),
        "DEU": ("Germany", 333.77),
        "FRA": ("France", 33.44),
        "NLD": ("Netherlands", 262.93),
    },
}
WORLD = {
    "code": "WORLD",
    "name": "World average",
    "g_per_kwh": 475.0,
    "year": 2019,
    "source": "IEA global average carbon intensity of electricity, 2019 (the world default CodeCarbon uses)",
    "basis": "operational",
}


def main(wheel: str) -> None:
    """Read the tables from the CodeCarbon wheel at ``wheel`` and write the pack."""
    with zipfile.ZipFile(wheel) as z:
        owid = json.loads(z.read("codecarbon/data/private_infra/global_energy_mix.json"))
        usa = json.loads(z.read("codecarbon/data/private_infra/2023/usa_emissions.json"))
    countries = [
        {
            "code": code,
            "name": row["country_name"],
            "g_per_kwh": round(float(row["carbon_intensity"]), 3),
            "year": int(row["year"]),
            "dataset": "owid",
            **OWID,
        }
        for code, row in sorted(owid.items())
        if row.get("carbon_intensity") is not None
    ]
    for code, (name, value) in ELECTRICITY_MAPS_2024["values"].items():
        countries.append(
            {
                "code": code,
                "name": name,
                "g_per_kwh": value,
                "year": 2024,
                "dataset": "electricitymaps-2024",
                "source": ELECTRICITY_MAPS_2024["source"],
                "basis": "life-cycle",
            }
        )
    regions = [
        {
            "country": "USA",
            "code": row["regionCode"],
            "name": name.replace("_", " ").title(),
            "g_per_kwh": round(float(row["emissions"]) * LB_PER_MWH_TO_G_PER_KWH, 3),
            "year": 2023,
            "dataset": "egrid2023",
            **EGRID,
        }
        for name, row in sorted(usa.items())
        if not name.startswith("_") and row["regionCode"] != "usa"  # the national total is not a region
    ]
    pack = {
        "pack_version": "2026.11.1",
        "default_dataset": "owid",
        "world": WORLD,
        "countries": countries,
        "regions": regions,
    }
    PACK.parent.mkdir(parents=True, exist_ok=True)
    PACK.write_text(json.dumps(pack, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {PACK}: {len(countries)} country values, {len(regions)} regions")


if __name__ == "__main__":
    main(sys.argv[1])
