"""``wattcut compare``: two studies side by side (e.g. the same study on two machines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from wattcut.errors import UserInputError
from wattcut.store.records import Results

COST_METRICS = (
    ("energy_per_request_j", "mJ / request", ".2f", 1000.0),
    ("latency_p50_ms", "p50 ms", ".2f", 1.0),
)


def _metrics(results: Results) -> tuple[tuple[str, str, str, float], ...]:
    """The study's primary quality metric (from its records' spec), then energy and latency."""
    from wattcut.metric import MetricSpec

    spec = MetricSpec.from_dict(results.statistics.get("metric_spec"))
    return ((spec.key, spec.label, spec.format, 1.0), *COST_METRICS)


def _load(store: str) -> Results:
    from wattcut.report.build import build_results
    from wattcut.store import Store

    s = Store.open_study(store)
    try:
        if not s.trials_count():
            raise UserInputError(
                f'The study in "{store}" has no finished trial yet, so there is nothing to compare.',
                "Compare it once `wattcut run` has stored at least one trial there.",
            )
        return build_results(s)
    finally:
        s.close()


def _values(results: Results, variant: str, metric: str) -> list[float]:
    from wattcut.metric import MetricSpec
    from wattcut.stats.decide import metric_functions

    extract = metric_functions(MetricSpec.from_dict(results.statistics.get("metric_spec")))[metric]
    return [v for t in results.of(variant) if (v := extract(t)) is not None]


def comparison(a: Results, b: Results) -> dict[str, Any]:
    """Per shared variant and metric: both means, the ratio B/A and a Welch test (independent studies)."""
    from wattcut.stats.summary import describe, welch

    names_a = [r["variant"] for r in a.summary]
    shared = [n for n in names_a if n in {r["variant"] for r in b.summary}]
    rows = []
    metrics = _metrics(a)
    if metrics[0][0] != _metrics(b)[0][0]:
        raise UserInputError(
            f"The two studies score different quality metrics ({metrics[0][0]} vs {_metrics(b)[0][0]}).",
            "Compare studies of the same task.",
        )
    for name in shared:
        for metric, *_ in metrics:
            xa, xb = _values(a, name, metric), _values(b, name, metric)
            da, db = describe(xa), describe(xb)
            ratio = db["mean"] / da["mean"] if da["mean"] and db["mean"] is not None else None
            rows.append(
                {"variant": name, "metric": metric, "a": da, "b": db, "ratio_b_over_a": ratio, "test": welch(xa, xb)}
            )

    def machine(r: Results) -> str:
        cpu = r.provenance["cpu"]
        return f"{cpu['model']}, {cpu['cores_available']} cores, GPU: {', '.join(r.provenance['gpus']) or 'none'}"

    return {
        "a": {
            "study": a.study,
            "started_at": a.started_at,
            "machine": machine(a),
            "recommendation": (a.statistics.get("recommendation") or {}).get("variant"),
        },
        "b": {
            "study": b.study,
            "started_at": b.started_at,
            "machine": machine(b),
            "recommendation": (b.statistics.get("recommendation") or {}).get("variant"),
        },
        "only_in_a": [n for n in names_a if n not in shared],
        "only_in_b": [r["variant"] for r in b.summary if r["variant"] not in shared],
        "metrics": [m[:2] for m in metrics],
        "rows": rows,
    }


def compare(
    store_a: Annotated[str, typer.Argument(help="an output folder or its wattcut.sqlite")],
    store_b: Annotated[str, typer.Argument(help="another output folder or store")],
    out: Annotated[str | None, typer.Option(help="also write compare.json into this folder")] = None,
) -> None:
    """Print the comparison table; with ``out``, also write compare.json there."""
    from rich.table import Table
    from rich.text import Text

    from wattcut.ui import console
    from wattcut.ui import out as stdout

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UserInputError(
            f'--out "{out}" is an existing file; it names the folder that compare.json goes into.',
            "Give a folder (it is created if missing), e.g. --out runs/compare.",
        )
    a, b = _load(store_a), _load(store_b)
    cmp = comparison(a, b)
    for side in ("a", "b"):
        s = cmp[side]
        console.print(
            f"{side.upper()}: {s['study']} ({s['started_at']}) on {s['machine']}; recommends {s['recommendation']}",
            markup=False,
            soft_wrap=True,
        )
    table = Table(title="B vs A (means over trials; Welch t-test, the studies are independent)")
    for col in ("variant", "metric", "A", "B", "B / A", "p"):
        table.add_column(col, justify="left" if col in ("variant", "metric") else "right")
    fmt = {m: (label, f, scale) for m, label, f, scale in _metrics(a)}

    def cell(d: dict[str, Any], f: str, scale: float) -> str:
        return "n/a" if d["mean"] is None else format(d["mean"] * scale, f)

    for r in cmp["rows"]:
        label, f, scale = fmt[r["metric"]]
        p = r["test"]["p_value"]
        table.add_row(
            Text(r["variant"]),  # plain text, never markup
            Text(label),
            cell(r["a"], f, scale),
            cell(r["b"], f, scale),
            "n/a" if r["ratio_b_over_a"] is None else f"{r['ratio_b_over_a']:.3f}",
            "n/a" if p is None else f"{p:.3g}",
        )
    stdout.print(table)
    if cmp["only_in_a"] or cmp["only_in_b"]:
        console.print(f"not in both: A only {cmp['only_in_a']}, B only {cmp['only_in_b']}", markup=False)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        path = Path(out) / "compare.json"
        path.write_text(json.dumps(cmp, indent=2, allow_nan=False), encoding="utf-8")
        console.print(f"wrote {path}")
