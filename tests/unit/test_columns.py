"""The variant table is defined once (report/columns.py) and HTML, Markdown and the CLI render it."""

import json
import re
import shutil
from pathlib import Path

import pytest

from wattcut.metric import MetricSpec
from wattcut.report import columns as col
from wattcut.report import html, markdown

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report" / "results.json"


@pytest.fixture(scope="module")
def results():
    from wattcut.store.records import upgrade_results

    return upgrade_results(json.loads(EXAMPLE.read_text(encoding="utf-8")))


def test_every_view_shows_the_columns_the_table_gives_it_in_order(results, tmp_path, capsys):
    spec = MetricSpec.from_dict(results["statistics"]["metric_spec"])
    summary, st = results["summary"], results["statistics"]

    page = html._variant_table(summary, st)
    head = re.findall(r"<th[^>]*>(.*?)</th>", page.split("</tr>")[0])
    assert head == [html.escape(c.label(spec)) for c in col.columns("html", spec)]
    assert page.count("<tr>") == 1 + len(summary)

    lines = markdown.variant_table(summary, st)
    assert lines[0] == "| " + " | ".join(markdown._cell(c.short(spec)) for c in col.columns("markdown", spec)) + " |"
    assert len(lines) == 2 + len(summary)

    from wattcut.cli import run as cli_run

    shutil.copy(EXAMPLE, tmp_path / "results.json")
    cli_run._print_summary(tmp_path)
    printed = capsys.readouterr().out
    for c in col.columns("cli", spec):
        assert c.short(spec) in printed
    for r in summary:
        assert r["variant"] in printed


def test_a_column_is_shown_only_where_it_applies():
    higher = MetricSpec.from_dict({"key": "accuracy", "label": "accuracy", "higher_is_better": True, "bounded": True})
    lower = MetricSpec.from_dict(
        {"key": "perplexity", "label": "perplexity", "higher_is_better": False, "bounded": False}
    )
    assert "efficiency" in [c.key for c in col.columns("html", higher)]
    assert "efficiency" not in [c.key for c in col.columns("html", lower)]  # accuracy per J only where more is better
    assert {c.key for c in col.columns("cli", higher)} < {c.key for c in col.columns("html", higher)}
    assert all(set(c.views) <= set(col.VIEWS) for c in col.VARIANT_COLUMNS)


def test_cells_use_the_metric_spec_and_keep_estimates_and_marks(results):
    spec = MetricSpec.from_dict(results["statistics"]["metric_spec"])
    cols, body = col.rows("html", results["summary"], results["statistics"])
    quality = [row[[c.key for c in cols].index("quality")] for row in body]
    assert quality[0].text.startswith(format(results["summary"][0][spec.key]["mean"], spec.format))
    energy = [row[[c.key for c in cols].index("infer_energy_per_1k_requests_j")] for row in body]
    estimated = [r["infer_estimated"] for r in results["summary"]]
    assert [bool(f.note) for f in energy] == estimated  # an estimate says so in every view
    assert any(f.mark for f in energy[1:])  # significance vs the baseline, from the statistics
