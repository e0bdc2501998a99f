"""Meters for tests: replay recorded readings instead of reading hardware."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wattcut.measure.base import ComponentEnergy


class ReplayMeter:
    """Returns the recorded joules one window at a time, in order.

    Each ``end`` consumes the next reading, so a test knows exactly which energy each
    phase window must report.
    """

    def __init__(self, component: str, joules: Iterable[float], estimated: bool = False) -> None:
        self.component = component
        self._joules = list(joules)
        self.estimated = estimated
        self.windows = 0

    def begin(self) -> Any:
        return None

    def end(self, start: Any) -> ComponentEnergy:
        value = self._joules[self.windows]
        self.windows += 1
        return ComponentEnergy(self.component, value, "replay", self.estimated, "recorded reading (test)")
