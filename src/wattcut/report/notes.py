"""Sentences the reports must carry about how a study was set up: defined once, rendered by HTML and Markdown."""

from __future__ import annotations

from typing import Any


def training_data_notes(config: dict[str, Any]) -> list[str]:
    """Variants whose distillation read more training rows than the baseline's fine-tune, said plainly."""
    data = config.get("data") or {}
    base_rows = data.get("train_size")
    notes = []
    for v in config.get("variants", []):
        for step in v.get("techniques", []):
            rows = step.get("train_rows")
            if step.get("name") == "distill" and rows is not None and (base_rows is None or rows > base_rows):
                base = "the whole training split" if base_rows is None else f"{base_rows:,} rows"
                teacher = step.get("teacher", "baseline")
                notes.append(
                    f'Variant "{v["name"]}" was distilled on {rows:,} training rows (teacher: {teacher}); the '
                    f"baseline was fine-tuned on {base}. Its quality reflects that extra data as well as its "
                    "compression."
                )
    return notes
