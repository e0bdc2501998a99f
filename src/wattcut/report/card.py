"""The model card's energy section: Hugging Face ``co2_eq_emissions`` metadata and a Markdown energy table.

A pure function of a study's results. The metadata describes one variant (the recommended one unless another is
named): ``emissions`` is the grams CO2e of making it, the same one-off phases the payback charges (the baseline's
fine-tune, or the variant's own training when it starts from its own model, plus its compression steps; means
over trials), priced on the study's ``[carbon]`` grid. The table has every variant's J per request, Wh per 1,000
queries (the AI Energy Score's unit), the paired 95% CI of its energy ratio to the baseline, the method of each
figure and the compression's payback.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

from wattcut.errors import UserInputError
from wattcut.measure.provenance import cpu_info
from wattcut.metric import MetricSpec
from wattcut.stats.payback import ONE_OFF_EXCLUDED, own_start
from wattcut.store.records import Results, Trial
from wattcut.units import J_PER_KWH

J_PER_WH = J_PER_KWH / 1000

MAKING = "the baseline's fine-tune and the variant's compression steps"


def _one_off_g(trials: list[Trial], with_train: bool) -> tuple[float | None, str | None]:
    """Mean grams CO2e over trials of the top-level phases that made a variant, and the grid they were priced on."""
    excluded = ONE_OFF_EXCLUDED if with_train else (*ONE_OFF_EXCLUDED, "train")
    grams, where = [], None
    for t in trials:
        phases = [p for p in t.phases if p.parent is None and p.phase not in excluded]
        values = [(p.carbon or {}).get("co2e_g") for p in phases]
        if not phases or any(v is None for v in values):
            continue
        grams.append(sum(v for v in values if v is not None))
        where = where or (phases[0].carbon or {}).get("intensity_location")
    return (fmean(grams) if grams else None), where


def co2_eq_emissions(results: Results, variant: str | None = None) -> dict[str, Any]:
    """Hugging Face's ``co2_eq_emissions`` block for ``variant`` (default: the recommended one, else the baseline).

    Raises:
        UserInputError: ``variant`` is not in the study, or no phase that made it has a CO2e figure.
    """
    name = chosen(results, variant)
    mine = results.of(name)
    baseline = results.of("baseline")
    own = any(own_start(t) for t in mine)
    grams, where = _one_off_g(mine, with_train=True)
    trained = any(p.phase == "train" for t in (mine if own or name == "baseline" else baseline) for p in t.phases)
    if name != "baseline" and not own:  # the baseline's fine-tune is part of making a variant derived from it
        base_g, base_where = _one_off_g(baseline, with_train=True)
        grams = None if grams is None or base_g is None else grams + base_g
        where = where or base_where
    if grams is None:
        raise UserInputError(
            f'No CO2e figure for the phases that made "{name}" (its energy was not measured).',
            "Run the study with a meter for at least one component (see `wattcut env`).",
        )
    prov = results.provenance
    cpu = prov.get("cpu") or cpu_info()
    methods = sorted(
        {f"{c}: {e['method']}" for t in mine for p in t.phases for c, e in p.energy.items() if e.get("energy_j")}
    )
    estimated = any(p.estimated for t in mine for p in t.phases)
    return {
        "emissions": grams,
        "source": f"wattcut {prov.get('wattcut_version', '')}".strip()
        + f" (energy {'estimated' if estimated else 'measured'}: {', '.join(methods)}; "
        + (f"own training and compression of {name}" if own else f"{MAKING}" if name != "baseline" else "fine-tune")
        + f", mean of {len(mine)} trial(s))",
        "training_type": "fine-tuning" if trained else "compression of an already trained model",
        "geographical_location": where or "unknown",
        "hardware_used": f"{cpu.get('cores_available')} x {cpu.get('model')} (CPU cores)"
        + (f", {', '.join(prov['gpus'])}" if prov.get("gpus") else ""),
    }


def chosen(results: Results, variant: str | None) -> str:
    """The variant a card describes: the one named, else the recommended one, else the baseline."""
    names = list(dict.fromkeys(t.variant for t in results.trials))
    if variant is not None:
        if variant not in names:
            from wattcut.errors import did_you_mean

            raise UserInputError(
                f'The study has no variant "{variant}".{did_you_mean(variant, names)}',
                f"Choose one of: {', '.join(names)}.",
            )
        return variant
    rec = (results.statistics.get("recommendation") or {}).get("variant")
    return rec if rec in names else "baseline"


def wh_per_1k(j_per_request: float) -> float:
    """Watt-hours per 1,000 requests (the AI Energy Score's unit) from joules per request."""
    return j_per_request * 1000 / J_PER_WH


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def energy_table(results: Results) -> list[str]:
    """Markdown rows: per variant, J/request, Wh/1,000 queries, CI vs the baseline, method, quality, payback."""
    from wattcut.stats.paired import pairs_label

    payback = (results.statistics.get("payback") or {}).get("variants") or {}
    paired = results.statistics.get("paired") or {}
    ni = results.statistics.get("non_inferiority") or {}
    spec = MetricSpec.from_dict(results.metric_spec)
    lines = [
        "| variant | J / request | Wh / 1,000 queries | range (estimate) | vs baseline (95% CI) | method | quality "
        "vs baseline | pays back after |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for name, row in payback.items():
        per_req = row.get("energy_per_request_j")
        wh_1k = None if per_req is None else wh_per_1k(per_req)
        span = row.get("energy_per_request_range_j")
        span_txt = "measured" if not span else f"{wh_per_1k(span[0]):.3g}-{wh_per_1k(span[1]):.3g} Wh"
        e = (paired.get(name) or {}).get("energy_per_request_j") or {}

        ratio = (
            "1 (reference)"
            if name == "baseline"
            else "n/a"
            if not e
            else f"{e['ratio']:.3f}x ({e['ci95_low']:.3f}-{e['ci95_high']:.3f}, {pairs_label(e)})"
        )
        how = ("estimated: " if row.get("estimated") else "measured: ") + ", ".join(row.get("methods") or [])
        q = ni.get(name) or (paired.get(name) or {}).get("quality") or {}
        quality = "" if name == "baseline" else _quality(q, spec)
        pay = "" if name == "baseline" else _payback(row)
        lines.append(
            f"| {name} | {_fmt(per_req, '.4g')} | {_fmt(wh_1k, '.4g')} | {span_txt} | {ratio} | {how} | {quality} "
            f"| {pay} |"
        )
    return lines


def _quality(q: dict[str, Any], spec: MetricSpec) -> str:
    if not q or q.get("mean_diff") is None:
        return "n/a"
    verdict = "non-inferior" if q.get("non_inferior") else "not shown non-inferior"
    d = float(q["mean_diff"])
    if q.get("scale") == "relative":
        shown = f"{100 * d:+.2f}%"
    elif spec.bounded:
        shown = f"{100 * d:+.2f} points"
    else:
        shown = f"{d:+.4g}{spec.unit and ' ' + spec.unit}"
    return f"{spec.label} {shown} ({verdict})"


def _payback(row: dict[str, Any]) -> str:
    n = row.get("break_even_requests")
    if n is None:
        return "never (no saving per request)" if row.get("saving_per_request_j") is not None else "n/a"
    days = row.get("break_even_days")
    return f"{n:,.0f} requests" + ("" if days is None else f" ({days:.3g} days)")


def card_markdown(results: Results, variant: str | None = None) -> tuple[dict[str, Any], str]:
    """The ``co2_eq_emissions`` block and the card's Markdown section (YAML front matter, then the section)."""
    import yaml

    block = co2_eq_emissions(results, variant)
    name = chosen(results, variant)
    rec = results.statistics.get("recommendation") or {}
    meta = yaml.safe_dump({"co2_eq_emissions": block}, sort_keys=False, allow_unicode=True, width=1000)
    est = any(p.estimated for t in results.of(name) for p in t.phases)
    body = [
        "---",
        meta.rstrip(),
        "---",
        "",
        "## Energy and emissions",
        "",
        f"Figures from wattcut on {block['hardware_used']}, study *{results.study}*. "
        f"Making this model ({name}) emitted **{block['emissions']:.4g} g CO2e** "
        + ("(estimated: see the method column) " if est else "(measured by hardware counters) ")
        + f"on the {block['geographical_location']} grid ({block['training_type']}).",
        "",
    ]
    if rec.get("reason"):
        body += [f"**Recommended:** {rec['reason']}", ""]
    body += energy_table(results)
    body += [
        "",
        "J / request and Wh / 1,000 queries: inference energy at the study's batch size, gross, mean over trials; "
        "the CI is the paired per-round ratio to the baseline; quality is the item-level paired non-inferiority "
        "test at the study's margin; payback: requests after which the compression's one-off energy is repaid by "
        "its saving per request.",
    ]
    if est:
        body.append(
            "Energy figures are **estimated** (no hardware counters on this machine): each method names its model, "
            "and the range column gives the model's published range."
        )
    return block, "\n".join(body) + "\n"
