"""``wattcut gate REFERENCE``: a CI check that fails when a change makes inference measurably worse.

Exit 0: not worse (quality non-inferior, energy per request not shown higher than the margin); 1: a proven
regression (or a candidate that does not run); 3: inconclusive within the round budget (the summary says about
how many more rounds would likely decide); 2: bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wattcut.cli.flags import COUNT, number


def gate(
    reference: Annotated[str, typer.Argument(help="the reference study: its output folder or its results.json")],
    variant: Annotated[str | None, typer.Option(help="candidate: a variant of the reference study, by name")] = None,
    model: Annotated[str | None, typer.Option(help="candidate: a model folder, used as it is")] = None,
    threads: Annotated[int | None, typer.Option(parser=COUNT, help="serve the candidate with N threads")] = None,
    energy_margin: Annotated[
        float, typer.Option(parser=number(0, 10), help="relative energy increase tolerated (0.1 = 10%)")
    ] = 0.10,
    quality_margin: Annotated[
        float | None, typer.Option(parser=number(0, 1e6), help="quality margin (default: the reference study's)")
    ] = None,
    min_rounds: Annotated[int, typer.Option(parser=COUNT, help="paired rounds before deciding")] = 6,
    max_rounds: Annotated[int, typer.Option(parser=COUNT, help="the round budget")] = 30,
    rounds_per_trial: Annotated[int, typer.Option(parser=COUNT, help="paired rounds per trial")] = 6,
    task: Annotated[str | None, typer.Option(help="refuse a reference scored on another task")] = None,
    metric: Annotated[str | None, typer.Option(help="refuse a reference decided on another metric")] = None,
    out: Annotated[str, typer.Option(help="folder for the gate's own study and gate.md")] = "runs/gate",
    summary: Annotated[str | None, typer.Option(help="also write the PR summary here")] = None,
) -> int:
    """Measure a candidate against the reference study's model in paired rounds until the evidence decides."""
    import json

    from wattcut.api import load_study
    from wattcut.errors import UserInputError
    from wattcut.report.gate import summary_markdown
    from wattcut.runner.gate import (
        GateConfig,
        candidate_variant,
        gate_study,
        reference_config,
        run_gate,
    )
    from wattcut.ui import console, escape
    from wattcut.ui import out as stdout

    cfg_gate = GateConfig(
        energy_margin=energy_margin, quality_margin=quality_margin, min_rounds=min_rounds, max_rounds=max_rounds,
        rounds_per_trial=min(rounds_per_trial, max_rounds), task=task, metric=metric,
    )  # fmt: skip
    ref = load_study(reference)
    base = reference_config(ref, cfg_gate)
    cand = candidate_variant(base, variant, model, threads)
    out_dir = Path(out)
    from wattcut.store import STORE_NAME

    if (out_dir / STORE_NAME).exists():  # a gate measures afresh: an earlier gate's rounds are not this candidate's
        raise UserInputError(
            f'"{out_dir}" already holds a study (an earlier gate?): the gate measures both models afresh.',
            "Give a new --out, or remove that folder.",
        )
    study = gate_study(base, cand, cfg_gate, out_dir)
    decision, results = run_gate(study, cfg_gate, out_dir)
    what = (
        f'variant "{variant}" of {ref.study}' if variant else f"model {model}" if model else "an unchanged copy"
    ) + (f", {threads} thread(s)" if threads else "")
    text = summary_markdown(decision, results, f"{ref.study} ({base.model.describe()})", what)
    (out_dir / "gate.md").write_text(text, encoding="utf-8")
    (out_dir / "gate.json").write_text(json.dumps(decision.to_dict(), indent=2), encoding="utf-8")
    if summary:
        Path(summary).write_text(text, encoding="utf-8")
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {escape(str(out_dir / 'gate.md'))} (exit {decision.exit_code})")
    return decision.exit_code
