"""``wattcut.measure``: named, nestable measurement windows around your own code.

The same meters (RAPL, NVML, or the CPU-time and RAM models where no counter exists), power
models and carbon data as ``wattcut run``, as a context manager, a decorator, or begin/end calls::

    import wattcut

    with wattcut.measure("train", country="FRA") as train:
        with wattcut.measure("epoch 1") as epoch:   # nested: shares the outer window's meters
            ...
    print(train.result.energy_j, epoch.result.energy_j, train.result.co2e_g)

A window nested in another (by ``with`` or ``begin``/``end`` in the same thread or task) reads
the outermost window's meters, so its joules are part of the outer's: never add the two.
Windows close innermost first; closing one twice, or out of order, raises :class:`WindowError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from wattcut.errors import UserInputError
from wattcut.grids import Intensity
from wattcut.measure.base import ComponentEnergy, PhaseRecord
from wattcut.measure.session import EnergySession, IdleBaseline
from wattcut.settings_measure import CarbonConfig, MeasureConfig
from wattcut.units import kwh_or_none

MEASUREMENT_VERSION = 1
F = TypeVar("F", bound=Callable[..., Any])


class WindowError(UserInputError):
    """A measurement window used out of turn: closed twice, closed before its inner windows, read while open."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem, fix)


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """What one window measured. Joules per component, each with how it was obtained.

    Attributes:
        name: The window's name.
        path: Names from the outermost open window to this one (``("train", "epoch 1")``).
        started_at: Unix time the window opened.
        duration_s: Wall-clock seconds.
        cpu_time_s: CPU seconds this process used in the window.
        components: One reading per component (``cpu``, ``ram``, ``gpu``): joules, ``method``, ``estimated``,
            ``low_j``/``high_j`` (an estimate's range from its model), ``source`` and the net of idle.
        energy_j: Gross joules over the measured components (None when none could be measured).
        net_energy_j: ``energy_j`` less the idle baseline's power x duration (None without ``idle_s``).
        low_j: The low end of an estimated total (None when every component was measured by a counter).
        high_j: Its high end.
        estimated: True when any component is a model estimate.
        co2e_g: Grams CO2e of ``energy_j`` on the window's grid, with PUE.
        net_co2e_g: The same for ``net_energy_j``.
        co2e_low_g: ``low_j`` priced on the same grid (None when measured).
        co2e_high_g: ``high_j`` priced on the same grid.
        intensity: The grid intensity used, with its source and year.
        pue: Power usage effectiveness applied.
        idle: The idle baseline that net figures subtract (None when not measured).
        failed: True when the body raised: the energy was spent, the work did not finish.
        children: Windows opened and closed inside this one, in order.
        schema_version: Version of this record's layout.
    """

    name: str
    path: tuple[str, ...]
    started_at: float
    duration_s: float
    cpu_time_s: float
    components: tuple[ComponentEnergy, ...]
    energy_j: float | None
    net_energy_j: float | None
    low_j: float | None
    high_j: float | None
    estimated: bool
    co2e_g: float | None
    net_co2e_g: float | None
    co2e_low_g: float | None
    co2e_high_g: float | None
    intensity: Intensity
    pue: float
    idle: IdleBaseline | None = None
    failed: bool = False
    children: tuple[Measurement, ...] = ()
    schema_version: int = MEASUREMENT_VERSION

    def component(self, name: str) -> ComponentEnergy | None:
        """The reading for ``cpu``, ``ram`` or ``gpu``; None when that component was not metered here."""
        return next((c for c in self.components if c.component == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (every field, recursively)."""
        return asdict(self)


@dataclass
class _Root:
    """The meters an outermost window opened, shared by every window nested in it."""

    session: EnergySession
    stack: list[Window] = field(default_factory=list)


_ACTIVE: ContextVar[_Root | None] = ContextVar("wattcut_measure_root", default=None)


class Window:
    """One named window; use it with ``with``, as a decorator, or with :meth:`begin` and :meth:`end`.

    Args:
        name: What the window measures ("train", "epoch 1", "predict").
        country: Grid location (ISO 3166 alpha-3 code or English name); default: the world average, labelled.
        region: Sub-national region (a US state code) within ``country``.
        pue: Power usage effectiveness of the facility (>= 1).
        intensity_g_per_kwh: A constant grid intensity instead of a location.
        carbon: A full ``CarbonConfig`` (a time series, a dataset, embodied emissions) instead of the above.
        idle_s: Seconds of idle baseline measured before an outermost window opens, so results are also net of
            idle (0: gross only).
        interval_s: Sampling period of meters that need a thread (RAPL wraparound, the RAM model, NVML).
        emissions_csv: Append this window's row, and one per window nested in it, to a CodeCarbon-layout
            ``emissions.csv`` (created with its header when absent).
        project: ``project_name`` in that file.
    """

    def __init__(
        self,
        name: str = "measure",
        *,
        country: str | None = None,
        region: str | None = None,
        pue: float = 1.0,
        intensity_g_per_kwh: float | None = None,
        carbon: CarbonConfig | None = None,
        idle_s: float = 0.0,
        interval_s: float = 1.0,
        emissions_csv: str | Path | None = None,
        project: str = "wattcut",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise WindowError(f"A measurement window needs a name, not {name!r}.", 'Give one, e.g. measure("train").')
        if carbon is not None and (country, region, intensity_g_per_kwh, pue) != (None, None, None, 1.0):
            raise WindowError(
                "Both carbon= and country/region/pue/intensity_g_per_kwh were given.",
                "Give the grid one way: put them all in the CarbonConfig.",
            )
        try:
            self.carbon = carbon or CarbonConfig(
                country=country, region=region, pue=pue, intensity_g_per_kwh=intensity_g_per_kwh
            )
            self.measure_cfg = MeasureConfig(interval_s=interval_s, idle_s=idle_s)
        except UserInputError as e:
            raise WindowError(f"Measurement window {name!r}: {e.problem}", e.fix) from None
        except ValueError as e:
            raise WindowError(f"Measurement window {name!r}: {e}", "Fix that argument.") from None
        self.name = name
        self.emissions_csv = None if emissions_csv is None else Path(emissions_csv)
        self.project = project
        self._settings: dict[str, Any] = {
            "carbon": self.carbon,
            "idle_s": idle_s,
            "interval_s": interval_s,
            "emissions_csv": emissions_csv,
            "project": project,
        }
        self._state = "new"  # new -> open -> closed
        self._root: _Root | None = None
        self._owns_root = False
        self._phase: Any = None
        self._record: PhaseRecord | None = None
        self._children: list[Measurement] = []
        self._result: Measurement | None = None
        self.calls: list[Measurement] = []  # as a decorator: one result per call, in order

    # --- begin / end ---------------------------------------------------------------------------------------------

    def begin(self) -> Window:
        """Open the window (nested in the window open in this thread or task, if any)."""
        if self._state != "new":
            raise WindowError(
                f"Measurement window {self.name!r} was already {'opened' if self._state == 'open' else 'closed'}.",
                "A window opens once: create another with wattcut.measure(...) to measure again.",
            )
        root = _ACTIVE.get()
        if root is None:
            from wattcut.measure.select import select_meters

            meters, _ = select_meters(self.measure_cfg)
            root = _Root(EnergySession(meters))
            self._owns_root = True
            if self.measure_cfg.idle_s > 0:
                root.session.measure_idle(self.measure_cfg.idle_s)
            self._token = _ACTIVE.set(root)
        self._root = root
        root.stack.append(self)
        self._phase = root.session.phase(self.name)
        self._record = self._phase.__enter__()
        self._state = "open"
        return self

    def end(self, failed: bool = False) -> Measurement:
        """Close the window and return what it measured.

        Raises:
            WindowError: The window is not open (never opened, or closed already), or a window opened inside it
                is still open.
        """
        if self._state != "open":
            what = "was closed already" if self._state == "closed" else "was never opened"
            raise WindowError(
                f"Measurement window {self.name!r} {what}.", "Close each window once, after it was opened."
            )
        root = self._root
        assert root is not None and self._record is not None
        if root.stack[-1] is not self:
            raise WindowError(
                f"Measurement window {self.name!r} was closed while {root.stack[-1].name!r}, opened inside it, is "
                "still open.",
                f"Close {root.stack[-1].name!r} first: windows close innermost first.",
            )
        self._phase.__exit__(None, None, None)  # records the window even when its body failed: the energy was spent
        root.stack.pop()
        root.session.take()
        self._state = "closed"
        result = self._measurement(self._record, [w.name for w in root.stack], failed)
        self._result = result
        if root.stack:
            root.stack[-1]._children.append(result)
        if self._owns_root:
            _ACTIVE.reset(self._token)
            root.session.close()
        if self.emissions_csv is not None:
            append_emissions(result, self.emissions_csv, self.project, self.carbon)
        return result

    @property
    def result(self) -> Measurement:
        """What the window measured (after it closed).

        Raises:
            WindowError: It has not closed yet.
        """
        if self._result is None:
            raise WindowError(
                f"Measurement window {self.name!r} has no result yet: it is {self._state}.",
                "Read .result after the with block (or after .end()).",
            )
        return self._result

    # --- with / decorator ----------------------------------------------------------------------------------------

    def __enter__(self) -> Window:
        return self.begin()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end(failed=exc_type is not None)

    def __call__(self, func: F) -> F:
        """Measure every call of ``func`` in a fresh window of this name; results collect in :attr:`calls`."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            window = Window(self.name, **self._settings)
            with window:
                value = func(*args, **kwargs)
            self.calls.append(window.result)
            self._result = window.result
            return value

        return wrapper  # type: ignore[return-value]

    # --- the result ----------------------------------------------------------------------------------------------

    def _measurement(self, rec: PhaseRecord, outer: list[str], failed: bool) -> Measurement:
        import wattcut.measure.carbon as carbon

        d = carbon.priced(rec, self.carbon)
        c = d["carbon"]
        intensity = Intensity(**{k: c[f"intensity_{k}"] for k in Intensity.__dataclass_fields__})
        assert self._root is not None
        return Measurement(
            name=self.name,
            path=(*outer, self.name),
            started_at=rec.started_at,
            duration_s=rec.duration_s,
            cpu_time_s=rec.cpu_time_s,
            components=tuple(rec.energy),
            energy_j=d["energy_j"],
            net_energy_j=d["net_energy_j"],
            low_j=d["low_j"],
            high_j=d["high_j"],
            estimated=d["estimated"],
            co2e_g=c["co2e_g"],
            net_co2e_g=c["net_co2e_g"],
            co2e_low_g=c.get("co2e_low_g"),
            co2e_high_g=c.get("co2e_high_g"),
            intensity=intensity,
            pue=self.carbon.pue,
            idle=self._root.session.idle,
            failed=failed,
            children=tuple(self._children),
        )


def measure(name: str = "measure", **settings: Any) -> Window:
    """A measurement window: ``with wattcut.measure("train") as w: ...``, then ``w.result``.

    Also a decorator (``@wattcut.measure("predict")``: one result per call in ``.calls``) and a begin/end pair
    (``w = wattcut.measure("x").begin(); ...; w.end()``). Keyword arguments: see :class:`Window`.
    """
    return Window(name, **settings)


def _flatten(m: Measurement) -> list[Measurement]:
    return [m, *(x for c in m.children for x in _flatten(c))]


def append_emissions(result: Measurement, path: Path, project: str, carbon_cfg: CarbonConfig) -> Path:
    """Append a window's row (and its nested windows' rows) to a CodeCarbon-layout ``emissions.csv``."""
    import wattcut.measure.emissions as emissions
    from wattcut.measure.provenance import collect
    from wattcut.store.records import Phase

    windows = []
    for m in _flatten(result):
        phase = {
            "phase": "/".join(m.path),
            "duration_s": m.duration_s,
            "cpu_time_s": m.cpu_time_s,
            "started_at": m.started_at,
            "energy": {c.component: {**{k: v for k, v in asdict(c).items() if k != "component"}} for c in m.components},
            "energy_j": m.energy_j,
            "energy_kwh": kwh_or_none(m.energy_j),
            "net_energy_j": m.net_energy_j,
            "low_j": m.low_j,
            "high_j": m.high_j,
            "estimated": m.estimated,
            "carbon": {
                "co2e_g": m.co2e_g,
                "co2e_low_g": m.co2e_low_g,
                "co2e_high_g": m.co2e_high_g,
                "pue": m.pue,
                **{f"intensity_{k}": v for k, v in asdict(m.intensity).items()},
            },
        }
        ended = datetime.fromtimestamp(m.started_at + m.duration_s, UTC).isoformat(timespec="seconds")
        windows.append(emissions.Window(m.path[0], 0, ended, Phase.from_dict(phase)))
    started = datetime.fromtimestamp(result.started_at, UTC).isoformat(timespec="seconds")
    cfg = {"carbon": {"country": carbon_cfg.country, "region": carbon_cfg.region}}
    table = emissions.window_rows(project, started, cfg, collect(), windows)
    return emissions.append_rows(table, path)
