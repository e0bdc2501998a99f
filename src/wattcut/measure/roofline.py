"""This machine's roofline: peak arithmetic rates and memory bandwidth, measured once and cached.

A variant that is 4x cheaper means little without knowing how far it still is from what the
hardware allows. The probe measures, per thread count wattcut serves with (1 and every core):

- **GEMM throughput** with the libraries the runtimes use: fp32 and bf16 matrix products in
  PyTorch (oneDNN/MKL, the eager runtime's kernels) and fp32 in numpy's BLAS, int8 x int8 -> int32 products in PyTorch
  (``torch._int_mm``, oneDNN) and in ONNX Runtime (``MatMulInteger``, MLAS, the INT8 variants'
  kernels). Square ``n x n`` products, best of ``repeats`` after a warm-up, ``2 n^3`` operations
  each. A precision's peak is the best library's figure.
- **Memory bandwidth**, STREAM-style: ``copy`` (``a = b``, 2 x 4 bytes per element) and ``triad``
  (``a = b + s x c``, 3 x 4 bytes) over arrays far larger than the last-level cache, best of
  ``repeats``, counted as STREAM counts them (no write-allocate traffic).

These are achieved peaks (what the libraries reach), not datasheet peaks: an attainable bound
built on them is one a variant could actually meet. The result is cached under
``$WATTCUT_CACHE/roofline`` by CPU model, ISA flags, cores and library versions, and stored in
each study's provenance, so its report (a pure function of the store) states the figures it used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOFLINE_VERSION = 2
GEMM_N = 2048
STREAM_ELEMENTS = 1 << 25  # 128 MiB per fp32 array: far beyond any L3 this tool meets


@dataclass(frozen=True)
class Peak:
    """Achieved peaks at one thread count (GFLOP/s or GOP/s, GB/s), and each library's figure."""

    threads: int
    fp32_gflops: float
    int8_gops: float
    bandwidth_gb_s: float  # the better of copy and triad
    bf16_gflops: float | None = None
    copy_gb_s: float = 0.0
    triad_gb_s: float = 0.0
    by_library: dict[str, float] = field(default_factory=dict)  # e.g. "int8 onnxruntime MatMulInteger": 210.3

    def ops_per_s(self, precision: str) -> float:
        """Peak operations per second for a variant of ``precision``.

        Quantized types (int8/int4, GGUF Q*) get the int8 rate: llama.cpp multiplies them against q8
        activations, ORT GenAI at accuracy level 4 and OpenVINO's CPU plugin quantize activations
        dynamically. A runtime that de-quantizes to float instead would sit below this bound (its share of
        roofline reads low, never above 100%). bf16 gets the bf16 rate; everything else fp32's.
        """
        p = precision.lower()
        if "int" in p or p.startswith("q") or "gguf" in p:
            return self.int8_gops * 1e9  # quantized kernels multiply int8 (llama.cpp: q8 activations)
        if "bf16" in p and self.bf16_gflops:
            return self.bf16_gflops * 1e9
        return self.fp32_gflops * 1e9


@dataclass(frozen=True)
class Machine:
    """The roofline probe of one machine: a :class:`Peak` per probed thread count."""

    cpu: str
    logical_cores: int
    peaks: tuple[Peak, ...]
    libraries: dict[str, str | None]
    duration_s: float
    key: str = ""
    contended_share: float = 0.0  # other processes' CPU use during the probe, as a share of the machine
    version: int = ROOFLINE_VERSION
    method: str = (
        f"achieved peaks: best of repeated {GEMM_N}x{GEMM_N} GEMMs (PyTorch fp32/bf16/int8, numpy fp32, ONNX Runtime "
        "MatMulInteger int8; 2n^3 operations; a precision's peak is its best library's) and STREAM copy/triad "
        "over 128 MiB arrays (no write-allocate)"
    )

    def at(self, threads: int | None) -> Peak:
        """The peaks at ``threads`` (the nearest probed count; None: every core)."""
        want = threads or self.logical_cores
        return min(self.peaks, key=lambda p: (abs(p.threads - want), -p.threads))

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form (stored in provenance and in the cache)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Machine:
        """Read back :meth:`to_dict`."""
        d = dict(d)
        d["peaks"] = tuple(Peak(**p) for p in d["peaks"])
        return cls(**d)


def _best_s(fn: Any, repeats: int) -> float:
    fn()  # warm-up: first-call allocation and kernel selection are not throughput
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _ort_int8(n: int, threads: int, repeats: int) -> float | None:
    """GOP/s of ONNX Runtime's MatMulInteger (the INT8 variants' kernel family); None without ORT/onnx."""
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        "int8_gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])],
        initializer=[
            helper.make_tensor("b", TensorProto.INT8, [n, n], np.random.default_rng(0).integers(-127, 127, n * n))
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(1).integers(0, 255, (n, n), dtype=np.uint8)
    return 2 * n**3 / _best_s(lambda: sess.run(None, {"a": a}), repeats) / 1e9


def _numpy_fp32(n: int, threads: int, repeats: int) -> float | None:
    """GFLOP/s of numpy's own BLAS at ``threads`` (the fp32 peak is the best library's); None without threadpoolctl."""
    try:
        import numpy as np
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        return 2 * n**3 / _best_s(lambda: a @ a, repeats) / 1e9


def _probe_at(threads: int, n: int, elements: int, repeats: int) -> Peak:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        libs: dict[str, float] = {}
        g = torch.Generator().manual_seed(0)
        for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
            a = torch.randn(n, n, generator=g).to(dtype)
            b = torch.randn(n, n, generator=g).to(dtype)
            libs[f"{name} torch matmul"] = 2 * n**3 / _best_s(lambda a=a, b=b: torch.mm(a, b), repeats) / 1e9
        numpy_gflops = _numpy_fp32(n, threads, repeats)
        if numpy_gflops is not None:
            libs["fp32 numpy matmul"] = numpy_gflops
        ai = torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=g)
        bi = torch.randint(-127, 127, (n, n), dtype=torch.int8, generator=g)
        with contextlib.suppress(RuntimeError):  # no int8 GEMM kernel in this build: ONNX Runtime's stands alone
            libs["int8 torch _int_mm"] = 2 * n**3 / _best_s(lambda: torch._int_mm(ai, bi), repeats) / 1e9
        ort_gops = _ort_int8(n, threads, repeats)
        if ort_gops is not None:
            libs["int8 onnxruntime MatMulInteger"] = ort_gops
        x = torch.empty(elements)
        y = torch.rand(elements, generator=g)
        z = torch.rand(elements, generator=g)
        copy = 2 * 4 * elements / _best_s(lambda: x.copy_(y), repeats) / 1e9
        triad = 3 * 4 * elements / _best_s(lambda: torch.add(y, z, alpha=3.0, out=x), repeats) / 1e9
    finally:
        torch.set_num_threads(before)
    int8 = [v for k, v in libs.items() if k.startswith("int8")]
    return Peak(
        threads=threads,
        fp32_gflops=max(v for k, v in libs.items() if k.startswith("fp32")),
        int8_gops=max(int8) if int8 else libs["fp32 torch matmul"],
        bandwidth_gb_s=max(copy, triad),
        bf16_gflops=libs.get("bf16 torch matmul"),
        copy_gb_s=copy,
        triad_gb_s=triad,
        by_library=libs,
    )


def _libraries() -> dict[str, str | None]:
    from wattcut.measure.provenance import package_version

    return {p: package_version(p) for p in ("torch", "onnxruntime", "numpy")}


def machine_key() -> str:
    """Content key of this machine for the probe: CPU model, ISA flags, cores, library versions."""
    from wattcut.measure.provenance import cpu_info

    cpu = cpu_info()
    blob = json.dumps([ROOFLINE_VERSION, cpu, _libraries()], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def probe(
    threads: tuple[int, ...] | None = None, n: int = GEMM_N, elements: int = STREAM_ELEMENTS, repeats: int = 5
) -> Machine:
    """Measure the peaks now (about 10 s on 2 cores)."""
    import psutil

    from wattcut.measure.provenance import cpu_info

    cpu = cpu_info()
    cores = int(cpu.get("cores_available") or os.cpu_count() or 1)
    counts = threads or tuple(sorted({1, cores}))
    me = psutil.Process()
    busy0, own0, t0 = _busy_s(), sum(me.cpu_times()[:2]), time.perf_counter()
    peaks = tuple(_probe_at(t, n, elements, repeats) for t in counts)
    wall = time.perf_counter() - t0
    # CPU time that other processes took meanwhile, as a share of the machine: a probe that shared the CPU
    # reads low peaks, and every later "% of roofline" would read high
    others = max(0.0, (_busy_s() - busy0) - (sum(me.cpu_times()[:2]) - own0)) / (wall * (os.cpu_count() or 1))
    return Machine(
        cpu=str(cpu.get("model")),
        logical_cores=cores,
        peaks=peaks,
        libraries=_libraries(),
        duration_s=wall,
        key=machine_key(),
        contended_share=others,
    )


def _busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return float(t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


def _cache_dir() -> Path:
    return Path(os.environ.get("WATTCUT_CACHE") or Path.home() / ".cache" / "wattcut") / "roofline"


CONTENDED = 0.10  # above this share of the machine used by others, a probe reads low
RETRY_CONTENDED_S = 600.0  # a contended probe in the cache is measured again once it is this old


def load_or_probe(cache: bool = True) -> tuple[Machine, bool]:
    """This machine's cached probe, or a new one measured now; and whether it was cached.

    A probe during which other processes used more than :data:`CONTENDED` of the machine says so in
    its figures (the report warns); it is cached like any other, but measured again when a later run
    finds it older than :data:`RETRY_CONTENDED_S`, so a busy moment does not stand for the machine.
    """
    key = machine_key()
    path = _cache_dir() / f"{key}.json"
    if cache and path.is_file():
        try:
            machine = Machine.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError):
            machine = None  # a damaged or older cache entry: measure again and overwrite it
        fresh = time.time() - path.stat().st_mtime < RETRY_CONTENDED_S
        if machine is not None and (machine.contended_share <= CONTENDED or fresh):
            return machine, True
    machine = probe()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(machine.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)
    return machine, False
