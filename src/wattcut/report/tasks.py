"""Per-task results of a study: what each task measured, per variant, for every renderer.

A study may run several tasks on the same variants (perplexity, prompted classification,
chat replay, lm-eval); the records keep each task's metrics and, for served workloads,
a summary (``tasks[key].workload``). This module turns them into rows once; the HTML and
Markdown reports render the same rows.
"""

from __future__ import annotations

import statistics
from typing import Any

from wattcut.store.records import Results, TaskResult

MAX_COLUMNS = 9
# Shown first when present (label, key in metrics or workload, format); the rest follow in stored order.
PREFERRED: tuple[tuple[str, str, str], ...] = (
    ("perplexity", "perplexity", ".3f"),
    ("word perplexity", "word_perplexity", ".3f"),
    ("byte perplexity", "byte_perplexity", ".4f"),
    ("tokens scored", "tokens_scored", ".0f"),
    ("KL divergence (mean)", "kl_divergence_mean", ".5f"),
    ("KL p99", "kl_divergence_p99", ".4f"),
    ("KL p99.9", "kl_divergence_p999", ".4f"),
    ("same top token", "same_top_token_rate", ".4f"),
    ("accuracy", "accuracy", ".4f"),
    ("F1 macro", "f1_macro", ".4f"),
    ("low-margin share", "low_margin_share", ".3f"),
    ("TTFT p50 (s)", "ttft_p50_s", ".3f"),
    ("time per output token (s)", "tpot_mean_s", ".4f"),
    ("output tokens / J", "output_tokens_per_j", ".3f"),
    ("J / output token", "energy_per_output_token_j", ".4f"),
    ("J / response", "energy_per_response_j", ".3f"),
    ("Wh / 1,000 queries", "wh_per_1000_queries", ".4f"),
    ("prefill J", "prefill_energy_j", ".2f"),
    ("decode J", "decode_energy_j", ".2f"),
    ("decode tokens / s", "decode_tokens_per_s", ".1f"),
    ("output tokens", "output_tokens", ".0f"),
    ("idle energy (J)", "idle_energy_j", ".2f"),
    ("wall time accounted", "accounted_share", ".4f"),
)
# Labels of metrics shown after the preferred ones (lm-eval's, scikit-learn's), so no raw key reaches a header.
LABELS = {
    "tokens_processed": "tokens processed",
    "bits_per_byte": "bits per byte",
    "precision_macro": "precision (macro)",
    "recall_macro": "recall (macro)",
    "precision_weighted": "precision (weighted)",
    "recall_weighted": "recall (weighted)",
    "f1_weighted": "F1 (weighted)",
    "roc_auc": "ROC AUC",
}


def label(key: str) -> str:
    """A header for a metric key: a known label, else the key in words (``a.b_c`` -> ``a b c``)."""
    return LABELS.get(key) or key.replace("_", " ").replace(".", " ")


SKIP = {
    "kl_divergence_tokens",
    "n",
    "nll_sum",
    "max_length",
    "stride",
    "low_margin",
    "shots",
    "windows",
    "tokens_in_file",
    "words",
    "bytes",
}
SKIP |= {"limit", "max_gen_toks"}  # lm-eval settings, stated in the task's data line


def _skipped(key: str) -> bool:
    return key in SKIP or key.endswith(".sample_len")  # lm-eval's count of samples, not a metric


def _scalars(entry: TaskResult) -> dict[str, float]:
    merged = {**entry.metrics, **(entry.workload or {})}
    return {
        k: float(v)
        for k, v in merged.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and not _skipped(k)
    }


def task_tables(results: Results) -> list[dict[str, Any]]:
    """One table per task: its name, data, and per-variant means of its scalar metrics."""
    trials = results.trials
    keys: list[str] = []
    for t in trials:
        for k in t.tasks:
            if k not in keys:
                keys.append(k)
    tables = []
    variants = [r["variant"] for r in results.summary]
    for key in keys:
        entries = {v: [t.tasks[key] for t in trials if t.variant == v and key in t.tasks] for v in variants}
        first = next((e[0] for e in entries.values() if e), None)
        if first is None:
            continue
        names: list[str] = []
        for es in entries.values():
            for e in es:
                names += [k for k in _scalars(e) if k not in names]
        spec_key = (first.metric_spec or {}).get("key")
        if spec_key in names:  # the task's primary metric first (MMLU: the group's accuracy, then subjects)
            names.insert(0, names.pop(names.index(spec_key)))
        preferred = [(label, k, f) for label, k, f in PREFERRED if k in names]
        rest = [(label(k), k, ".4g") for k in names if k not in {p[1] for p in PREFERRED}]
        # a column with no value in any row says nothing: left out (a metric the runtime cannot give, say)
        present = {k for es in entries.values() for e in es for k, v in _scalars(e).items() if v == v}
        columns = [c for c in preferred + rest if c[1] in present][:MAX_COLUMNS]
        rows = []
        for v, es in entries.items():
            if not es:
                continue
            values = [_scalars(e) for e in es]
            rows.append(
                {
                    "variant": v,
                    "trials": len(es),
                    "values": {
                        k: statistics.fmean(xs) if (xs := [x[k] for x in values if k in x]) else None
                        for _, k, _ in columns
                    },
                }
            )
        spec = first.metric_spec
        tables.append(
            {
                "key": key,
                "task": first.task or key,
                "data": first.data,
                "primary": bool(spec) and key == trials[0].task,
                "metric_spec": spec,
                "columns": [{"label": label, "key": k, "format": f} for label, k, f in columns],
                "rows": rows,
            }
        )
    served = _by_concurrency(results, keys, variants)
    return tables + ([served] if served else [])


def _by_concurrency(results: Results, keys: list[str], variants: list[str]) -> dict[str, Any] | None:
    """Served replays at several concurrencies: each variant's J per output token at each (the ML.ENERGY view)."""
    levels: dict[int, str] = {}
    for key in keys:
        w = next((t.tasks[key].workload for t in results.trials if key in t.tasks and t.tasks[key].workload), None)
        if w and w.get("concurrency") is not None and w.get("serve") and w["concurrency"] not in levels:
            levels[w["concurrency"]] = key
    if len(levels) < 2:
        return None
    columns = [
        {"label": f"J / output token at {n} client{'s' if n > 1 else ''}", "key": levels[n], "format": ".4f"}
        for n in sorted(levels)
    ]
    rows = []
    for v in variants:
        values: dict[str, float | None] = {}
        for c in columns:
            xs = [
                t.tasks[c["key"]].workload.get("energy_per_output_token_j")  # type: ignore[union-attr]
                for t in results.trials
                if t.variant == v and c["key"] in t.tasks and t.tasks[c["key"]].workload
            ]
            nums = [x for x in xs if x is not None]
            values[c["key"]] = statistics.fmean(nums) if nums else None
        rows.append({"variant": v, "trials": sum(t.variant == v for t in results.trials), "values": values})
    return {
        "key": "served: J per output token vs concurrency",
        "task": "served replays",
        "data": "each served replay's J per output token (its window's energy over its output tokens), by the "
        "number of concurrent clients",
        "primary": False,
        "metric_spec": None,
        "columns": columns,
        "rows": rows,
    }


def fmt(value: float | None, spec: str) -> str:
    """A table cell."""
    return "n/a" if value is None else format(value, spec)
