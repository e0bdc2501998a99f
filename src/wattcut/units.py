"""Energy units, defined once: joules are wattcut's unit; kWh is what grids and CodeCarbon speak."""

from __future__ import annotations

J_PER_KWH = 3.6e6  # 1 kWh = 3,600,000 J


def kwh(energy_j: float) -> float:
    """Joules to kilowatt-hours."""
    return energy_j / J_PER_KWH


def kwh_or_none(energy_j: float | None) -> float | None:
    """Joules to kilowatt-hours; None stays None (a figure that was not measured)."""
    return None if energy_j is None else energy_j / J_PER_KWH


def joules(energy_kwh: float) -> float:
    """Kilowatt-hours to joules."""
    return energy_kwh * J_PER_KWH
