"""Every registered technique runs through `wattcut run` (tiny model, tiny data): a new
technique is covered here without editing this file."""

import json
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
    r = subprocess.run(
        [sys.executable, "-m", "wattcut", "run", str(exp), "--out", str(out)], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-4000:]
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
