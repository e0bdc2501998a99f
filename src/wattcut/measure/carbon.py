"""Energy → CO2e: grid carbon intensity, PUE and optional embodied emissions.

CO2e of a window = energy_kWh x PUE x intensity (g/kWh), with the intensity from, in
this order of precedence in ``[carbon]``:

1. ``intensity_g_per_kwh``: a constant the user vouches for;
2. ``timeseries_csv``: an hourly (or any step) series ``timestamp,g_per_kwh``, integrated
   over the window (time-weighted mean; each row holds until the next);
3. ``country`` (ISO 3166 alpha-3 code or name) and optional ``region`` (US state code),
   from the versioned data pack ``data/carbon_pack.json`` (``dataset`` picks the table);
4. nothing set: the world average, labelled as such. Never a silent location.

Every result names the value's source, year and basis (life-cycle or operational).
Embodied emissions, when ``embodied_kg_co2e`` is set, are amortised linearly:
embodied_g = kg x 1000 x window_s / lifetime_s x use_share.
No network access happens here.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.grids import Intensity, country_intensity, grid, pack, world  # noqa: F401  (re-exported: carbon is where energy meets grids)
from wattcut.units import J_PER_KWH


class TimeSeries:
    """A step-wise intensity series from a CSV with ``timestamp`` and ``g_per_kwh`` columns.

    Timestamps are ISO 8601; without a zone they are taken as UTC. Each row's value holds
    from its timestamp until the next row's; the last row holds for one step (the series'
    last spacing), so the series ends at ``end``. One reader and one set of rules serve
    ``[carbon] timeseries_csv`` and ``wattcut place``: every value finite and 0 or more, no
    duplicate timestamps, and no step longer than the allowed gap where a job is priced
    (:meth:`check`), unless the user asks to hold the previous value.
    """

    def __init__(self, path: Path, setting: str = "[carbon] timeseries_csv") -> None:
        if not path.is_file():
            raise UserInputError(f'The intensity series "{path}" does not exist.', f"Fix {setting}.")
        self.path = path
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise UserInputError(
                f'The intensity series "{path}" is not UTF-8 text (bad byte at offset {e.start}).',
                "Save it as a UTF-8 CSV with the columns timestamp,g_per_kwh.",
            ) from None
        rows: list[tuple[float, float]] = []
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not {"timestamp", "g_per_kwh"} <= set(reader.fieldnames or []):
            raise UserInputError(
                f'"{path}" needs the columns timestamp,g_per_kwh; it has {reader.fieldnames}.',
                "Rename the columns (one row per hour is typical).",
            )
        for n, row in enumerate(reader, 2):
            stamp, value = row.get("timestamp"), row.get("g_per_kwh")
            if stamp is None or value is None or not stamp.strip() or not value.strip():
                raise UserInputError(f'"{path}" row {n} has a missing value: {row}.', "Fill or delete that row.")
            try:
                t = datetime.fromisoformat(stamp.strip())
                g = float(value)
            except ValueError:
                raise UserInputError(f'"{path}" row {n} is not "ISO-timestamp,number".', "Fix that row.") from None
            if not math.isfinite(g) or g < 0:
                raise UserInputError(
                    f'"{path}" row {n}: g_per_kwh = {value.strip()} is not an intensity (a finite number, 0 or more).',
                    "Fix that row.",
                )
            rows.append(((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp(), g))
        if not rows:
            raise UserInputError(f'"{path}" has no rows.', "Give at least one timestamp,g_per_kwh row.")
        rows.sort()
        self.times = [t for t, _ in rows]
        self.values = [v for _, v in rows]
        twice = next((a for a, b in zip(self.times, self.times[1:], strict=False) if a == b), None)
        if twice is not None:
            when = datetime.fromtimestamp(twice, UTC).isoformat(timespec="minutes")
            raise UserInputError(
                f'"{path}" has two rows for {when}: which value holds there is ambiguous.', "Keep one of them."
            )
        step = self.times[-1] - self.times[-2] if len(self.times) > 1 else 3600.0
        self.end = self.times[-1] + step
        self.notes: list[str] = []

    def check(self, start: float, max_gap_s: float, fill: str, end: float | None = None) -> list[str]:
        """Refuse a series that cannot price ``[start, end]`` (end: open, a run under way); return warnings.

        Refused: a series that starts after ``start``; a step longer than ``max_gap_s`` that
        ends after ``start`` and begins before ``end`` (inside the series, or the last value
        held past the series' last row) unless ``fill = "previous"``. Warned: a series from
        another year than ``start``.
        """
        if self.times[0] > start:
            first = datetime.fromtimestamp(self.times[0], UTC).isoformat(timespec="minutes")
            raise UserInputError(
                f'The intensity series "{self.path}" starts at {first}, after the job starts: the first hours '
                "would have no intensity.",
                "Give a series that covers the job (from before it starts), or set [carbon] intensity_g_per_kwh.",
            )
        warnings = []
        hours = max_gap_s / 3600
        last = start if end is None else end
        steps = [
            (a, b)
            for a, b in zip(self.times, self.times[1:], strict=False)
            if b > start and a < last and b - a > max_gap_s
        ]
        if last - self.times[-1] > max_gap_s:
            steps.append((self.times[-1], last))
        if steps:
            a, b = steps[0]
            span = f"{datetime.fromtimestamp(a, UTC):%Y-%m-%d %H:%M} to {datetime.fromtimestamp(b, UTC):%Y-%m-%d %H:%M}"
            if fill != "previous":
                raise UserInputError(
                    f'The intensity series "{self.path}" has a gap of {(b - a) / 3600:.1f} h ({span}, longer than '
                    f"the allowed {hours:g} h) where this job would be priced"
                    + ((" (it ends before the job " + ("starts)" if end is None else "ends)")) if b == last else "")
                    + ".",
                    "Fill the gap (or extend the series), allow longer gaps ([carbon] max_gap_h, place --max-gap-h), "
                    'or hold the last value across gaps ([carbon] gap_fill = "previous", place --gap-fill previous; '
                    "the answer then says so).",
                )
            warnings.append(f"gaps over {hours:g} h (first {span}) filled with the previous value (gap fill: previous)")
        run_year = datetime.fromtimestamp(start, UTC).year
        years = {datetime.fromtimestamp(t, UTC).year for t in self.times}
        if run_year not in years:
            warnings.append(
                f"the series covers {min(years)}–{max(years)}, not {run_year}, the year of this run: "
                "its values may not describe today's grid"
            )
        self.notes = warnings
        return warnings

    def mean(self, start: float, end: float) -> float:
        """Time-weighted mean intensity over ``[start, end]`` (unix seconds)."""
        if start < self.times[0]:
            raise UserInputError(
                f'The window starts before the first row of "{self.path}".', "Extend the series to cover the run."
            )
        if end <= start:
            return self.values[bisect.bisect_right(self.times, start) - 1]
        total, t = 0.0, start
        i = bisect.bisect_right(self.times, start) - 1
        while t < end:
            nxt = self.times[i + 1] if i + 1 < len(self.times) else end
            seg_end = min(nxt, end)
            total += self.values[i] * (seg_end - t)
            t, i = seg_end, i + 1
        return total / (end - start)


def check_inputs(cfg: Any, now: float) -> list[str]:
    """Check the carbon settings that read files, before any work; return warnings to show."""
    if cfg.timeseries_csv is None or cfg.intensity_g_per_kwh is not None:
        return []
    return TimeSeries(Path(cfg.timeseries_csv)).check(now, cfg.max_gap_h * 3600, cfg.gap_fill)


def resolve(cfg: Any, start: float = 0.0, end: float = 0.0) -> Intensity:
    """The intensity in force for a window, from a ``CarbonConfig``."""
    if cfg.intensity_g_per_kwh is not None:
        return Intensity(
            cfg.intensity_g_per_kwh, "user constant", "[carbon] intensity_g_per_kwh", None, "user-supplied", "constant"
        )
    if cfg.timeseries_csv is not None:
        series = TimeSeries(Path(cfg.timeseries_csv))
        notes = series.check(start, cfg.max_gap_h * 3600, cfg.gap_fill) if start else []
        return Intensity(
            series.mean(start, end),
            "time series",
            f"{cfg.timeseries_csv} (time-weighted mean" + "".join(f"; {n}" for n in notes) + ")",
            None,
            "user-supplied",
            "timeseries",
        )
    if cfg.country is not None:
        return country_intensity(cfg.country, cfg.region, cfg.dataset)
    return world()


def co2e(energy_j: float | None, intensity: Intensity, pue: float) -> dict[str, Any]:
    """CO2e of ``energy_j`` at ``intensity`` with ``pue``, with the provenance of each factor."""
    out: dict[str, Any] = {"pue": pue, **{f"intensity_{k}": v for k, v in asdict(intensity).items()}}
    if energy_j is None:
        return {"co2e_g": None, "energy_kwh": None, **out}
    kwh = energy_j / J_PER_KWH
    return {"co2e_g": kwh * pue * intensity.g_per_kwh, "energy_kwh": kwh, **out}


def priced(phase: Any, cfg: Any) -> dict[str, Any]:
    """A ``PhaseRecord``'s dict form plus its ``carbon``, for a ``CarbonConfig``.

    CO2e gross and net of idle, an estimate's interval priced on the same grid, the intensity's
    provenance and the embodied share.
    """
    d: dict[str, Any] = phase.to_dict()
    intensity = resolve(cfg, phase.started_at, phase.started_at + phase.duration_s)
    c = co2e(d["energy_j"], intensity, cfg.pue)
    net = co2e(d["net_energy_j"], intensity, cfg.pue)["co2e_g"]
    d["carbon"] = {**c, "net_co2e_g": net, "embodied_co2e_g": embodied_g(cfg, phase.duration_s)}
    if d.get("low_j") is not None:
        d["carbon"]["co2e_low_g"] = co2e(d["low_j"], intensity, cfg.pue)["co2e_g"]
        d["carbon"]["co2e_high_g"] = co2e(d["high_j"], intensity, cfg.pue)["co2e_g"]
    return d


def embodied_g(cfg: Any, duration_s: float) -> float | None:
    """Embodied emissions attributable to a window, or None when not configured."""
    if cfg.embodied_kg_co2e is None:
        return None
    lifetime_s = cfg.lifetime_years * 365.25 * 86400
    return cfg.embodied_kg_co2e * 1000.0 * duration_s / lifetime_s * cfg.use_share
