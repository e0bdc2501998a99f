"""The reference pages are generated from the registries and config dataclasses: regenerating them changes nothing."""

from pathlib import Path

from wattcut.docgen import PAGES, fields_table, generate

REPO = Path(__file__).resolve().parents[2]


def test_reference_pages_match_the_code(tmp_path):
    generate(tmp_path)
    stale = [
        name
        for name in PAGES
        if (tmp_path / name).read_text(encoding="utf-8")
        != (REPO / "docs" / "reference" / name).read_text(encoding="utf-8")
    ]
    assert not stale, f"docs/reference/{stale} drifted: run python -m wattcut.docgen docs/reference"


def test_every_technique_task_and_setting_is_documented():
    from wattcut.compress import TECHNIQUES
    from wattcut.settings_measure import CarbonConfig

    techniques = (REPO / "docs" / "reference" / "techniques.md").read_text(encoding="utf-8")
    assert all(f"## `{name}`" in techniques for name in TECHNIQUES.names())
    rows = fields_table(CarbonConfig)
    assert any(r.startswith("| `pue` | float | `1.0` |") for r in rows)
    assert not any("`version`" in r for r in rows)


def test_readme_opens_with_the_two_commands_and_the_three_recipes():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first[0].startswith("bash scripts/setup.sh") and first[1].startswith(".venv/bin/wattcut run")
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads[:3] == ["## Your classifier", "## Your LLM", "## Your own code"]
    assert len(text.splitlines()) < 120  # the reference lives in docs/
    for link in ("docs/reference.md", "docs/api.md", "docs/ci.md"):
        assert (REPO / link).is_file() and link in text
