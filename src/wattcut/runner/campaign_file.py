"""A campaign file: its head, its axes, and the studies it stands for, checked before anything starts."""

from __future__ import annotations

import copy
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError

NODE_RESOURCE = "wattcut_node"


AXES = (("models", "model"), ("datasets", "data"), ("variant_sets", "variants"), ("machines", "resources"))


@dataclass(frozen=True)
class StudySpec:
    """One study of the grid: its id, the axis labels, its experiment document and the resources it needs."""

    study_id: str
    labels: dict[str, str]
    doc: dict[str, Any]
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Campaign:
    """A parsed campaign file."""

    name: str
    path: Path
    studies: tuple[StudySpec, ...]
    retries: int = 2
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form, stored with the campaign."""
        return {
            "name": self.name,
            "path": str(self.path),
            "retries": self.retries,
            "studies": [s.study_id for s in self.studies],
            "version": self.version,
        }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


# The campaign name is a folder name (runs/<name>) and part of every study id: no path separators, no "..".
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


MAX_LABEL = 40


HEAD = {"name": str, "experiment": str, "retries": int, "quick": bool}


AXIS_TYPES = {"model": (dict, "a table"), "data": (dict, "a table"), "variants": (list, "a list of tables")}


AXIS_TYPES["resources"] = (dict, "a table of resource names and amounts")


def _keys(table: dict[str, Any], allowed: list[str], where: str) -> None:
    from wattcut.errors import did_you_mean

    for key in table:
        if key not in allowed:
            raise UserInputError(
                f'Unknown key "{key}" in {where}.{did_you_mean(key, allowed)}',
                f"Keys allowed there: {', '.join(allowed)}.",
            )


def _head(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """The [campaign] table, every key checked by name and type."""
    head = doc.get("campaign")
    if not isinstance(head, dict) or "name" not in head or "experiment" not in head:
        raise UserInputError(
            f'"{path}" needs a [campaign] table with name and experiment (the base study file).',
            'Add [campaign] name = "..." and experiment = "study.toml".',
        )
    _keys(head, list(HEAD), "[campaign]")
    for key, kind in HEAD.items():
        value = head.get(key)
        if key in head and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            word = {str: "a string", int: "a whole number", bool: "true or false"}[kind]
            raise UserInputError(f"[campaign] {key} = {value!r} is not valid: it must be {word}.", "Correct it.")
    if not NAME.fullmatch(head["name"]) or ".." in head["name"]:
        raise UserInputError(
            f"[campaign] name = {head['name']!r} is not valid: it names the output folder (runs/<name>) and every "
            "study, so it must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            'Rename it, e.g. name = "minilm-grid".',
        )
    if not 0 <= head.get("retries", 2) <= 10:
        raise UserInputError(f"[campaign] retries = {head['retries']} must be between 0 and 10.", "Correct it.")
    return head


def _axis(doc: dict[str, Any], axis: str, key: str) -> list[dict[str, Any]]:
    """One axis's entries (a list of tables with distinct labels), each key checked by name and type."""
    entries = doc.get(axis, [{"label": "base"}])
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise UserInputError(
            f"{axis} must be a list of tables, each written [[{axis}]] with a label; got {entries!r}.",
            f'Write [[{axis}]] (double brackets) then label = "..." and {key} = ... under it.',
        )
    labels = []
    for n, entry in enumerate(entries, 1):
        where = f"[[{axis}]] entry {n}"
        _keys(entry, ["label", key], where)
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise UserInputError(
                f"{where} needs a label: a non-empty string of at most {MAX_LABEL} characters (got {label!r}).",
                f'Add label = "..." to each [[{axis}]].',
            )
        if key in entry:
            kind, word = AXIS_TYPES[key]
            value = entry[key]
            if not isinstance(value, kind) or (kind is list and not all(isinstance(v, dict) for v in value)):
                raise UserInputError(
                    f"{where} ({label}) {key} = {value!r} is not valid: it must be {word}.", "Correct it."
                )
            if key == "resources":
                for name, amount in value.items():
                    ok = isinstance(amount, int | float) and not isinstance(amount, bool)
                    if not ok or not math.isfinite(amount) or amount <= 0:
                        raise UserInputError(
                            f"{where} ({label}) resources {name} = {amount!r} is not valid: a Ray resource amount is "
                            "a finite number above 0.",
                            "Correct it, e.g. resources = { avx512 = 1 }.",
                        )
        labels.append(label)
    if len(set(labels)) != len(labels):
        raise UserInputError(f"Every [[{axis}]] entry needs a distinct label; got {labels}.", "Rename the repeats.")
    return entries


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file; every study of its grid is parsed as an experiment.

    The file is checked as strictly as an experiment file: unknown keys get a did-you-mean,
    every value's type is checked, and two studies may not map to the same study id.
    """
    from wattcut import settings as cfgmod
    from wattcut.experiment import parse_experiment

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f'The campaign file "{path}" does not exist.', "Check the path.")
    doc = _read_toml(path, "The campaign file")
    head = _head(doc, path)
    unknown = set(doc) - {"campaign", *(a for a, _ in AXES)}
    if unknown:
        from wattcut.errors import did_you_mean

        first = sorted(unknown)[0]
        raise UserInputError(
            f'"{path}" has unknown tables {sorted(unknown)}.{did_you_mean(first, [a for a, _ in AXES])}',
            f"Use [campaign] and [[{']], [['.join(a for a, _ in AXES)}]].",
        )
    base_path = (path.parent / head["experiment"]).resolve()
    if not base_path.is_file():
        raise UserInputError(f'[campaign] experiment = "{head["experiment"]}" does not exist.', "Fix the path.")
    from wattcut.experiment import anchor_paths

    base = anchor_paths(_read_toml(base_path, "The base experiment"), base_path.parent)
    for table in ("study", "model", "data"):
        if not isinstance(base.get(table, {}), dict):
            raise UserInputError(f'"{base_path}": [{table}] must be a table.', "Correct the base experiment.")
    retries = head.get("retries", 2)
    axes = [[(axis, key, anchor_paths(entry, path.parent)) for entry in _axis(doc, axis, key)] for axis, key in AXES]
    studies: list[StudySpec] = []
    ids: dict[str, dict[str, str]] = {}
    for combo in itertools.product(*axes):
        study = copy.deepcopy(base)
        labels: dict[str, str] = {axis: entry["label"] for axis, _, entry in combo}
        resources: dict[str, float] = {}
        for _, key, entry in combo:
            if key not in entry:
                continue
            if key == "model":
                study["model"] = entry["model"]
            elif key == "data":
                study["data"] = {**study.get("data", {}), **entry["data"]}
            elif key == "variants":
                study["variants"] = entry["variants"]
            else:
                resources = {str(k): float(v) for k, v in entry["resources"].items()}
        study_id = _slug("-".join([head["name"], *labels.values()]))
        if study_id in ids:  # "a b" and "a-b" both become a-b: one study would overwrite the other
            raise UserInputError(
                f"Two studies of the campaign get the same id {study_id!r}: labels {ids[study_id]} and {labels} "
                "differ only in characters that ids cannot hold.",
                "Give labels that differ in letters, digits, '.', '_' or '-'.",
            )
        ids[study_id] = labels
        study.setdefault("study", {})["name"] = study_id
        where = f"{path} (study {study_id})"
        cfg = parse_experiment(study, where)  # bad input in any study stops the campaign before it starts
        if head.get("quick", False):
            cfg = cfgmod.quick(cfg)
        studies.append(StudySpec(study_id, labels, _to_doc(cfg), resources))
    return Campaign(head["name"], path, tuple(studies), retries)


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f'{what} "{path}" is not valid TOML: {e}.', "Fix the syntax.") from None


def _to_doc(cfg: Any) -> dict[str, Any]:
    """A StudyConfig as an experiment document again (the resolved form every node parses)."""
    from wattcut.settings import to_toml

    return tomllib.loads(to_toml(cfg))
