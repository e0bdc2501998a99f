"""This machine's roofline, as wattcut's probe measures it, checked against numpy's own GEMM.

The probe (``wattcut.measure.roofline``) is what every study stores in its provenance and divides
each variant's attainable time by. Printed: the CPU, each thread count's peaks by library, the
STREAM copy/triad bandwidth, numpy's fp32 GEMM (its own BLAS) at the same size for comparison,
and what the bound means for MiniLM-L6 (the default study's model) at batch 1. Run:

    .venv/bin/python benchmarks/roofline.py > benchmarks/results/roofline.txt
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from wattcut.measure.provenance import cpu_info
from wattcut.measure.roofline import GEMM_N, probe


def numpy_gflops(n: int = GEMM_N, repeats: int = 3) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    cpu = cpu_info()
    flags = ", ".join(k for k, v in cpu["flags"].items() if v)
    m = probe()
    npg = numpy_gflops()
    print(f"# wattcut roofline probe ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"# CPU: {cpu['model']}, {cpu['logical_cores']} logical cores, ISA: {flags}")
    print(f"# libraries: {m.libraries}; probe took {m.duration_s:.1f} s")
    print(f"# method: {m.method}")
    print()
    head = ("threads", "fp32 GFLOP/s", "bf16 GFLOP/s", "int8 GOP/s", "copy GB/s", "triad GB/s")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (7, 13, 13, 11, 10, 11), strict=True)))
    for p in m.peaks:
        print(
            f"{p.threads:>7} {p.fp32_gflops:>13.1f} {p.bf16_gflops or 0:>13.1f} {p.int8_gops:>11.1f} "
            f"{p.copy_gb_s:>10.1f} {p.triad_gb_s:>11.1f}"
        )
    print()
    for p in m.peaks:
        libs = "; ".join(f"{k} {v:.1f}" for k, v in p.by_library.items())
        print(f"by library, {p.threads} thread(s): {libs}")
    top = m.at(None)
    print()
    print(
        f"numpy fp32 GEMM ({GEMM_N}x{GEMM_N}, its own BLAS, default threads): {npg:.1f} GFLOP/s "
        f"= {npg / top.by_library['fp32 torch matmul']:.2f}x the probe's {top.threads}-thread PyTorch figure"
    )
    # MiniLM-L6 at batch 1: 10.6 M weights in its 6 layers' matrices (4 x 384^2 + 2 x 384 x 1536 each), so
    # ~2 x 10.6e6 FLOPs per token (+ attention); 42.5 MB of fp32 matrix weights streamed once per request
    flops_per_token, weights = 2 * 10.6e6, 42.5e6
    for tokens in (16, 64):
        one = m.at(1)
        compute = flops_per_token * tokens / (one.fp32_gflops * 1e9)
        memory = weights / (one.bandwidth_gb_s * 1e9)
        print(
            f"MiniLM-L6 fp32, 1 thread, {tokens} tokens: compute {compute * 1e3:.2f} ms, weights {memory * 1e3:.2f} ms "
            f"-> bound {max(compute, memory) * 1e3:.2f} ms per request ({'compute' if compute > memory else 'memory'})"
        )


if __name__ == "__main__":
    main()
