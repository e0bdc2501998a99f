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

    name = "replay"

    def __init__(self, component: str, joules: Iterable[float], estimated: bool = False) -> None:
        self.components = (component,)
        self._joules = list(joules)
        self.estimated = estimated
        self.windows = 0

    def begin(self) -> Any:
        return None

    def end(self, start: Any) -> list[ComponentEnergy]:
        value = self._joules[self.windows]
        self.windows += 1
        return [ComponentEnergy(self.components[0], value, "replay", self.estimated, "recorded reading (test)")]

    def close(self) -> None:
        pass
