"""The typed trial record: exact to/from dict on every committed record, names checked, required fields enforced."""

import json
from pathlib import Path

import pytest

from wattcut.store.records import RECORD_VERSION, Latency, Phase, TaskResult, Trial, upgrade

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted(REPO.glob("docs/**/results.json")) + sorted(REPO.glob("tests/data/**/results.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_committed_record_reads_and_writes_back_key_for_key_with_no_unknown_names(path):
    for raw in json.loads(path.read_text(encoding="utf-8"))["trials"]:
        record = upgrade(json.loads(json.dumps(raw)))
        trial = Trial.from_dict(record)
        assert trial.to_dict() == record  # exact, absent optional keys included
        assert not trial.extra and all(not p.extra for p in trial.phases)  # every name is a field of the record
        assert all(not t.extra and all(not r.extra for r in t.rounds) for t in trial.tasks.values())
        assert trial.record_version == RECORD_VERSION and isinstance(trial.model.file_size_bytes, int)


def test_typed_fields_read_what_the_dict_says():
    path = REPO / "tests" / "data" / "record_v2" / "results.json"
    raw = upgrade(json.loads(path.read_text(encoding="utf-8"))["trials"][0])
    trial = Trial.from_dict(raw)
    assert isinstance(trial.tasks["perplexity"], TaskResult) and isinstance(trial.latency, Latency)
    assert trial.metric("perplexity") == raw["metrics"]["perplexity"]
    infer = trial.infer_phase()
    assert isinstance(infer, Phase) and infer.phase == "infer" and infer.step in (None, raw["energy_task"])
    assert [p.phase for p in trial.phases_named("evaluate")] == ["evaluate"] * len(
        [p for p in raw["phases"] if p["phase"] == "evaluate"]
    )


def test_a_record_missing_a_required_field_is_refused_by_name_and_unknown_keys_are_kept():
    with pytest.raises(KeyError, match="model"):
        Trial.from_dict({"variant": "v", "trial_index": 0, "seed": 0})
    latency = Latency.from_dict({"requests": 1, "batch_size": 1, "from_the_future": 3})
    assert latency.extra == {"from_the_future": 3} and latency.to_dict()["from_the_future"] == 3
    assert "per_request_ms" not in latency.to_dict()  # absent stays absent
