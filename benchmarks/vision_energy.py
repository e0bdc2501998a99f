"""How far below the baseline's energy per image can a proven non-inferior CNN variant go, on this CPU?

Seed 004's vision row, with the model available offline: MobileNetV2 (torchvision's ImageNet
weights) fine-tuned on TRAIN Fashion-MNIST training images at SIZE x SIZE pixels, 2 epochs,
PyTorch fp32 eager, 2 threads. Quality: accuracy on EVAL test images with the item-level
one-sided 95% non-inferiority test at a 1.0-point margin
(``wattcut.stats.paired.item_non_inferiority``). Energy: wattcut's meters (on a machine without
RAPL, the CPU-time model plus the RAM model, labelled estimated), one window per variant per
round and batch size, ROUNDS interleaved rounds in a rotating order; each variant's ratio to
the baseline is the per-round paired log ratio with its 95% CI
(``wattcut.stats.paired.log_ratio``), at batch 1 and batch 32, on WORKLOAD test images.

The pipeline is built one step at a time, so each step's contribution is measured in the
same run: runtime (ONNX Runtime fp32), static INT8 (QDQ, calibrated on training images),
threads, channel pruning (Taylor importance, with one epoch of recovery fine-tuning), and
the alternatives: OpenVINO INT8 and a compact pretrained model (EfficientNet-Lite0, fine-tuned
the same way).

    .venv/bin/python benchmarks/vision_energy.py > benchmarks/results/vision_energy.txt
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 5
MARGIN = 0.01
BATCHES = (1, 32)
TRAIN, EVAL, WORKLOAD, SIZE = 10000, 2000, 1000, 48
RESULTS = Path(__file__).resolve().parent / "results"
PRUNE = ("prune_channels", {"importance": "taylor", "samples": 512})
RECOVER = ("finetune", {"epochs": 1, "learning_rate": 1e-3})

# name: (start model, steps, threads); steps are (technique, settings) applied to the fine-tuned model
PIPELINE = {
    "baseline (pytorch fp32, 2 threads)": ("mobilenet_v2", [], 2),
    "pytorch fp32, 1 thread": ("mobilenet_v2", [], 1),
    "+ runtime: onnxruntime fp32": ("mobilenet_v2", "export", 2),
    "+ int8: ort_int8_static": ("mobilenet_v2", [("ort_int8_static", {"samples": 256})], 2),
    "+ 1 thread: ort_int8_static": ("mobilenet_v2", [("ort_int8_static", {"samples": 256})], 1),
    "+ prune 30% → finetune → ort_int8_static, 1 thread": (
        "mobilenet_v2",
        [(PRUNE[0], {**PRUNE[1], "amount": 0.3}), RECOVER, ("ort_int8_static", {"samples": 256})],
        1,
    ),
    "alt: prune 50% → finetune → ort_int8_static, 1 thread": (
        "mobilenet_v2",
        [(PRUNE[0], {**PRUNE[1], "amount": 0.5}), RECOVER, ("ort_int8_static", {"samples": 256})],
        1,
    ),
    "alt: prune 30% → finetune (pytorch fp32, 2 threads)": (
        "mobilenet_v2",
        [(PRUNE[0], {**PRUNE[1], "amount": 0.3}), RECOVER],
        2,
    ),
    "alt: openvino int8 static, 1 thread": ("mobilenet_v2", [("ov_int8_static", {"calibration_samples": 256})], 1),
    "alt: compact efficientnet-lite0 → ort_int8_static, 1 thread": (
        "efficientnet_lite0",
        [("ort_int8_static", {"samples": 256})],
        1,
    ),
}


def main() -> None:
    import numpy as np
    import torch

    from wattcut.compress import TECHNIQUES, CompressContext
    from wattcut.experiment import parse_experiment
    from wattcut.measure import EnergySession
    from wattcut.measure.base import PhaseRecord
    from wattcut.measure.provenance import cpu_info
    from wattcut.measure.select import select_meters
    from wattcut.runtimes.ort import OnnxClassifier, export_onnx
    from wattcut.settings import MeasureConfig
    from wattcut.stats.paired import item_non_inferiority, log_ratio
    from wattcut.tasks.image_classification import ImageClassification

    torch.set_num_threads(2)
    cpu = cpu_info()
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of the tracked ones"
    print(f"# wattcut vision energy benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"# CPU: {cpu['model']}, {cpu['cores_available']} cores, ISA: {flags}")
    study = parse_experiment(
        {
            "study": {"name": "vision-energy"},
            "model": {"name_or_path": "mobilenet_v2"},
            "tasks": [
                {"name": "image_classification", "train_size": TRAIN, "eval_size": EVAL, "image_size": SIZE},
            ],
            "train": {"epochs": 2, "batch_size": 32, "learning_rate": 1e-3},
        }
    )
    task = ImageClassification(study, study.tasks[0].config)
    task.prepare()
    print(
        f"# baseline: MobileNetV2 (ImageNet weights) fine-tuned on {TRAIN} Fashion-MNIST training images at "
        f"{SIZE}x{SIZE}, 2 epochs, lr 1e-3; EfficientNet-Lite0 fine-tuned the same way"
    )
    print(
        f"# quality: {EVAL} test images; workload: {WORKLOAD} of them at batch {' and '.join(map(str, BATCHES))}; "
        f"{ROUNDS} interleaved rounds, rotating order"
    )

    work = Path(tempfile.mkdtemp())
    starts = {}
    for arch in sorted({start for start, _, _ in PIPELINE.values()}):
        t0 = time.perf_counter()
        tok = task.load_tokenizer(arch)
        model = task.load_model(arch)
        task.fine_tune(model, tok, 0, PhaseRecord("train", 0.0))
        starts[arch] = (model, tok)
        print(f"fine-tuned {arch} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    built, build_s, toks = {}, {}, {}
    for name, (start, steps, threads) in PIPELINE.items():
        t0 = time.perf_counter()
        base, tok = starts[start]
        if steps == "export":
            m = OnnxClassifier(export_onnx(base, work / "plain.onnx"), base.input_names, threads, "fp32")
        else:
            m = base.clone()
            d = work / f"v{len(built)}"
            d.mkdir()
            ctx = CompressContext(
                tok, SIZE, threads, d, train_data=task.train_data(), teacher=base, seed=0,
                calibration_inputs=lambda n, b, tok=tok: task.calibration_inputs(tok, n, b),
                recover=lambda mod, cfg, n, seed, rec, tok=tok: task.recover(mod, tok, cfg, n, seed, rec),
            )  # fmt: skip
            for tech, params in steps:
                t = TECHNIQUES.get(tech)
                m = t.apply(m, t.config_cls(**params), ctx)
        m.set_threads(threads)
        built[name], toks[name] = m, tok
        build_s[name] = time.perf_counter() - t0
        print(f"built {name} in {build_s[name]:.0f} s", file=sys.stderr)

    # Quality: the evaluation images, item by item.
    correct, accuracy, facts = {}, {}, {}
    for name, m in built.items():
        out = task.evaluate(m, toks[name], PhaseRecord("evaluate", 0.0))
        pred, gold = np.asarray(out["items"]["pred"]), np.asarray(out["items"]["gold"])
        correct[name] = (pred == gold).astype(float)
        accuracy[name] = out["accuracy"]
        facts[name] = m.facts(work) if m.capabilities.module else None
    names = list(built)
    ref = names[0]

    # Energy: interleaved rounds, one metered window per variant and batch size.
    images = task.evals.images[:WORKLOAD]
    requests = {
        n: {b: [{"pixel_values": toks[n](images[i : i + b])} for i in range(0, WORKLOAD, b)] for b in BATCHES}
        for n in names
    }
    meters, _ = select_meters(MeasureConfig(idle_s=0.0), gpu=False)
    session = EnergySession(meters)
    method, estimated = None, False
    for n, m in built.items():  # warm up
        for b in BATCHES:
            for r in requests[n][b][:3]:
                m.logits(r)
    per_round = {b: {n: {} for n in names} for b in BATCHES}
    latency = {b: {n: {} for n in names} for b in BATCHES}
    for r in range(ROUNDS):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            for b in BATCHES:
                m = built[n]
                m.logits(requests[n][b][0])
                time.sleep(0.3)  # let runtime worker threads settle (onnxruntime #13808)
                t0 = time.perf_counter()
                with session.phase("infer", step=n) as rec:
                    for req in requests[n][b]:
                        m.logits(req)
                        rec.requests += 1
                wall = time.perf_counter() - t0
                (p,) = session.take()
                method = method or "; ".join(f"{c.component}: {c.method}" for c in p.energy if c.energy_j is not None)
                estimated = estimated or p.estimated
                per_round[b][n][(0, r)] = p.energy_j / WORKLOAD  # joules per image
                latency[b][n][(0, r)] = 1000 * wall / len(requests[n][b])
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)
    session.close()
    how = "estimated: no energy counters read" if estimated else "measured by the counters named"
    print(f"# energy: {method} ({how}); per image, per-round paired ratio vs the baseline\n")

    rows = []
    head = (
        f"{'variant':60} {'accuracy':>8} {'Δ pts':>6} {'NI@1pt':>7} {'params':>9} {'MFLOPs':>7} "
        f"{'b1 energy x less [95% CI]':>27} {'b32 x less [95% CI]':>24} {'b1 latency x':>12}"
    )
    print(head)
    for n in names:
        ni = item_non_inferiority(
            {0: {"score": correct[ref]}}, {0: {"score": correct[n]}}, "accuracy", MARGIN, "absolute", True
        )
        f = facts[n]
        flops = built[n].flops_per_sequence(SIZE) if built[n].capabilities.module else None
        row = {
            "variant": n,
            "accuracy": accuracy[n],
            "delta_points": 100 * (accuracy[n] - accuracy[ref]),
            "non_inferior": bool(ni["non_inferior"]) if n != ref else None,
            "ni_lower_bound_points": 100 * ni["lower_bound"],
            "ni_p": ni["p_value"],
            "build_s": build_s[n],
            "threads": PIPELINE[n][2],
            "runtime": built[n].runtime,
            "precision": built[n].precision,
            "parameters": None if f is None else f.parameters,
            "flops_per_image": flops,
        }
        cells = []
        for b in BATCHES:
            lr = log_ratio(per_round[b][ref], per_round[b][n])
            ll = log_ratio(latency[b][ref], latency[b][n])
            row[f"b{b}_energy_ratio"], row[f"b{b}_ci"] = lr["ratio"], (lr["ci95_low"], lr["ci95_high"])
            row[f"b{b}_latency_ratio"] = ll["ratio"]
            row[f"b{b}_j_per_image_mean"] = float(np.mean(list(per_round[b][n].values())))
            if lr["ci95_low"] is None:
                cells.append(f"{1 / lr['ratio']:.2f}x")
            else:
                cells.append(f"{1 / lr['ratio']:.2f}x [{1 / lr['ci95_high']:.2f}-{1 / lr['ci95_low']:.2f}]")
        rows.append(row)
        mark = "—" if n == ref else ("yes" if ni["non_inferior"] else "no")
        params = "" if f is None else f"{f.parameters / 1e6:.2f}M"
        mflops = "" if flops is None else f"{flops / 1e6:.0f}"
        print(
            f"{n:60} {accuracy[n]:8.4f} {row['delta_points']:+6.2f} {mark:>7} {params:>9} {mflops:>7} "
            f"{cells[0]:>27} {cells[1]:>24} {1 / row['b1_latency_ratio']:11.2f}x"
        )
    print("\n(params and MFLOPs: of the PyTorch model; blank for a runtime graph, which has the same structure)")
    for b in BATCHES:
        print(f"baseline J per image at batch {b}: {rows[0][f'b{b}_j_per_image_mean'] * 1000:.2f} mJ")
    eligible = [r for r in rows[1:] if r["non_inferior"]]
    for b in BATCHES:
        if eligible:
            best = min(eligible, key=lambda r: r[f"b{b}_energy_ratio"])
            lo, hi = best[f"b{b}_ci"]
            print(
                f"best non-inferior at batch {b}: {best['variant']}: {1 / best[f'b{b}_energy_ratio']:.2f}x less "
                f"energy per image (95% CI {1 / hi:.2f}-{1 / lo:.2f}), "
                f"latency {1 / best[f'b{b}_latency_ratio']:.2f}x lower, "
                f"accuracy {best['delta_points']:+.2f} points (one-sided 95% bound "
                f"{best['ni_lower_bound_points']:+.2f})"
            )
        else:
            print(f"batch {b}: no variant shown non-inferior")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vision_energy.json").write_text(
        json.dumps({"cpu": cpu, "rounds": ROUNDS, "margin": MARGIN, "variants": rows}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
