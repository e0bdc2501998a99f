"""The variant table's columns, defined once: label, unit, format, direction, where shown, and the cell.

HTML, Markdown and the CLI summary render the same :data:`VARIANT_COLUMNS`: a column says
which views show it (``html`` has every column; ``markdown`` and ``cli`` a compact subset)
and computes one :class:`Figure` per row; each renderer only decorates it (HTML adds the
confidence interval, the significance mark and hover text; Markdown and the CLI the
estimate's note). The quality column is the study's metric spec, never a literal name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattcut.metric import MetricSpec
from wattcut.report.estimates import range_text

VIEWS = ("html", "markdown", "cli")
_ALL = frozenset(VIEWS)
_HTML = frozenset({"html"})


@dataclass(frozen=True)
class Figure:
    """One cell before a renderer formats it.

    Attributes:
        text: The figure, mean ± SD over trials (or "n/a").
        short: The figure for a terminal: the mean only.
        note: An estimate's note ("est. 10.2–14.0"), shown by every view.
        ci: The 95% CI text (HTML).
        mark: Significance vs the baseline, e.g. ``("**", "Wilcoxon, Holm-adjusted p = 0.003")`` (HTML).
        status: A verdict's CSS class (``pass``/``fail``) and hover reason (HTML).
    """

    text: str
    short: str = ""
    note: str = ""
    ci: str = ""
    mark: tuple[str, str] | None = None
    status: tuple[str, str] | None = None


@dataclass(frozen=True)
class Context:
    """What cells may read besides the row: the metric spec and the study's statistics."""

    spec: MetricSpec
    per_variant: dict[str, Any] = field(default_factory=dict)
    vs_baseline: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(statistics: dict[str, Any] | None) -> Context:
        """The context of a study's ``statistics`` (its metric spec, per-variant and vs-baseline figures)."""
        st = statistics or {}
        spec = MetricSpec.from_dict(st.get("metric_spec"))
        return Context(spec, st.get("per_variant") or {}, st.get("vs_baseline") or {})


@dataclass(frozen=True)
class Column:
    """A column: ``label`` (full, HTML) and ``short`` (Markdown, CLI), its unit, alignment and views."""

    key: str
    label: Callable[[MetricSpec], str]
    short: Callable[[MetricSpec], str]
    cell: Callable[[dict[str, Any], Context], Figure]
    views: frozenset[str] = _ALL
    align: str = "right"
    unit: str = ""
    higher_is_better: bool | None = None  # the direction of a figure (None: not a quality/cost figure)
    shown: Callable[[MetricSpec], bool] = lambda spec: True  # e.g. efficiency only for a higher-is-better metric
    title: Callable[[MetricSpec], str] = lambda spec: ""  # header hover text (HTML)


def mean_sd(stat: dict[str, Any] | None, fmt: str, scale: float = 1.0) -> str:
    """``mean ± sd`` of a per-trial summary ("n/a" without one; deterministic figures said so)."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    text = format(stat["mean"] * scale, fmt)
    if stat.get("sd") == 0 and (stat.get("n") or 0) > 1:
        return text + " (same in every trial)"  # deterministic: the same model on the same items
    if stat.get("sd") is not None:
        text += f" ± {format(stat['sd'] * scale, fmt)}"
    return text


def mean_only(stat: dict[str, Any] | None, fmt: str, scale: float = 1.0) -> str:
    """The mean of a per-trial summary, or "n/a"."""
    return "n/a" if not stat or stat.get("mean") is None else format(stat["mean"] * scale, fmt)


def ci95(stat: dict[str, Any] | None, fmt: str, scale: float = 1.0) -> str:
    """``95% CI low – high`` of a per-variant statistic, or ""."""
    if not stat or stat.get("ci95_low") is None:
        return ""
    return f"95% CI {format(stat['ci95_low'] * scale, fmt)} – {format(stat['ci95_high'] * scale, fmt)}"


def mark(comparison: dict[str, Any] | None) -> tuple[str, str] | None:
    """Significance mark vs the baseline, from the Holm-adjusted p-value."""
    if not comparison or comparison.get("p_holm") is None:
        return None
    p = comparison["p_holm"]
    stars = "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
    return stars or "n.s.", f"{comparison['test']}, Holm-adjusted p = {p:.3g}"


def _stat(r: dict[str, Any], key: str, fmt: str, scale: float = 1.0) -> Figure:
    return Figure(mean_sd(r.get(key), fmt, scale), mean_only(r.get(key), fmt, scale))


def _text(text: str) -> Figure:
    return Figure(text, text)


def _quality(r: dict[str, Any], c: Context) -> Figure:
    q, fmt = c.spec.key, c.spec.format
    st, cmp = c.per_variant.get(r["variant"], {}), c.vs_baseline.get(r["variant"], {})
    return Figure(mean_sd(r[q], fmt), mean_only(r[q], fmt), ci=ci95(st.get(q), fmt), mark=mark(cmp.get(q)))


def _gate(r: dict[str, Any], c: Context) -> Figure:
    gate = r.get("quality_gate") or {"status": "unknown", "reason": ""}
    return Figure(gate["status"], gate["status"], status=(gate["status"], gate["reason"]))


def _energy(r: dict[str, Any], c: Context) -> Figure:
    rng = range_text(r.get("infer_energy_per_1k_requests_range_j"))
    note = (f"est. {rng}" if rng else "est.") if r["infer_estimated"] else ""
    st, cmp = c.per_variant.get(r["variant"], {}), c.vs_baseline.get(r["variant"], {})
    return Figure(
        mean_sd(r["infer_energy_per_1k_requests_j"], ".1f"),
        mean_only(r["infer_energy_per_1k_requests_j"], ".1f"),
        note=note,
        ci=ci95(st.get("energy_per_request_j"), ".1f", 1000.0),
        mark=mark(cmp.get("energy_per_request_j")),
    )


def _latency(r: dict[str, Any], c: Context) -> Figure:
    f = _stat(r, "latency_p50_ms", ".2f")
    return Figure(f.text, f.short, mark=mark(c.vs_baseline.get(r["variant"], {}).get("latency_p50_ms")))


def _efficiency(r: dict[str, Any], c: Context) -> Figure:
    return _stat(c.per_variant.get(r["variant"], {}), f"{c.spec.key}_per_j", ".2f")


def _compress(r: dict[str, Any], c: Context) -> Figure:
    return _stat(r, "compress_energy_j", ".1f") if r["compress_energy_j"] else _text("—")


def _params(r: dict[str, Any], c: Context) -> Figure:
    return _text(f"{r['nonzero_parameters'] / 1e6:.2f} M of {r['parameters'] / 1e6:.2f} M")


def _gflops(r: dict[str, Any], c: Context) -> Figure:
    flops = r.get("flops_per_sequence")
    return _text("—" if flops is None else f"{flops / 1e9:.2f}")


def _roofline(r: dict[str, Any], c: Context) -> Figure:
    f = _stat(r, "roofline_pct", ".1f")
    return Figure(f.text, f.short, note=r.get("roofline_limiter") or "")


def _arrow(spec: MetricSpec) -> str:
    return f"{spec.label} {'↑' if spec.higher_is_better else '↓'}"


def _fixed(text: str) -> Callable[[MetricSpec], str]:
    return lambda spec: text


VARIANT_COLUMNS: tuple[Column, ...] = (
    Column("variant", _fixed("variant"), _fixed("variant"), lambda r, c: _text(r["variant"]), align="left"),
    Column(
        "techniques", _fixed("techniques"), _fixed("techniques"), lambda r, c: _text(r["techniques"]),
        views=frozenset({"html", "markdown"}), align="left",
    ),
    Column(
        "trials", _fixed("trials"), _fixed("trials"), lambda r, c: _text(str(r["trials"])),
        views=frozenset({"html", "markdown"}),
    ),
    Column("quality", _arrow, _arrow, _quality, title=lambda spec: spec.direction),
    Column("quality_gate", _fixed("quality gate"), _fixed("gate"), _gate, align="left"),
    Column("secondary", _fixed(""), _fixed(""), lambda r, c: _text(""), views=_HTML),  # one per secondary metric
    Column(
        "latency_p50_ms", _fixed("p50 latency (ms/request)"), _fixed("p50 ms/request"), _latency,
        unit="ms", higher_is_better=False,
    ),
    Column(
        "infer_energy_per_1k_requests_j", _fixed("inference energy (J / 1,000 requests)"),
        _fixed("J / 1,000 requests"), _energy, unit="J", higher_is_better=False,
    ),
    Column(
        "efficiency", lambda spec: f"{spec.label} per J (efficiency)", lambda spec: f"{spec.label} per J",
        _efficiency, views=_HTML, shown=lambda spec: spec.higher_is_better, higher_is_better=True,
    ),
    Column(
        "infer_co2e_per_1k_requests_g", _fixed("CO2e (g / 1,000 requests)"), _fixed("g CO2e / 1,000 requests"),
        lambda r, c: _stat(r, "infer_co2e_per_1k_requests_g", ".4f"), views=_HTML, unit="g", higher_is_better=False,
    ),
    Column(
        "roofline_pct", _fixed("% of roofline"), _fixed("% roofline"), _roofline, views=frozenset({"html", "markdown"}),
        unit="%", higher_is_better=True,
        title=_fixed("the machine's attainable time per request (peak GEMM rate, memory bandwidth) / measured time"),
    ),
    Column(
        "compress_energy_j", _fixed("compression energy (J)"), _fixed("compression J"), _compress, views=_HTML,
        unit="J", higher_is_better=False,
    ),
    Column(
        "file_size_bytes", _fixed("size (MB)"), _fixed("MB"), lambda r, c: _text(f"{r['file_size_bytes'] / 1e6:.1f}"),
        unit="MB", higher_is_better=False,
    ),
    Column("parameters", _fixed("non-zero params"), _fixed("non-zero params"), _params, views=_HTML),
    Column("flops_per_sequence", _fixed("GFLOPs / sequence"), _fixed("GFLOPs"), _gflops, views=_HTML),
    Column(
        "runtime", _fixed("runtime · precision"), _fixed("runtime"),
        lambda r, c: _text(f"{r['runtime']} · {r['precision']}"), views=frozenset({"html", "cli"}), align="left",
    ),
)  # fmt: skip


def _secondary(key: str, label: str, fmt: str) -> Column:
    """The column of one of the task's secondary metrics (its spec names them; mean ± SD over trials)."""
    return Column(key, _fixed(label), _fixed(label), lambda r, c: _stat(r, key, fmt), views=_HTML)


def columns(view: str, spec: MetricSpec) -> list[Column]:
    """The columns ``view`` shows for a study whose primary metric is ``spec``, in order."""
    out: list[Column] = []
    for c in VARIANT_COLUMNS:
        if view not in c.views or not c.shown(spec):
            continue
        out += [_secondary(k, label, spec.format) for k, label in spec.secondary] if c.key == "secondary" else [c]
    return out


def rows(
    view: str, summary: list[dict[str, Any]], statistics: dict[str, Any] | None
) -> tuple[list[Column], list[list[Figure]]]:
    """The columns and every row's figures for ``view``."""
    ctx = Context.of(statistics)
    cols = columns(view, ctx.spec)
    return cols, [[c.cell(r, ctx) for c in cols] for r in summary]
