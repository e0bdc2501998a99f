"""The roofline: bound arithmetic on a synthetic machine, and the probe against numpy's own GEMM."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from wattcut.measure.roofline import Machine, Peak, probe
from wattcut.stats.roofline import bound, of_trial

# A machine with round figures: 100 GFLOP/s fp32, 400 GOP/s int8, 10 GB/s, at 1 and 4 threads.
PEAK1 = Peak(threads=1, fp32_gflops=100.0, int8_gops=400.0, bandwidth_gb_s=10.0)
PEAK4 = Peak(threads=4, fp32_gflops=350.0, int8_gops=1400.0, bandwidth_gb_s=20.0)
MACHINE = Machine(cpu="synthetic", logical_cores=4, peaks=(PEAK1, PEAK4), libraries={}, duration_s=0.0)


def _trial(task: str, model: dict, infer: dict, threads: int = 1, workload: dict | None = None) -> SimpleNamespace:
    phase = SimpleNamespace(phase="infer", parent=None, step=task, **infer)
    tasks = {task: SimpleNamespace(task=task, workload=workload, exits=None)}
    return SimpleNamespace(
        phases=[phase],
        infer_phase=lambda: phase,
        deployment=SimpleNamespace(threads=threads),
        model=SimpleNamespace(**model),
        tasks=tasks,
        energy_task=task,
        task=task,
    )


def test_bound_is_the_slower_of_compute_and_memory() -> None:
    b = bound(ops=2e9, nbytes=1e8, achieved_s=0.1, peak=PEAK1, precision="fp32")
    assert b.compute_s == pytest.approx(0.02) and b.memory_s == pytest.approx(0.01)
    assert b.limiter == "compute" and b.pct == pytest.approx(20.0)
    q = bound(ops=2e9, nbytes=1e8, achieved_s=0.1, peak=PEAK1, precision="int8-dynamic")
    assert q.compute_s == pytest.approx(0.005) and q.limiter == "memory" and q.pct == pytest.approx(10.0)


def test_machine_picks_the_nearest_thread_count() -> None:
    assert MACHINE.at(1) is PEAK1 and MACHINE.at(3) is PEAK4 and MACHINE.at(None) is PEAK4
    assert Machine.from_dict(MACHINE.to_dict()) == MACHINE


def test_encoder_work_scales_with_real_tokens_at_the_precisions_peak() -> None:
    # 10 GFLOPs per 128-token sequence; 64 real tokens per sample on average; batches of 8
    model = {"flops_per_sequence": 10e9, "flops_seq_len": 128, "file_size_bytes": 80e6, "precision": "fp32"}
    t = _trial("sst2", model, {"duration_s": 4.0, "samples": 80, "requests": 10, "tokens": 80 * 64})
    r = of_trial(t, MACHINE)
    assert r is not None
    assert r["ops_per_unit"] == pytest.approx(5e9)  # half the counted length
    assert r["compute_s"] == pytest.approx(0.05) and r["memory_s"] == 0.0  # the compute roofline
    assert r["achieved_s"] == pytest.approx(0.05) and r["pct"] == pytest.approx(100.0)
    int8 = of_trial(
        _trial(
            "sst2",
            model | {"precision": "int8-dynamic"},
            {"duration_s": 4.0, "samples": 80, "requests": 10, "tokens": 5120},
        ),
        MACHINE,
    )
    assert int8 is not None and int8["pct"] == pytest.approx(25.0)  # the int8 peak is 4x the fp32 one
    assert r["threads"] == 1
    # at 4 threads the bound is the 4-thread peak's
    r4 = of_trial(_trial("sst2", model, {"duration_s": 4.0, "samples": 80, "requests": 10, "tokens": 5120}, 4), MACHINE)
    assert r4 is not None and r4["compute_s"] == pytest.approx(5e9 / 350e9)


def test_decoder_prefill_is_compute_and_decode_is_a_read_of_the_weights() -> None:
    model = {
        "parameters": 100e6, "file_size_bytes": 200e6, "precision": "q4_k_m", "flops_per_sequence": None,
        "embedding_parameters": 20e6, "tied_embeddings": True,
    }  # fmt: skip
    workload = {"requests": 2, "input_tokens": 100, "output_tokens": 22, "prefill_s": 1.0, "decode_s": 2.0}
    t = _trial("chat_replay", model, {"duration_s": 3.0, "samples": 2, "requests": 2, "tokens": 122}, 1, workload)
    r = of_trial(t, MACHINE)
    assert r is not None
    pre, dec = r["prefill"], r["decode"]
    # the 80 M body per prompt token, the tied 20 M head once per reply; at the int8 rate of a quantized model
    assert pre["compute_s"] == pytest.approx((2 * 80e6 * 100 + 2 * 20e6 * 2) / 400e9)
    assert dec["memory_s"] == pytest.approx(20 * 200e6 / 10e9)  # 20 decoded tokens (2 came from prefill)
    assert dec["limiter"] == "memory"
    assert r["pct"] == pytest.approx(100 * (pre["bound_s"] + dec["bound_s"]) / 3.0)


def test_an_early_exit_variants_work_is_the_depth_its_requests_ran() -> None:
    model = {"flops_per_sequence": 10e9, "flops_seq_len": 128, "file_size_bytes": 80e6, "precision": "fp32"}
    t = _trial("sst2", model, {"duration_s": 4.0, "samples": 80, "requests": 80, "tokens": 80 * 64})
    full = of_trial(t, MACHINE)
    # 60 requests left after layer 1 of 6, 20 ran all six: a mean of 2.25 layers
    t.tasks["sst2"].exits = {"layers": 6, "infer_depth_counts": {"1": 60, "6": 20}}
    early = of_trial(t, MACHINE)
    assert full is not None and early is not None
    assert early["ops_per_unit"] == pytest.approx(full["ops_per_unit"] * 2.25 / 6)
    assert early["pct"] == pytest.approx(full["pct"] * 2.25 / 6)


def test_no_counted_work_no_figure() -> None:
    model = {"flops_per_sequence": None, "flops_seq_len": None, "file_size_bytes": 1e6, "precision": "int8"}
    t = _trial("sst2", model, {"duration_s": 1.0, "samples": 4, "requests": 4, "tokens": 40})
    assert of_trial(t, MACHINE) is None


def test_probe_agrees_with_numpys_gemm() -> None:
    """The probe's fp32 rate is of the order numpy's own BLAS reaches on the same machine, in the same run."""
    n = 1024
    m = probe(threads=(max(1, len(__import__("os").sched_getaffinity(0))),), n=n, elements=1 << 22, repeats=3)
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(5))
    numpy_gflops = 2 * n**3 / best / 1e9
    peak = m.peaks[0]
    torch_gflops = peak.by_library["fp32 torch matmul"]  # the runtime's library against numpy's own BLAS
    assert 1 / 4 < torch_gflops / numpy_gflops < 4, (torch_gflops, numpy_gflops)
    assert peak.fp32_gflops >= torch_gflops  # the peak is the best library's
    assert peak.int8_gops > 0 and peak.bandwidth_gb_s > 0 and peak.copy_gb_s > 0 and peak.triad_gb_s > 0


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_a_contended_probe_is_kept_briefly_then_measured_again(tmp_path, monkeypatch) -> None:
    import os

    from wattcut.measure import roofline

    monkeypatch.setenv("WATTCUT_CACHE", str(tmp_path))
    calls = []

    def fake_probe() -> Machine:
        calls.append(1)
        return Machine("synthetic", 4, (PEAK1,), {}, 0.0, contended_share=0.5)

    monkeypatch.setattr(roofline, "probe", fake_probe)
    first, cached = roofline.load_or_probe()
    assert not cached and first.contended_share == 0.5 and len(calls) == 1
    assert roofline.load_or_probe()[1] is True and len(calls) == 1  # a fresh contended probe stands for a while
    (path,) = (tmp_path / "roofline").glob("*.json")
    old = path.stat().st_mtime - roofline.RETRY_CONTENDED_S - 1
    os.utime(path, (old, old))
    assert roofline.load_or_probe()[1] is False and len(calls) == 2  # then it is measured again


def test_a_served_replay_with_concurrent_clients_is_bounded_as_a_whole() -> None:
    model = {
        "parameters": 100e6, "file_size_bytes": 200e6, "precision": "q8_0", "flops_per_sequence": None,
        "embedding_parameters": 20e6, "tied_embeddings": True,
    }  # fmt: skip
    workload = {
        "requests": 8, "concurrency": 4, "input_tokens": 400, "output_tokens": 88, "phase_wall_s": 2.0,
        "prefill_s": 3.0, "decode_s": 9.0,  # per-request sums overlap: more than the wall time
    }  # fmt: skip
    t = _trial("chat_replay", model, {"duration_s": 2.0, "samples": 8, "requests": 8, "tokens": 488}, 1, workload)
    r = of_trial(t, MACHINE)
    assert r is not None and r["served_concurrency"] == 4 and "decode" not in r
    assert r["memory_s"] == pytest.approx(200e6 * (8 + 80 / 4) / 10e9)  # one read per prefill and per decode step
    assert r["achieved_s"] == pytest.approx(2.0 / 8) and r["pct"] == pytest.approx(100 * r["bound_s"] / r["achieved_s"])
