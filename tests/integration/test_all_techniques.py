"""Every registered technique runs through `wattcut run` (tiny model, tiny data): a new
technique is covered here without editing this file."""

import json
import os
import subprocess
import sys
from pathlib import Path

from wattcut.compress import TECHNIQUES

REPO = Path(__file__).resolve().parents[2]

# Steps that need something before them, or settings that keep the tiny run fast.
SETTINGS = {
    "finetune": '{ name = "prune_ffn_neurons", amount = 0.5 }, { name = "finetune", samples = 32 }',
    "ov_int8_static": '{ name = "ov_int8_static", calibration_samples = 16 }',
    # the tiny model's fixed work dominates its cost profile: only a mild budget is reachable by heads + neurons
    "prune_to_budget": '{ name = "prune_to_budget", budget = 0.97, calibration_samples = 16 }',
    "early_exit": '{ name = "early_exit", threshold = 0.6, epochs = 2 }',
    "prune_heads": '{ name = "prune_heads", layer_amounts = [0.5, 0.25], importance = "taylor", '
    "calibration_samples = 16 }",
    # 64 rows teach the tiny model nothing, so the teacher check is switched off here (unit-tested elsewhere)
    "distill": '{ name = "prune_layers", keep = [0] }, { name = "distill", samples = 32, min_teacher_margin = -1.0 }',
}


def _profile_fixture(tiny_bert, cache):
    """A fixed cost profile of the tiny model, stored where the study's run looks it up (content key).

    The tiny model's real profile is noise (its fixed work dwarfs its heads and neurons, and a 3-second
    profile on a busy 2-core host can even predict that removing units costs more), so whether an
    energy budget is reachable would depend on the host. This test checks the mechanism: that
    budgets are planned from the profile in force and met. Costs here are proportional to FLOPs.
    """
    import os

    from wattcut.data import load_splits
    from wattcut.models.cost import Coefficients, CostProfile, _encode, profile_key, structure_of
    from wattcut.models.loading import load_classifier_module, load_tokenizer
    from wattcut.settings import DataConfig, ModelConfig

    model_cfg = ModelConfig(name_or_path=str(tiny_bert))
    train, _ = load_splits(DataConfig(name="sst2", train_size=64, eval_size=32, max_length=24), seed=0)
    tok = load_tokenizer(str(tiny_bert), model_cfg)
    module = load_classifier_module(str(tiny_bert), model_cfg, train.label_names)
    lengths = [int(n) for n in _encode(tok, train.texts, 24)["attention_mask"].sum(1)]
    threads = len(os.sched_getaffinity(0))
    key = profile_key(module, threads, (1, 32), lengths)
    full = structure_of(module)
    coefficients = tuple(
        Coefficients(b, base_s=1e-4, layer_s=1e-5, head_s=2e-5, neuron_s=1e-6, r2=1.0, max_rel_error=0.0)
        for b in (1, 32)
    )
    profile = CostProfile(
        "fixture",
        threads,
        "pytorch",
        float(sum(lengths) / len(lengths)),
        full,
        coefficients,
        (),
        key=key,
        method="a fixed test fixture, not measured",
    )
    path = cache / "profiles" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile.to_dict()), encoding="utf-8")


def test_every_technique_runs_end_to_end(tiny_bert, tmp_path):
    variants = "\n".join(
        f'[[variants]]\nname = "v-{name}"\ntechniques = [{SETTINGS.get(name, f"{{ name = {name!r} }}")}]\n'.replace(
            "'", '"'
        )
        for name in TECHNIQUES
        if "sequence-classifier" in TECHNIQUES.get(name).kinds  # decoder techniques: test_llm_runtimes.py
    )
    # compositions: exits quantized segment by segment on ONNX Runtime; an energy-regularized fine-tune
    variants += """
[[variants]]
name = "exits-then-int8"
techniques = [{ name = "early_exit", threshold = 0.6, epochs = 2 }, { name = "ort_int8_dynamic" }]

[[variants]]
name = "gated-finetune"
techniques = [{ name = "finetune", samples = 32, energy_budget = 0.97, gate_learning_rate = 0.5, epochs = 2 }]
"""
    exp = tmp_path / "all.toml"
    exp.write_text(
        f"""
[study]
name = "all-techniques"
trials = 1
save_variants = true
[model]
name_or_path = "{tiny_bert}"
[data]
name = "sst2"
train_size = 64
eval_size = 32
max_length = 24
[infer]
requests = 5
warmup_requests = 1
cooldown_s = 0.0
[measure]
idle_s = 0.0
{variants}
"""
    )
    out = tmp_path / "out"
    _profile_fixture(tiny_bert, tmp_path / "cache")
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "run", str(exp), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "WATTCUT_CACHE": str(tmp_path / "cache")},
    )
    assert r.returncode == 0, r.stderr[-4000:]
    assert "read from the cache" in r.stdout + r.stderr  # the fixture profile was the one in force
    res = json.loads((out / "results.json").read_text())
    encoder = [n for n in TECHNIQUES.names() if "sequence-classifier" in TECHNIQUES.get(n).kinds]
    assert res["complete"] and len(res["trials"]) == 1 + len(encoder) + 2
    exits = next(t for t in res["trials"] if t["variant"] == "exits-then-int8")
    assert exits["model"]["runtime"] == "onnxruntime" and "onnx segments" in exits["model"]["artifact"]
    assert sum(exits["tasks"][exits["task"]]["exits"]["infer_depth_counts"].values()) > 0
    gated = next(t for t in res["trials"] if t["variant"] == "gated-finetune")
    plan = gated["technique_notes"]["finetune"]
    assert plan["predicted_ratio"] <= 0.97 and gated["cost_model"]["predicted_energy_ratio"] <= 0.97
    runtimes = {t["variant"]: t["model"]["runtime"] for t in res["trials"]}
    assert runtimes["v-ort_int8_dynamic"] == "onnxruntime" and runtimes["v-ov_int8_static"] == "openvino"
    for t in res["trials"]:  # every variant's model and tokenizer were kept
        saved = Path(t["model"]["saved_to"])
        assert saved.parent == out / "artifacts" and (saved / "tokenizer.json").is_file()
        assert (
            any(saved.glob("*.onnx"))
            or any(saved.glob("*.xml"))
            or any(saved.glob("*.pt"))
            or (saved / "config.json").is_file()
        )
    ov = next(t for t in res["trials"] if t["variant"] == "v-ov_int8_static")
    assert [p["phase"] for p in ov["phases"]][:2] == ["calibrate", "compress"]
    assert ov["phases"][0]["parent"] == "compress"
    heads = next(t for t in res["trials"] if t["variant"] == "v-prune_heads")
    assert [p["phase"] for p in heads["phases"]][:2] == ["calibrate", "compress"]  # Taylor's data pass, metered
    flops = {t["variant"]: t["model"]["flops_per_sequence"] for t in res["trials"]}
    assert flops["v-prune_heads"] < flops["baseline"] and flops["v-prune_ffn_neurons"] < flops["baseline"]
    assert flops["v-prune_l1_unstructured"] == flops["baseline"] == flops["v-ort_int8_dynamic"]
    # a head-pruned folder reloads through wattcut's own loader as the next study's model
    from wattcut.models import structure

    assert (
        structure.load(Path(heads["model"]["saved_to"])).bert.encoder.layer[0].attention.self.num_attention_heads == 2
    )
