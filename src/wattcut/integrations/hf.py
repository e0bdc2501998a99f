"""A Hugging Face ``TrainerCallback`` that meters training per epoch, evaluation and checkpoints separately.

    from wattcut.integrations.hf import WattcutCallback

    callback = WattcutCallback(country="FRA")
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val, callbacks=[callback])
    trainer.train()
    callback.phases                 # one typed row per epoch of training, per evaluation, per checkpoint save
    callback.co2_eq_emissions()     # the model card's co2_eq_emissions block

How the windows are cut: a training window opens at each epoch's start and closes at its end; when the Trainer
is about to evaluate (its ``control.should_evaluate``, set by the flow callback at a step's or an epoch's end), the
epoch's window pauses and an evaluation window runs until ``on_evaluate``; a checkpoint save gets its own window
the same way (``should_save`` .. ``on_save``). The epoch's energy is the sum of its training segments, so
evaluation inside an epoch is never billed as training. Everything the callback meters sits in one ``trainer``
window from ``on_train_begin`` to ``on_train_end`` (nested in any ``wattcut.measure`` window around it), so the
phases share one set of meters. At the end it writes ``wattcut_energy.md`` (the phase table) and
``co2_eq_emissions.json`` into the Trainer's ``output_dir`` (``write=False`` skips that).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from wattcut.measure.window import Measurement, Window


@dataclass(frozen=True)
class PhaseEnergy:
    """One row of the phase table.

    Attributes:
        phase: ``train`` (one epoch), ``evaluate`` or ``save``.
        epoch: The epoch (1-based) a train row covers, or the Trainer's fractional epoch when an evaluation or
            save ran.
        duration_s: Wall-clock seconds (a training epoch's segments summed).
        energy_j: Gross joules (None when no component could be measured).
        low_j: The low end of an estimated figure (None when measured by counters).
        high_j: Its high end.
        co2e_g: Grams CO2e on the configured grid.
        estimated: True when any component is a model estimate.
        methods: The method per component (``rapl``, ``cpu-time-model``...).
        segments: How many windows were summed (a training epoch split by evaluations).
    """

    phase: str
    epoch: float
    duration_s: float
    energy_j: float | None
    low_j: float | None
    high_j: float | None
    co2e_g: float | None
    estimated: bool
    methods: dict[str, str]
    segments: int = 1


def _sum(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _row(phase: str, epoch: float, parts: list[Measurement]) -> PhaseEnergy:
    # an estimate's range: a measured component counts at its own value in the low and high ends
    low = [m.low_j if m.low_j is not None else m.energy_j for m in parts]
    high = [m.high_j if m.high_j is not None else m.energy_j for m in parts]
    estimated = any(m.estimated for m in parts)
    return PhaseEnergy(
        phase=phase,
        epoch=epoch,
        duration_s=sum(m.duration_s for m in parts),
        energy_j=_sum([m.energy_j for m in parts]),
        low_j=_sum(low) if estimated else None,
        high_j=_sum(high) if estimated else None,
        co2e_g=_sum([m.co2e_g for m in parts]),
        estimated=estimated,
        methods={c.component: c.method for c in parts[0].components if c.energy_j is not None},
        segments=len(parts),
    )


class WattcutCallback(TrainerCallback):
    """Meters a ``transformers.Trainer`` run: training per epoch, evaluation and checkpoint saves separately.

    Args:
        training_type: The model card's ``training_type`` ("fine-tuning" or "pre-training").
        write: Write ``wattcut_energy.md`` and ``co2_eq_emissions.json`` into ``args.output_dir`` at train end.
        **window: Grid and meter settings for every window (``country``, ``region``, ``pue``,
            ``intensity_g_per_kwh``, ``carbon``, ``interval_s``): see :class:`wattcut.measure.window.Window`.
    """

    def __init__(self, training_type: str = "fine-tuning", write: bool = True, **window: Any) -> None:
        self.training_type = training_type
        self.write = write
        self._settings = window
        # phase windows nest in the run's window, whose emissions.csv rows already include theirs
        self._nested = {k: v for k, v in window.items() if k != "emissions_csv"}
        Window("check", **window)  # bad settings fail here, when the callback is made, not mid-training
        self.run: Measurement | None = None  # the whole train() call, once it ended
        self._outer: Window | None = None
        self._open: tuple[str, float, Window] | None = None  # (phase, epoch, window) open now
        self._epoch: int | None = None  # the epoch being trained (1-based), None outside one
        self._segments: list[Measurement] = []  # the current epoch's training windows
        self._rows: list[PhaseEnergy] = []
        self._last: Measurement | None = None  # the latest window's result (its grid, for the card block)

    # --- windows ----------------------------------------------------------------------------------------------------

    def _begin(self, phase: str, epoch: float) -> None:
        self._end()
        settings = self._settings if self._outer is None else self._nested
        self._open = (phase, epoch, Window(phase, **settings).begin())

    def _end(self) -> None:
        if self._open is None:
            return
        phase, epoch, window = self._open
        self._open = None
        result = self._last = window.end()
        if phase == "train":
            self._segments.append(result)
        else:
            self._rows.append(_row(phase, epoch, [result]))

    def _pause_for(self, control: Any, state: Any) -> None:
        """Open the window for what the Trainer does next (evaluate, or save), if anything."""
        if control.should_evaluate:
            self._begin("evaluate", float(state.epoch or 0.0))
        elif control.should_save:
            self._begin("save", float(state.epoch or 0.0))

    # --- Trainer events ---------------------------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the run's window, which every phase window nests in."""
        self._outer = Window("trainer", **self._settings).begin()

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the epoch's first training segment."""
        self._epoch = int(float(state.epoch or 0.0) + 1e-6) + 1  # epochs done so far, + 1 (resumes count on)
        self._segments = []
        self._begin("train", self._epoch)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Pause training for an evaluation or a save the Trainer will run after this step."""
        if control.should_evaluate or control.should_save:
            self._pause_for(control, state)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the epoch (the sum of its training segments) and open what comes after it."""
        self._end()
        if self._epoch is not None and self._segments:
            self._rows.append(_row("train", self._epoch, self._segments))
        self._segments = []
        self._epoch = None
        self._pause_for(control, state)

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """An evaluation that no step or epoch announced (``trainer.evaluate()`` called directly) opens here."""
        if self._open is None or self._open[0] == "train":
            self._begin("evaluate", float(state.epoch or 0.0))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the evaluation; a save may follow; training resumes if it ran mid-epoch."""
        if self._open is not None and self._open[0] == "evaluate":
            self._end()
        self._after(control, state)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the checkpoint's window; training resumes if it ran mid-epoch."""
        if self._open is not None and self._open[0] == "save":
            self._end()
        if self._epoch is not None:
            self._begin("train", self._epoch)

    def _after(self, control: Any, state: Any) -> None:
        if self._outer is None:  # an evaluation outside train(): nothing follows it
            return
        if control.should_save:
            self._begin("save", float(state.epoch or 0.0))
        elif self._epoch is not None:
            self._begin("train", self._epoch)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close every window and write the phase table and the model card block."""
        self._end()
        if self._epoch is not None and self._segments:  # training stopped mid-epoch (max_steps)
            self._rows.append(_row("train", self._epoch, self._segments))
            self._segments, self._epoch = [], None
        if self._outer is not None:
            self.run = self._outer.end()
            self._outer = None
        if self.write and args.output_dir:
            out = Path(args.output_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "wattcut_energy.md").write_text(self.table_markdown(), encoding="utf-8")
            (out / "co2_eq_emissions.json").write_text(json.dumps(self.co2_eq_emissions(), indent=2), encoding="utf-8")

    # --- results ----------------------------------------------------------------------------------------------------

    @property
    def phases(self) -> list[PhaseEnergy]:
        """The phase table's rows so far, in order."""
        return list(self._rows)

    def co2_eq_emissions(self) -> dict[str, Any]:
        """Hugging Face's ``co2_eq_emissions`` model-card metadata for the phases metered so far.

        ``emissions`` is grams CO2e (the card's unit) of every metered phase: training, evaluation and saves.
        """
        from wattcut.measure.provenance import cpu_info

        if not self._rows:
            raise RuntimeError("No phase was metered yet: call this after trainer.train() (or evaluate()).")
        grams = _sum([r.co2e_g for r in self._rows])
        some = self.run or self._last
        assert some is not None  # rows come from finished windows
        estimated = any(r.estimated for r in self._rows)
        methods = sorted({f"{k}: {v}" for r in self._rows for k, v in r.methods.items()})
        cpu = cpu_info()
        return {
            "emissions": grams,
            "source": f"wattcut (energy {'estimated' if estimated else 'measured'}: {', '.join(methods)}; grid "
            f"{some.intensity.g_per_kwh:g} gCO2e/kWh, {some.intensity.source}"
            + ("" if some.intensity.year is None else f", {some.intensity.year}")
            + f"; PUE {some.pue:g})",
            "training_type": self.training_type,
            "geographical_location": some.intensity.location,
            "hardware_used": f"{cpu['cores_available']} x {cpu['model']} (CPU cores available)",
        }

    def table_markdown(self) -> str:
        """The phase table in Markdown: one row per training epoch, evaluation and save."""
        lines = [
            "| phase | epoch | duration (s) | energy (J) | range (J) | CO2e (g) | method |",
            "|---|---:|---:|---:|---|---:|---|",
        ]
        for r in self._rows:
            energy = "n/a" if r.energy_j is None else f"{r.energy_j:.1f}"
            span = "measured" if r.low_j is None or r.high_j is None else f"{r.low_j:.1f}-{r.high_j:.1f} (estimated)"
            co2 = "n/a" if r.co2e_g is None else f"{r.co2e_g:.4f}"
            how = ", ".join(f"{k}: {v}" for k, v in r.methods.items())
            epoch = f"{int(r.epoch)}" if r.phase == "train" else f"{r.epoch:.2f}"
            lines.append(f"| {r.phase} | {epoch} | {r.duration_s:.2f} | {energy} | {span} | {co2} | {how} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The phases and the card block, as JSON."""
        return {"phases": [asdict(r) for r in self._rows], "co2_eq_emissions": self.co2_eq_emissions()}
