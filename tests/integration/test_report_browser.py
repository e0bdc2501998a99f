"""The HTML report in a real headless Chromium: no console errors, no network, all parts visible.

Needs Chromium (Debian package ``chromium``; `.ci/run` installs it) and the ``playwright``
Python package (dev dependency), which drives the system browser, no download.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.unit.test_report import full, make_store
from wattcut.report.build import write_reports
from wattcut.report.figures import FIGURES


def _chromium() -> str:
    path = os.environ.get("WATTCUT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium not found: `apt-get install chromium` (as .ci/run does) or set WATTCUT_CHROMIUM")
    return path


@pytest.fixture
def report(tmp_path) -> Path:
    evil = "<b>evil</b>"  # the variant name in the stored config
    trials = []
    for i, (a, e) in enumerate([(0.80, 10.0), (0.82, 11.0)]):  # the config asks for 2 trials
        trials += [full("baseline", i, e, a), full(evil, i, e / 3, a - 0.001 * i)]
        for t in trials[-2:]:
            t["metrics"] |= {"confusion_matrix": [[40, 10], [8, 42]], "labels": ["negative", "positive"]}
        trials[-1]["phases"].insert(0, {**trials[-1]["phases"][0], "phase": "compress", "requests": 0})
    trials.pop()  # evil #1 missing: an interrupted study
    store = make_store(tmp_path, trials)
    write_reports(store, tmp_path)
    return tmp_path / "report.html"


def test_report_renders_offline_without_errors(report, tmp_path):
    from playwright.sync_api import sync_playwright

    url = report.as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests, problems = [], []
        page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(url, wait_until="load")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)

        assert requests == [url], f"the report made network/file requests: {requests[1:]}"
        assert problems == []
        rec = page.locator(".rec")
        assert rec.is_visible() and "Recommendation:" in rec.inner_text()
        table = page.locator("h2:has-text('Variants') + p + table")
        assert table.is_visible() and table.locator("tr").count() == 3  # header + 2 variants
        assert "<b>evil</b>" in table.inner_text() and page.locator("td b, figure b").count() == 0  # text, not markup
        # no chat replay, no cost profile, fewer than 3 PyTorch variants and no [explain] in this study
        absent = ("predicted_vs_measured", "flops_vs_throughput", "attributions")
        encoder_figures = [k for k in FIGURES if not k.startswith("llm_") and k not in absent]
        assert page.locator("figure").count() == len(encoder_figures)
        for key in encoder_figures:
            fig = page.locator(f"#fig-{key} svg")
            box = fig.bounding_box()
            assert fig.is_visible() and box and box["width"] > 300 and box["height"] > 150, key
        assert "incomplete" in page.locator(".warn").first.inner_text()
        browser.close()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
