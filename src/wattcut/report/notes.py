"""Sentences the reports must carry about how a study was set up: defined once, rendered by HTML and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wattcut.store.records import Trial


def start_label(variant: dict[str, Any]) -> str | None:
    """What a variant that starts from its own pretrained model starts from (None: from the baseline)."""
    from pathlib import Path

    model = variant.get("model")
    if not model:
        return None
    where = model.get("name_or_path") or f"package {model.get('package')}"
    how = "used as given" if model.get("already_trained") else "fine-tuned"
    return f"{Path(str(where)).name or where} ({how}, its own pretrained model)"


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
    if (config.get("model") or {}).get("name_or_path") == "mobilenet_v2":
        notes.append(
            "Vision model: seed 004 compresses ResNet-50 (25.6 M parameters). No package registry serves "
            "ResNet-50's ImageNet weights offline, so MobileNetV2 (3.5 M, torchvision's ImageNet weights) stands "
            "in for it here; a user online can name another architecture. Its compute is mostly depthwise and 1x1 "
            "convolutions, so its savings from pruning and INT8 differ from a ResNet's dense 3x3 convolutions."
        )
    own = [v for v in config.get("variants", []) if v.get("model")]
    if own:
        notes.append(
            "Compact models: "
            + ", ".join(f"{v['name']} starts from {start_label(v)}" for v in own)
            + ". Each is fine-tuned with the baseline's [train] settings on the same training items, in its own "
            "train window (charged to it in the payback: the baseline's own fine-tuning is not), and is evaluated "
            "on the same items and served the same requests, so the paired tests compare it with the baseline as "
            "they do a compressed variant."
        )
    reused = sorted({t.variant for t in trials if t.build is not None and t.build.reused})
    if reused:
        notes.append(
            "Built once per study and reused by every trial (the build does not depend on the trial's seed, and "
            f"the baseline is not re-trained per trial): {', '.join(reused)}. Their compression energy is stated "
            "once, in the trial that built them; evaluation and inference are measured in every trial."
        )
    return notes


def prediction_notes(prediction: dict[str, Any] | None) -> list[str]:
    """Predicted vs actual wall time and energy, when a prediction was made before the run (``--dry-run``)."""
    if not prediction:
        return []
    before, after = prediction["predicted"], prediction.get("actual")

    def minutes(s: float) -> str:
        return f"{s / 60:.1f} min"

    said = (
        f"Predicted before the run ({before['basis']}: {before['basis_detail']}): "
        f"{minutes(before['wall_low_s'])}-{minutes(before['wall_high_s'])} of wall time"
    )
    if before.get("energy_low_j") is not None:
        said += f", {before['energy_low_j'] / 1000:.2f}-{before['energy_high_j'] / 1000:.2f} kJ of metered energy"
    if after is None:
        return [said + "; the study is not finished, so there is no actual to compare."]
    verdict = (
        "inside the predicted range"
        if after["wall_inside"]
        else f"outside the predicted range by {100 * abs(after['wall_miss_rel']):.0f}%"
    )
    energy = (
        ""
        if after.get("energy_inside") is None
        else (
            f"; energy {after['energy_j'] / 1000:.2f} kJ, "
            + ("inside" if after["energy_inside"] else "outside")
            + " its range"
        )
    )
    return [f"{said}. Actual: {minutes(after['wall_s'])} until the last trial, {verdict}{energy}."]
