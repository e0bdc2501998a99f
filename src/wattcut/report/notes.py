"""Sentences the reports must carry about how a study was set up: defined once, rendered by HTML and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wattcut.store.records import Trial


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


GATE_RULE = (
    "Quality gate: pass = shown non-inferior to the baseline in the primary metric at the study's margin, by the "
    "test the recommendation uses (item-level paired where items are stored, else paired on trial means; one-sided, "
    "alpha 0.05); fail = not shown, which includes too little data to tell. Only a pass can be recommended."
)


def reference_notes(statistics: dict[str, Any] | None) -> list[str]:
    """The accuracy a model that learnt nothing gets on the same items, shown beside the baseline's."""
    r = (statistics or {}).get("reference_accuracy")
    if not r:
        return []
    note = (
        f'Reference: always answering the majority class "{r["majority_label"]}" scores '
        f"{r['majority_class_accuracy']:.3f} on these {r['n_items']} evaluation items; chance is "
        f"{r['chance_accuracy']:.3f}. The baseline scores {r['baseline_accuracy']:.3f}."
    )
    if r["degenerate"]:
        note += " It is no better than the majority class: no variant is recommended."
    return [note]


def baseline_notes(config: dict[str, Any], trials: Sequence[Trial]) -> list[str]:
    """What the baseline is when it was not fine-tuned here, and which variants were built once per study."""
    notes = []
    if (config.get("model") or {}).get("already_trained"):
        mapping = (config.get("model") or {}).get("label_map")
        how = (
            "through [model] label_map (" + ", ".join(f"{d} -> {m}" for d, m in mapping.items()) + ")"
            if mapping
            else "by name or index"
        )
        notes.append(
            "Baseline: your model as given, not fine-tuned here (no train phase); its own head and labels are kept, "
            f"and the dataset's labels were mapped onto them {how}. Trials differ only in measurement: every trial "
            "scores the same model."
        )
    reused = sorted({t.variant for t in trials if t.build is not None and t.build.reused})
    if reused:
        notes.append(
            "Built once per study and reused by every trial (the build does not depend on the trial's seed, and "
            f"the baseline is not re-trained per trial): {', '.join(reused)}. Their compression energy is stated "
            "once, in the trial that built them; evaluation and inference are measured in every trial."
        )
    return notes
