"""The campaign report: a pure function of the campaign store and its studies' result files.

``campaign.md`` and ``campaign.json``: every study with its axis labels, machine and status;
a table per axis; the recommended variant per model and machine; the energy per request of
the same variant across machines (Welch tests against the first machine, Holm-adjusted);
CPU temperatures per study ("not exposed by this machine" where absent); and CO2e per
1,000 requests of each recommended variant on each machine and deployment grid.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from wattcut.store.records import Results

NOT_EXPOSED = "not exposed by this machine"


def _results(out: Path, study_id: str) -> Results | None:
    path = out / "studies" / study_id / "results.json"
    return Results.read(path) if path.is_file() else None


def _machine(res: Results) -> str:
    prov = res.provenance
    cpu = prov["cpu"]
    march = (prov.get("power_models") or {}).get("microarchitecture", {}).get("label")
    gpus = ", ".join(prov.get("gpus") or []) or "no GPU"
    return f"{prov.get('hostname', '?')}: {cpu['model']}{f' ({march})' if march else ''}, " + (
        f"{cpu['cores_available']} cores, {prov.get('memory_gb')} GB, {gpus}"
    )


def _per_request(res: Results, variant: str) -> list[float]:
    from wattcut.stats.payback import per_request_j

    return [v for t in res.of(variant) if (v := per_request_j(t)) is not None]


def _thermal(res: Results) -> str:
    temps = [
        p.thermal["cpu_temp_c"]
        for t in res.trials
        for p in t.phases
        if p.thermal and p.thermal.get("cpu_temp_c") and not p.parent
    ]
    if not temps:
        return NOT_EXPOSED
    low, high = min(x["min"] for x in temps), max(x["max"] for x in temps)
    return f"{low:.0f}/{statistics.fmean(x['mean'] for x in temps):.0f}/{high:.0f} °C"


def _decide(studies: list[dict[str, Any]]) -> dict[str, Any]:
    """Per axis value: the variant recommended most often, how often, and its median energy ratio with the range."""
    from collections import Counter

    picks = Counter(s["recommended"] or "none" for s in studies)
    if not picks:
        return {"recommended": None, "recommended_count": 0, "ratio_median": None, "ratio_range": None}
    top = max(picks.values())
    best = sorted(v for v, n in picks.items() if n == top)[0]  # a tie goes to the first name, and is shown
    ratios = [s["energy_ratio"] for s in studies if (s["recommended"] or "none") == best and s.get("energy_ratio")]
    return {
        "recommended": best,
        "recommended_count": top,
        "tied_with": sorted(v for v, n in picks.items() if n == top and v != best),
        "ratio_median": statistics.median(ratios) if ratios else None,
        "ratio_range": [min(ratios), max(ratios)] if ratios else None,
    }


def campaign_results(store: Any, out: Path) -> dict[str, Any]:
    """Everything the campaign report shows, as plain values."""
    from wattcut.stats.summary import holm, welch

    studies = []
    for s in store.studies():
        res = _results(out, s["study_id"])
        row: dict[str, Any] = {**{k: s[k] for k in ("study_id", "labels", "status", "attempts", "node")}}
        row["trials"] = len(store.trials(s["study_id"]))
        if res is not None:
            rec = res.statistics.get("recommendation") or {}
            best = rec.get("variant")
            base_j, best_j = _per_request(res, "baseline"), _per_request(res, best) if best else []
            paired = ((res.statistics.get("paired") or {}).get(best or "") or {}).get("energy_per_request_j") or {}
            row.update(
                machine=_machine(res),
                recommended=best,
                baseline_mj_per_request=1000 * statistics.fmean(base_j) if base_j else None,
                recommended_mj_per_request=1000 * statistics.fmean(best_j) if best_j else None,
                # the study's own paired-round ratio where it has one; else the ratio of the means
                energy_ratio=1.0
                if best == "baseline"
                else paired.get("ratio")
                or (statistics.fmean(best_j) / statistics.fmean(base_j) if best_j and base_j else None),
                thermal=_thermal(res),
                deployment=((res.statistics.get("payback") or {}).get("variants") or {})
                .get(best or "", {})
                .get("deployment", []),
                variants=[r["variant"] for r in res.summary],
            )
        studies.append(row)
    axes: dict[str, dict[str, dict[str, Any]]] = {}
    for axis in ("models", "datasets", "variant_sets", "machines"):
        for label in sorted({s["labels"][axis] for s in studies}):
            mine = [s for s in studies if s["labels"][axis] == label and s.get("baseline_mj_per_request") is not None]
            axes.setdefault(axis, {})[label] = {
                "studies": len([s for s in studies if s["labels"][axis] == label]),
                "baseline_mj_per_request": statistics.fmean(s["baseline_mj_per_request"] for s in mine)
                if mine
                else None,
                **_decide(mine),
            }
    # The same variant across machines: group studies that differ only in the machine axis.
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for s in studies:
        if s.get("variants"):
            key = (s["labels"]["models"], s["labels"]["datasets"], s["labels"]["variant_sets"])
            groups.setdefault(key, []).append(s)
    across = []
    for key, members in groups.items():
        ref = members[0]
        ref_res = _results(out, ref["study_id"])
        for other in members[1:]:
            other_res = _results(out, other["study_id"])
            if ref_res is None or other_res is None:
                continue
            for variant in [v for v in ref["variants"] if v in other["variants"]]:
                xa, xb = _per_request(ref_res, variant), _per_request(other_res, variant)
                across.append(
                    {
                        "group": "/".join(key),
                        "variant": variant,
                        "machine_a": ref["labels"]["machines"],
                        "machine_b": other["labels"]["machines"],
                        "a_mj": 1000 * statistics.fmean(xa) if xa else None,
                        "b_mj": 1000 * statistics.fmean(xb) if xb else None,
                        "ratio_b_over_a": statistics.fmean(xb) / statistics.fmean(xa) if xa and xb else None,
                        "test": welch(xa, xb),
                    }
                )
    ps = {str(i): r["test"]["p_value"] for i, r in enumerate(across) if r["test"].get("p_value") is not None}
    for i, p in holm(ps).items():
        across[int(i)]["p_holm"] = p
    return {"studies": studies, "axes": axes, "across_machines": across}


def write_campaign_report(store: Any, out: Path) -> Path:
    """``campaign.json`` and ``campaign.md`` under ``out``."""
    data = campaign_results(store, out)
    (out / "campaign.json").write_text(json.dumps(data, indent=1, default=str, allow_nan=False), encoding="utf-8")
    lines = ["# wattcut campaign", "", "## Studies", ""]
    lines += [
        "| study | model | dataset | variant set | machine axis | status | attempts | trials | machine "
        "| CPU °C min/mean/max |"
    ]
    lines += ["|---|---|---|---|---|---|---:|---:|---|---|"]
    for s in data["studies"]:
        lab = s["labels"]
        lines.append(
            f"| {s['study_id']} | {lab['models']} | {lab['datasets']} | {lab['variant_sets']} | {lab['machines']} | "
            f"{s['status']} | {s['attempts']} | {s['trials']} | {s.get('machine', '—')} | {s.get('thermal', '—')} |"
        )
    for axis, rows in data["axes"].items():
        lines += ["", f"## By {axis.replace('_', ' ')}", ""]
        lines += [
            "| label | studies | baseline mJ/request | recommended most often | in | energy ratio (median, range) |",
            "|---|---:|---:|---|---:|---|",
        ]
        for label, r in rows.items():
            mj = "—" if r["baseline_mj_per_request"] is None else f"{r['baseline_mj_per_request']:.2f}"
            tie = f" (tied with {', '.join(r['tied_with'])})" if r.get("tied_with") else ""
            ratio = "—"
            if r["ratio_median"] is not None:
                lo, hi = r["ratio_range"]
                ratio = f"{r['ratio_median']:.3f}x ({lo:.3f}-{hi:.3f})"
            lines.append(
                f"| {label} | {r['studies']} | {mj} | {r['recommended'] or '—'}{tie} | "
                f"{r['recommended_count']} of {r['studies']} | {ratio} |"
            )
    lines += ["", "## Recommended variant per model and machine", ""]
    lines += [
        "| model | dataset | machine | recommended | mJ/request (baseline → recommended) |",
        "|---|---|---|---|---|",
    ]
    for s in data["studies"]:
        if s.get("recommended") is None and s.get("baseline_mj_per_request") is None:
            continue
        rec = s.get("recommended") or "none (keep the baseline)"
        after = s.get("recommended_mj_per_request")
        energy = f"{s['baseline_mj_per_request']:.2f} → {'—' if after is None else f'{after:.2f}'}"
        lines.append(
            f"| {s['labels']['models']} | {s['labels']['datasets']} | {s.get('machine', '—')} | {rec} | {energy} |"
        )
    if data["across_machines"]:
        lines += ["", "## The same variant across machines (Welch's t-test, Holm-adjusted)", ""]
        lines += ["| group | variant | machine A | machine B | A mJ/request | B mJ/request | B/A | Holm p |"]
        lines += ["|---|---|---|---|---:|---:|---:|---:|"]
        for r in data["across_machines"]:
            p = r.get("p_holm")
            lines.append(
                f"| {r['group']} | {r['variant']} | {r['machine_a']} | {r['machine_b']} | {r['a_mj']:.2f} | "
                f"{r['b_mj']:.2f} | {r['ratio_b_over_a']:.3f} | {'n/a' if p is None else f'{p:.3g}'} |"
            )
    deploy = [(s, d) for s in data["studies"] for d in s.get("deployment") or []]
    if deploy:
        lines += ["", "## Deployment: CO2e per 1,000 requests of the recommended variant, per machine and grid", ""]
        lines += ["| study | machine | grid | gCO2e / 1,000 requests |", "|---|---|---|---:|"]
        for s, d in deploy:
            lines.append(
                f"| {s['study_id']} | {s.get('machine', '—')} | {d['grid']} | {d['co2e_per_1k_requests_g']:.4f} |"
            )
    (out / "campaign.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out / "campaign.md"
