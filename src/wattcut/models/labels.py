"""Map a dataset's labels onto an already trained classifier's ``id2label``.

A model used as it is (``[model] already_trained = true``) keeps its own head, so the
dataset's labels must be expressed as the model's class ids. The rules, in order:

1. ``[model] label_map`` (dataset label -> model label name), when given: it must cover
   every dataset label, name only labels that exist on both sides, and be one-to-one;
2. otherwise names that match case-insensitively (``positive`` = ``POSITIVE``);
3. otherwise both sides plain indices (``0, 1`` and ``0, 1`` or transformers' default
   ``LABEL_0, LABEL_1``), matched by number.

Anything else is refused with both label sets and the ``label_map`` line to write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from wattcut.errors import UserInputError

_DEFAULT_NAME = re.compile(r"^LABEL_(\d+)$")


def model_labels(id2label: Mapping[int | str, str] | None, num_labels: int) -> list[str]:
    """The model's label names in class-id order (transformers' ``LABEL_i`` where it has none)."""
    named = {int(k): str(v) for k, v in (id2label or {}).items()}
    return [named.get(i, f"LABEL_{i}") for i in range(num_labels)]


def _index(name: str) -> int | None:
    """``"3"`` or ``"LABEL_3"`` -> 3; None for a real name."""
    m = _DEFAULT_NAME.match(name)
    if m:
        return int(m.group(1))
    return int(name) if name.strip().isdigit() else None


def _suggest(data: Sequence[str], model: Sequence[str], meanings: Sequence[str]) -> str:
    """A ``label_map`` line to write: matched through the dataset's documented meanings where possible."""
    by_lower = {m.lower(): m for m in model}
    pairs = []
    for i, d in enumerate(data):
        guess = by_lower.get(meanings[i].lower()) if i < len(meanings) else None
        pairs.append(f'"{d}" = "{guess if guess is not None else model[i] if i < len(model) else "?"}"')
    return "label_map = { " + ", ".join(pairs) + " }"


def align(
    data: Sequence[str],
    model: Sequence[str],
    label_map: Mapping[str, str] | None,
    meanings: Sequence[str] = (),
) -> list[int]:
    """For each dataset label (in the dataset's order), the model's class id.

    Args:
        data: The dataset's label names, index = the dataset's class index.
        model: The model's label names, index = class id (:func:`model_labels`).
        label_map: ``[model] label_map``, if set.
        meanings: What the dataset's coded labels mean, if known (used only to suggest a mapping).

    Raises:
        UserInputError: The label counts differ, or no rule maps every label one-to-one.
    """
    shown = f"the dataset's labels are {list(data)}; the model's id2label is {dict(enumerate(model))}"
    line = _suggest(data, model, meanings)
    if len(data) != len(model):
        raise UserInputError(
            f"The model has {len(model)} labels (num_labels) but the dataset has {len(data)}: {shown}.",
            "Use the model with data of the same label set, or leave [model] already_trained out so that wattcut "
            "fine-tunes a new head for these labels.",
        )
    if label_map is not None:
        unknown_data = sorted(set(label_map) - set(data))
        unknown_model = sorted(set(label_map.values()) - set(model))
        missing = [d for d in data if d not in label_map]
        if unknown_data or unknown_model or missing:
            problems = []
            if unknown_data:
                problems.append(f"names dataset labels that do not exist ({', '.join(map(repr, unknown_data))})")
            if unknown_model:
                problems.append(f"names model labels that do not exist ({', '.join(map(repr, unknown_model))})")
            if missing:
                problems.append(f"leaves out dataset labels {missing}")
            raise UserInputError(
                f"[model] label_map {'; '.join(problems)}: {shown}.",
                f"Map every dataset label to one of the model's labels in [model], e.g. {line}",
            )
        targets = [label_map[d] for d in data]
        if len(set(targets)) != len(targets):
            raise UserInputError(
                f"[model] label_map maps two dataset labels to the same model label: {shown}.",
                f"Map each dataset label to a different model label, e.g. {line}",
            )
        return [model.index(t) for t in targets]
    lower = [m.lower() for m in model]
    if len(set(lower)) == len(lower) and all(d.lower() in lower for d in data):
        return [lower.index(d.lower()) for d in data]
    d_idx, m_idx = [_index(d) for d in data], [_index(m) for m in model]
    if None not in d_idx and None not in m_idx and set(d_idx) == set(m_idx):
        return [m_idx.index(i) for i in d_idx]
    raise UserInputError(
        f"The dataset's labels do not match the model's by name or by index: {shown}.",
        f"Say which is which in [model], e.g. {line}",
    )
