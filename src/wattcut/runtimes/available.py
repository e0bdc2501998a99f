"""Which runtimes this environment offers, and why one is not (``wattcut env``; no network access)."""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeProbe:
    """One runtime: available or not, its version, what it serves, and the reason or fix."""

    runtime: str
    serves: str
    available: bool
    detail: str


LLM_EXTRA = 'pip install -e ".[llm]" (bash scripts/setup.sh --llm)'
# runtime, what it serves, the modules it needs (first one's distribution gives the version), the fix
_CANDIDATES = (
    ("pytorch", "classifiers, causal LMs (baseline)", ("torch",), "pip install torch==2.13.0"),
    ("onnxruntime", "classifiers (INT8)", ("onnxruntime",), "pip install onnxruntime"),
    ("openvino", "classifiers (INT8, weight-only)", ("openvino",), "pip install openvino"),
    ("openvino-genai", "causal LMs (GGUF, NNCF INT8/INT4)", ("openvino_genai", "openvino_tokenizers"), LLM_EXTRA),
    ("onnxruntime-genai", "causal LMs (int4/int8/fp32 builder)", ("onnxruntime_genai", "onnx_ir"), LLM_EXTRA),
    ("llamacpp", "causal LMs (GGUF k-quants)", ("llama_cpp",), "bash scripts/setup.sh --llm (builds llama-cpp-python)"),
)
_DIST = {"openvino_genai": "openvino-genai", "onnxruntime_genai": "onnxruntime-genai", "llama_cpp": "llama-cpp-python"}


# Imported to probe: a native library that does not load (a wheel built for another CPU) shows up. The
# others are only located: importing OpenVINO starts its telemetry, and `wattcut env` makes no network access.
_IMPORT = {"llama_cpp"}


def _find(module: str) -> None:
    import importlib.util

    if module in _IMPORT:
        importlib.import_module(module)
    elif importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def probe_runtimes() -> list[RuntimeProbe]:
    """Locate each runtime's modules (llama.cpp's is loaded; no model is) and report what works."""
    out = []
    for runtime, serves, modules, fix in _CANDIDATES:
        try:
            for m in modules:
                _find(m)
        except ImportError as e:
            out.append(RuntimeProbe(runtime, serves, False, f"{e.name or modules[0]} is not installed; {fix}"))
            continue
        except OSError as e:  # a native library that does not load (built for another CPU)
            out.append(RuntimeProbe(runtime, serves, False, f"{str(e).splitlines()[0]}; rebuild: {fix}"))
            continue
        try:
            version = importlib.metadata.version(_DIST.get(modules[0], modules[0]))
        except importlib.metadata.PackageNotFoundError:
            version = "unknown version"
        out.append(RuntimeProbe(runtime, serves, True, version))
    return out
