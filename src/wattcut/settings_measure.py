"""Settings tables for measuring and pricing: meters, carbon, deployment, the cost profile.

Re-exported by :mod:`wattcut.settings`, where the study config that holds them lives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from wattcut.errors import UserInputError


def positive(where: str, name: str, value: float | None, allow_zero: bool = False) -> None:
    """Refuse a negative (or zero, unless ``allow_zero``) setting with a clear message."""
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "zero or more" if allow_zero else "more than zero"
        raise UserInputError(f"{where} {name} = {value} is not valid: it must be {need}.", "Correct it.")


@dataclass(frozen=True)
class MeasureConfig:
    """Energy measurement settings.

    Meters are chosen by availability (RAPL, then a CPU-time model for the CPU; RAPL DRAM,
    then a RAM model; NVML for NVIDIA GPUs). Models are always labelled ``estimated``, with
    their assumed constants in each reading's ``source``.

    Attributes:
        cpu_w_per_core: Active watts per busy logical core for the CPU-time model; None =
            from the CPU power table on bare metal, else a generic 4 W.
        ram_model: ``rss`` (this process's memory x ram_w_per_gb), ``dimm`` (CodeCarbon v3
            DIMM rule, whole machine) or ``seed003`` (dimm x 7).
        ram_w_per_gb: Watts per GB for the ``rss`` model.
        interval_s: Sampling period of the background thread of meters that need one.
        idle_s: Seconds of idle baseline measured before the first trial (0 = none); net
            energy = gross - idle power x duration.
        crosscheck: ``codecarbon`` runs CodeCarbon's offline tracker over the same windows and
            stores its figures beside wattcut's (``none``: off).
        roofline: Probe this machine's peak GEMM rates and memory bandwidth (once per machine,
            cached; ~15 s) and report each variant's "% of roofline".
    """

    cpu_w_per_core: float | None = None
    ram_model: Literal["rss", "dimm", "seed003"] = "rss"
    ram_w_per_gb: float = 0.375
    interval_s: float = 1.0
    idle_s: float = 5.0
    crosscheck: Literal["none", "codecarbon"] = "none"
    roofline: bool = True
    version: int = 3

    def __post_init__(self) -> None:
        if self.crosscheck not in ("none", "codecarbon"):
            raise UserInputError(
                f'[measure] crosscheck = "{self.crosscheck}" is unknown.', 'Use "codecarbon" or leave it out.'
            )
        positive("[measure]", "cpu_w_per_core", self.cpu_w_per_core)
        positive("[measure]", "ram_w_per_gb", self.ram_w_per_gb, allow_zero=True)
        positive("[measure]", "interval_s", self.interval_s)
        positive("[measure]", "idle_s", self.idle_s, allow_zero=True)


@dataclass(frozen=True)
class CarbonConfig:
    """How energy becomes CO2e (see ``wattcut.measure.carbon``).

    Precedence: ``intensity_g_per_kwh`` > ``timeseries_csv`` > ``country`` (+ ``region``)
    > the world average, labelled as such. No network is used.
    """

    country: str | None = None  # ISO 3166 alpha-3 code ("FRA") or English name
    region: str | None = None  # sub-national region, e.g. a US state code ("CA")
    dataset: str | None = None  # table in the data pack; None = the pack's default (owid)
    intensity_g_per_kwh: float | None = None
    timeseries_csv: str | None = None  # columns timestamp,g_per_kwh
    max_gap_h: float = 3.0  # a series step longer than this (inside or after the series) is a gap
    gap_fill: Literal["refuse", "previous"] = "refuse"  # refuse gaps, or hold the previous value (stated)
    pue: float = 1.0
    embodied_kg_co2e: float | None = None  # manufacturing emissions of the machine
    lifetime_years: float = 4.0
    use_share: float = 1.0  # share of the machine this workload uses
    version: int = 2

    def __post_init__(self) -> None:
        if self.pue < 1.0:
            raise UserInputError(f"[carbon] pue = {self.pue} is below 1.0, which is impossible.", "Use 1.0 or more.")
        positive("[carbon]", "intensity_g_per_kwh", self.intensity_g_per_kwh, allow_zero=True)
        positive("[carbon]", "lifetime_years", self.lifetime_years)
        positive("[carbon]", "max_gap_h", self.max_gap_h)
        if not 0 < self.use_share <= 1:
            raise UserInputError(f"[carbon] use_share = {self.use_share} must be in (0, 1].", "Correct it.")
        if self.region is not None and self.country is None:
            raise UserInputError("[carbon] region is set without country.", 'Add country = "USA" (for example).')
        if self.country is not None:
            from wattcut.grids import country_intensity

            country_intensity(self.country, self.region, self.dataset)  # unknown names fail now, not mid-study


SEED003_GRIDS = (
    "electricitymaps-2024:BEL",
    "electricitymaps-2024:DEU",
    "electricitymaps-2024:FRA",
    "electricitymaps-2024:NLD",
    "WORLD",
)


@dataclass(frozen=True)
class DeployConfig:
    """The deployment that payback and yearly savings are priced for.

    Attributes:
        requests_per_day: Expected inference requests per day; an assumption the report
            states next to every figure derived from it (set it to your traffic).
        grids: Grids for deployment CO2e: ``WORLD``, a country (``DEU``),
            ``dataset:COUNTRY`` (``electricitymaps-2024:DEU``) or ``COUNTRY/REGION``
            (``USA/CA``). Default: seed study 003's four countries plus the world average.
    """

    requests_per_day: float = 100_000.0
    grids: tuple[str, ...] = SEED003_GRIDS
    version: int = 1

    def __post_init__(self) -> None:
        positive("[deploy]", "requests_per_day", self.requests_per_day)
        from wattcut.grids import grid

        for spec in self.grids:
            grid(spec)  # an unknown grid fails when the file is read, not after the study


@dataclass(frozen=True)
class CostConfig:
    """The measured cost profile (``compress/cost.py``): what each head, FFN neuron and layer costs here.

    ``profile = true`` measures it at the first trial (cached by content under
    ``$WATTCUT_CACHE/profiles``) and records every PyTorch variant's predicted energy per
    request beside the measured one. Techniques with an energy budget measure it anyway.
    """

    profile: bool = False
    batch_sizes: tuple[int, ...] = (1, 32)
    requests: int = 64
    rounds: int = 3
    version: int = 1

    def __post_init__(self) -> None:
        positive("[cost]", "requests", self.requests)
        positive("[cost]", "rounds", self.rounds)
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise UserInputError(
                f"[cost] batch_sizes = {list(self.batch_sizes)} must be a non-empty list of positive integers.",
                "Write batch_sizes = [1, 32].",
            )


@dataclass(frozen=True)
class ExplainConfig:
    """SHAP attributions per variant, to show whether compression changed the reasons for a prediction.

    On ``samples`` evaluation items (a seeded sample, the same for every variant and trial), each
    variant's SHAP values for the item's gold class are computed in its own metered ``explain``
    window (never counted as inference), over tokens for text and over a ``grid`` x ``grid`` of
    image cells for images (SHAP's Partition explainer, ``max_evals`` model calls per item).
    The report gives, per variant, the rank correlation of its attributions with the baseline's
    and the overlap of their ``top_k`` features, with 95% CIs over items. ``samples = 0``: off.
    """

    samples: int = 0
    top_k: int = 5
    max_evals: int = 300
    grid: int = 8
    version: int = 1

    def __post_init__(self) -> None:
        positive("[explain]", "samples", self.samples, allow_zero=True)
        positive("[explain]", "top_k", self.top_k)
        positive("[explain]", "max_evals", self.max_evals)
        positive("[explain]", "grid", self.grid)
        if self.samples and self.max_evals < 2 * self.top_k:
            raise UserInputError(
                f"[explain] max_evals = {self.max_evals} is too few model calls to rank {self.top_k} features.",
                "Use max_evals = 300 or more (SHAP's Partition explainer needs about 2 per feature at least).",
            )
