"""A small generic registry for plug-ins (techniques, meters, datasets).

Modeled on lm-evaluation-harness's registry: register by decorator, look up by name,
and an unknown name fails with a "did you mean" hint and the list of what exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from wattcut.errors import UserInputError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → plug-in mapping with helpful errors.

    Example:
        >>> techniques: Registry[int] = Registry("technique", "variants[].techniques[].name")
        >>> techniques.add("x", 1)
        >>> techniques.get("x")
        1
    """

    def __init__(self, kind: str, setting: str) -> None:
        self.kind = kind
        self.setting = setting  # where users type these names, quoted in errors
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> None:
        """Register ``item`` under ``name``; a duplicate name is a programming error."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            self.add(name, item)
            return item

        return deco

    def get(self, name: str) -> T:
        """Look ``name`` up, or raise a :class:`UserInputError` with suggestions."""
        try:
            return self._items[name]
        except KeyError:
            names = sorted(self._items)
            raise UserInputError(
                f'Unknown {self.kind} "{name}" in {self.setting}.{did_you_mean(name, names)}',
                f"Use one of: {', '.join(names)}.",
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
