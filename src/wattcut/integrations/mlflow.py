"""Log a finished study to an MLflow tracking server or database (``pip install "wattcut[mlflow]"``).

One parent run for the study: its resolved config as params (dotted keys), its provenance as tags, the
recommendation, and every result file as an artifact (report.html/.md, results.json/.csv, emissions.csv, card.md,
figures/). One nested run per variant: its techniques as params, and its figures as metrics (mean quality,
inference energy per request and per 1,000 requests with the estimate's range, p50 latency, the paired energy
ratio to the baseline with its 95% CI, the non-inferiority bound, model size), each metric named with its unit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.store.records import Results

SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")
MAX_PARAM_CHARS = 500  # MLflow's per-value limit is 6,000; the flattened config stays readable below this
RESULT_FILES = ("report.html", "report.md", "results.json", "results.csv", "emissions.csv", "card.md")


def check_uri(uri: str) -> str:
    """The tracking URI, refused with the fix when it names no scheme MLflow serves."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in SCHEMES:
        raise UserInputError(
            f'"{uri}" is not an MLflow tracking URI: it has no {"known " if scheme else ""}scheme'
            + (f' ("{scheme}")' if scheme else "")
            + ".",
            "Give sqlite:///path/to/mlflow.db (a local database file), http(s)://host:port (a tracking server) or "
            f"another of: {', '.join(SCHEMES)}.",
        )
    return uri


def _flat(d: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out |= _flat(v, f"{prefix}{k}.")
    else:
        text = json.dumps(d) if isinstance(d, list) else str(d)
        out[prefix.rstrip(".")] = text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"
    return out


def variant_metrics(results: Results, variant: str) -> dict[str, float]:
    """A variant's figures as MLflow metrics (units in the names); missing figures are left out, not zeroed."""
    from wattcut.metric import MetricSpec

    spec = MetricSpec.from_dict(results.metric_spec)
    row = next((r for r in results.summary if r["variant"] == variant), {})
    stats = results.statistics
    out: dict[str, float | None] = {}
    for key in (spec.key, *(k for k, _ in spec.secondary), "latency_p50_ms", "infer_energy_per_1k_requests_j"):
        v = row.get(key)
        out[key] = v.get("mean") if isinstance(v, dict) else v
    span = row.get("infer_energy_per_1k_requests_range_j")
    if span:
        out["infer_energy_per_1k_requests_low_j"], out["infer_energy_per_1k_requests_high_j"] = span
    pay = ((stats.get("payback") or {}).get("variants") or {}).get(variant) or {}
    out["energy_per_request_j"] = pay.get("energy_per_request_j")
    out["break_even_requests"] = pay.get("break_even_requests")
    e = ((stats.get("paired") or {}).get(variant) or {}).get("energy_per_request_j") or {}
    out["energy_ratio_vs_baseline"] = e.get("ratio")
    out["energy_ratio_ci95_low"], out["energy_ratio_ci95_high"] = e.get("ci95_low"), e.get("ci95_high")
    ni = (stats.get("non_inferiority") or {}).get(variant) or {}
    out["quality_diff_vs_baseline"] = ni.get("mean_diff")
    out["quality_diff_lower_bound"] = ni.get("lower_bound")
    if "non_inferior" in ni:
        out["non_inferior"] = float(bool(ni["non_inferior"]))
    for key in ("file_size_bytes", "parameters", "nonzero_parameters", "flops_per_sequence"):
        out[key] = row.get(key)
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float) and v == v}


def log_study(results: Results, folder: Path | None, uri: str, experiment: str | None = None) -> str:
    """Log ``results`` (and the result files in ``folder``) to MLflow at ``uri``; returns the parent run's id."""
    check_uri(uri)
    try:
        import mlflow
    except ImportError:
        raise UserInputError(
            "Logging to MLflow needs the mlflow extra, which is not installed.",
            'Install it with `pip install "wattcut[mlflow]"`.',
        ) from None
    from mlflow.tracking import MlflowClient

    name = experiment or results.study
    try:  # an unreachable server or an unusable database fails here, before anything is logged
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(name)
        if found is None:
            artifacts = None
            if uri.startswith("sqlite:///"):  # artifacts beside the database, not in the current directory
                artifacts = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
            exp_id = client.create_experiment(name, artifact_location=artifacts)
        else:
            exp_id = found.experiment_id
    except Exception as e:  # noqa: BLE001  (MLflow, SQLAlchemy and OS errors alike: the URI is the cause)
        why = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise UserInputError(
            f'The MLflow tracking URI "{uri}" cannot be used: {why}.',
            "Check that the server is running (or that the database's folder can be created), then run again.",
        ) from None
    variants = list(dict.fromkeys(t.variant for t in results.trials))
    rec = (results.statistics.get("recommendation") or {}).get("variant")
    prov = results.provenance
    tags = {
        "wattcut.version": str(prov.get("wattcut_version", "")),
        "wattcut.cpu": str((prov.get("cpu") or {}).get("model", "")),
        "wattcut.study": results.study,
        "wattcut.recommended": str(rec),
        "wattcut.complete": str(results.complete),
        # every energy metric below is estimated (a model with a range) or measured (counters): said once here
        "wattcut.energy_estimated": str(bool((results.statistics.get("payback") or {}).get("estimated"))),
        "wattcut.energy_methods": ", ".join(
            sorted(
                {
                    m
                    for row in ((results.statistics.get("payback") or {}).get("variants") or {}).values()
                    for m in row.get("methods") or []
                }
            )
        ),
    }
    with mlflow.start_run(experiment_id=exp_id, run_name=results.study, tags=tags) as parent:
        params = _flat(results.config)
        items = list(params.items())
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            mlflow.log_params(dict(items[i : i + 100]))
        if rec:
            mlflow.log_text(
                str((results.statistics.get("recommendation") or {}).get("reason", "")), "recommendation.txt"
            )
        if folder is not None:
            for f in RESULT_FILES:
                if (folder / f).is_file():
                    mlflow.log_artifact(str(folder / f))
            if (folder / "figures").is_dir():
                mlflow.log_artifacts(str(folder / "figures"), "figures")
        for v in variants:
            cfg: dict[str, Any] = next((x for x in results.config.get("variants", []) if x.get("name") == v), {})
            with mlflow.start_run(experiment_id=exp_id, run_name=v, nested=True, tags={"wattcut.variant": v}):
                mlflow.log_params(
                    _flat({"variant": v, "techniques": cfg.get("techniques", []), "threads": cfg.get("threads")})
                )
                mlflow.log_metrics(variant_metrics(results, v))
        return str(parent.info.run_id)
