"""A meter for a component that is absent: it measures nothing and says why."""

from __future__ import annotations

from typing import Any

from wattcut.measure.base import ComponentEnergy


class NullMeter:
    """Reports ``energy_j=None`` with the reason, so a missing number is never a zero."""

    name = "none"

    def __init__(self, component: str, reason: str) -> None:
        self.components: tuple[str, ...] = (component,)
        self.reason = reason

    def begin(self) -> Any:
        """Nothing to snapshot."""
        return None

    def end(self, start: Any) -> list[ComponentEnergy]:
        """A reading with no energy and the reason."""
        return [ComponentEnergy(self.components[0], None, "none", False, self.reason)]

    def close(self) -> None:
        """Nothing to release."""
