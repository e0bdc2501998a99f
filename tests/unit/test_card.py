"""wattcut card: the co2_eq_emissions block and the energy table, from the committed default example."""

from pathlib import Path
from statistics import fmean

import pytest
import yaml

from wattcut.api import load_study
from wattcut.cli import main
from wattcut.errors import UserInputError
from wattcut.report.card import card_markdown, co2_eq_emissions, wh_per_1k

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report"


def test_committed_card_is_what_the_results_give():
    results = load_study(EXAMPLE)
    _, text = card_markdown(results)
    assert (EXAMPLE / "card.md").read_text(encoding="utf-8") == text, "regenerate: wattcut card docs/example-report"


def test_emissions_are_the_phases_that_made_the_variant():
    results = load_study(EXAMPLE)
    rec = results.statistics["recommendation"]["variant"]
    block = co2_eq_emissions(results)

    def mean_g(variant, phases):
        return fmean(sum(p.carbon["co2e_g"] for p in t.phases if p.phase in phases) for t in results.of(variant))

    assert block["emissions"] == pytest.approx(mean_g("baseline", {"train"}) + mean_g(rec, {"compress"}))
    assert block["training_type"] == "fine-tuning" and "estimated" in block["source"]
    assert co2_eq_emissions(results, "baseline")["emissions"] == pytest.approx(mean_g("baseline", {"train"}))

    from huggingface_hub import ModelCardData

    front = card_markdown(results)[1].split("---\n")[1]
    meta = yaml.safe_load(front)
    assert meta["co2_eq_emissions"] == block
    assert yaml.safe_load(ModelCardData(**meta).to_yaml())["co2_eq_emissions"] == block


def test_energy_table_units():
    results = load_study(EXAMPLE)
    text = card_markdown(results)[1]
    per_req = results.statistics["payback"]["variants"]["baseline"]["energy_per_request_j"]
    row = next(line for line in text.splitlines() if line.startswith("| baseline |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert float(cells[1]) == pytest.approx(per_req, rel=1e-3)
    assert float(cells[2]) == pytest.approx(per_req / 3.6, rel=1e-3) == pytest.approx(wh_per_1k(per_req), rel=1e-3)


def test_unknown_variant_is_refused(tmp_path, capsys):
    with pytest.raises(UserInputError, match='no variant "ort-fused"'):
        co2_eq_emissions(load_study(EXAMPLE), "ort-fused")
    assert main(["card", str(EXAMPLE), "--variant", "nope", "--out", str(tmp_path / "c.md")]) == 2
    assert "no variant" in capsys.readouterr().err
    assert main(["card", str(tmp_path)]) == 2  # no store, no results.json
    assert main(["card", str(EXAMPLE), "--out", str(tmp_path / "c.md")]) == 0
    assert (tmp_path / "c.md").read_text().startswith("---\nco2_eq_emissions:")
