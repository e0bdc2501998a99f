"""Build frozen config dataclasses from plain mappings (TOML tables) with clear errors.

Every config in wattcut is a frozen dataclass; this module turns a user's table into
one, checking unknown keys ("did you mean"), missing keys and value types, and naming
the exact setting (``[train] learning_rate``) in every message.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from wattcut.errors import UserInputError, did_you_mean

C = TypeVar("C")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        return isinstance(value, list | tuple)
    if origin is dict:
        key_t, value_t = typing.get_args(hint)
        return isinstance(value, Mapping) and all(_type_ok(k, key_t) and _type_ok(v, value_t) for k, v in value.items())
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _nonfinite(value: Any) -> float | None:
    """The first NaN or infinity anywhere in ``value`` (TOML has ``nan`` and ``inf``), else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return next((v for v in map(_nonfinite, value) if v is not None), None)
    return None


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "absent"
    if origin is tuple:
        return "a list"
    if origin is dict:
        key_t, value_t = typing.get_args(hint)
        return f"a table of {_describe(key_t)} keys and {_describe(value_t)} values"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass type a field holds (``DataConfig`` or ``DataConfig | None``), if any."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return next((h for h in options if isinstance(h, type) and dataclasses.is_dataclass(h)), None)


def build(cls: type[C], table: Mapping[str, Any], where: str, fixed: Mapping[str, Any] = {}) -> C:  # noqa: B006
    """Create ``cls`` from ``table``, validating keys and types.

    Args:
        cls: A dataclass type.
        table: The user's mapping (one TOML table).
        where: How the user names this table, e.g. ``"[train]"``, used in messages.
        fixed: Extra keyword arguments set by wattcut, not by the user.

    Raises:
        UserInputError: On an unknown key, a missing required key, or a wrong type.
    """
    if not isinstance(table, Mapping):
        raise UserInputError(f"{where} must be a table of settings, got {table!r}.", "See examples/default.toml.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in fixed}  # type: ignore[arg-type]
    settable = [n for n in fields if n != "version"]
    for key in table:
        if key not in fields:
            raise UserInputError(
                f'Unknown setting "{key}" in {where}.{did_you_mean(key, settable)}',
                f"Settings allowed there: {', '.join(settable)}.",
            )
    kwargs: dict[str, Any] = dict(fixed)
    for name, field in fields.items():
        if name not in table:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise UserInputError(f'{where} is missing the required setting "{name}".', f"Add {name} = ... there.")
            continue
        value = table[name]
        bad = _nonfinite(value)
        if bad is not None:  # NaN passes every comparison (nan < 0 is false), so refuse it before any range check
            raise UserInputError(
                f"{where} {name} = {value!r} is not valid: every number must be finite, not {bad}.",
                "Write a finite number.",
            )
        nested = _dataclass_in(hints[name])
        if nested is not None and isinstance(value, Mapping):  # a sub-table, e.g. a task's data
            kwargs[name] = build(nested, value, f"{where} {name}")
            continue
        if not _type_ok(value, hints[name]):
            raise UserInputError(
                f"{where} {name} = {value!r} is not valid: it must be {_describe(hints[name])}.",
                "Correct the value in the experiment file.",
            )
        kwargs[name] = tuple(value) if isinstance(value, list) else dict(value) if isinstance(value, Mapping) else value
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Turn a (nested) config dataclass into plain JSON/TOML-friendly values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
