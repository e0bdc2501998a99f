"""Provenance: what produced a result (software versions, hardware, code revision)."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import wattcut

_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "onnxruntime",
    "openvino",
    "nncf",
    "numpy",
    "scikit-learn",
)
_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def package_version(pkg: str) -> str | None:
    """An installed package's version, or None."""
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def _git() -> dict[str, Any] | None:
    here = Path(wattcut.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None  # installed from a wheel, or no git: there is no commit to report
    return {"commit": commit, "dirty": bool(dirty)}


def cpu_info() -> dict[str, Any]:
    """CPU model, ISA flags relevant to INT8/bf16 kernels, and core counts."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", platform.processor()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {
        "model": model,
        "flags": {f: f in flags for f in _FLAGS},
        "logical_cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def _gpus() -> list[str]:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def power_models(cpu_w_per_core: float | None = None, ram_w_per_gb: float | None = None) -> dict[str, Any]:
    """The inferred microarchitecture and the CPU and RAM power models an estimate on this machine uses."""
    from dataclasses import asdict

    from wattcut.measure.cputime import cpu_power
    from wattcut.measure.microarch import this_machine
    from wattcut.measure.power_models import ram_model

    march = this_machine()
    power = cpu_power(cpu_w_per_core)
    ram = ram_model(march, ram_w_per_gb)
    return {
        "microarchitecture": {**asdict(march), "label": march.label()},
        "cpu": {
            "origin": power.origin,
            "model": None if power.model is None else asdict(power.model),
            "w_per_core": power.w_per_core,
        },
        "ram": asdict(ram),
    }


def collect(cpu_w_per_core: float | None = None, ram_w_per_gb: float | None = None) -> dict[str, Any]:
    """Everything needed to say where and with what a result was produced."""
    import psutil

    return {
        "wattcut_version": wattcut.__version__,
        "git": _git(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: package_version(p) for p in _PACKAGES},
        "cpu": cpu_info(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 2),
        "gpus": _gpus(),
        "hostname": socket.gethostname(),
        "power_models": power_models(cpu_w_per_core, ram_w_per_gb),
    }
