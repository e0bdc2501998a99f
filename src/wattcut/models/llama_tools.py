"""llama.cpp's own conversion tools: ``convert_hf_to_gguf.py``, ``llama-quantize`` and ``llama-imatrix``.

``scripts/setup.sh --llm`` builds llama-cpp-python from its source distribution, and keeps
from the same tree the converter (with its ``conversion/`` package and the ``gguf-py`` of the
same commit) and the quantize and imatrix tools, in ``<venv>/share/wattcut/llama.cpp``
(``WATTCUT_LLAMA_CPP_DIR`` points elsewhere). wattcut runs them as subprocesses: whatever
architecture the converter supports (Llama, Qwen2/3, Gemma 2/3, Phi-3, Mistral, GPT-2...)
reaches llama.cpp and OpenVINO GenAI, and the quantizer gets an importance matrix.

Converted f16 GGUFs (and importance matrices) are cached under ``$WATTCUT_CACHE/converted``
by the content hash of the source folder and the conversion settings: a variant converted
once is not converted again by the next trial or study.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from wattcut.errors import UserInputError

SETUP_HINT = "Run `bash scripts/setup.sh --llm`, which builds llama.cpp and keeps its converter and tools."


def tools_dir() -> Path:
    """Where the converter and tools live (``WATTCUT_LLAMA_CPP_DIR``, else ``<venv>/share/wattcut/llama.cpp``)."""
    env = os.environ.get("WATTCUT_LLAMA_CPP_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "wattcut" / "llama.cpp"


def require() -> Path:
    """The tools folder, or an input error saying how to get it."""
    root = tools_dir()
    missing = [
        p for p in ("convert_hf_to_gguf.py", "conversion", "gguf-py", "bin/llama-quantize") if not (root / p).exists()
    ]
    if missing:
        raise UserInputError(
            f'llama.cpp\'s conversion tools are not installed in "{root}" (missing: {", ".join(missing)}).',
            SETUP_HINT + " Or set WATTCUT_LLAMA_CPP_DIR to a folder that holds them.",
        )
    return root


@functools.cache
def architectures() -> dict[str, str]:
    """Every Hugging Face architecture the installed converter registers, mapped to its GGUF architecture.

    Read from the converter's sources (``@ModelBase.register("...")`` and the class's
    ``model_arch``, inherited where a class does not set it), without importing them.
    """
    root = require()
    sources = [root / "convert_hf_to_gguf.py", *sorted((root / "conversion").glob("*.py"))]
    registered: dict[str, str] = {}  # HF architecture -> class
    classes: dict[str, tuple[str, str | None]] = {}  # class -> (first parent, own MODEL_ARCH)
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^class (\w+)\(([\w.]+)[^)]*\):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            arch = re.search(r"^\s+model_arch\s*=\s*gguf\.MODEL_ARCH\.(\w+)", m.group(3), re.M)
            classes[m.group(1)] = (m.group(2).split(".")[-1], arch.group(1) if arch else None)
        for m in re.finditer(r"@ModelBase\.register\(([^)]*)\)", text):
            cls = re.compile(r"^class (\w+)", re.M).search(text, m.end())  # the class the decorator applies to
            if cls is not None:
                for name in re.findall(r"[\"']([\w.-]+)[\"']", m.group(1)):
                    registered[name] = cls.group(1)

    def arch_of(cls: str, depth: int = 0) -> str | None:
        parent, own = classes.get(cls, (None, None))
        if own is not None or parent is None or depth > 10:
            return own
        return arch_of(parent, depth + 1)

    return {hf: (arch_of(cls) or "?").lower() for hf, cls in registered.items()}


def architecture(folder: str | Path) -> str:
    """The HF architecture named in ``folder``'s config.json (the first of ``architectures``)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserInputError(f'"{folder}" has no readable config.json.', "Point [model] at a model folder.") from None
    archs = config.get("architectures") or []
    return str(archs[0]) if archs else str(config.get("model_type", "?"))


def check_convertible(folder: str | Path, technique: str, allowed: tuple[str, ...] | None = None) -> str:
    """The GGUF architecture ``folder`` converts to; exit 2 naming it if the converter (or ``allowed``) refuses.

    Args:
        folder: A Hugging Face model folder.
        technique: The technique asking, for the message.
        allowed: GGUF architectures the consumer reads (OpenVINO GenAI's GGUF reader), or None for any.
    """
    hf = architecture(folder)
    known = architectures()
    if hf not in known:
        raise UserInputError(
            f"{technique}: llama.cpp's converter does not support the architecture {hf} (from {folder}/config.json).",
            f"Use a decoder it supports ({len(known)} architectures, e.g. LlamaForCausalLM, Qwen2ForCausalLM, "
            "Gemma3ForCausalLM, Phi3ForCausalLM, GPT2LMHeadModel), or a technique that stays in PyTorch.",
        )
    arch = known[hf]
    if allowed is not None and arch not in allowed:
        raise UserInputError(
            f"{technique}: this model's architecture {hf} (GGUF {arch}) is not one OpenVINO GenAI's GGUF reader "
            f"supports ({', '.join(allowed)}).",
            "Quantize it for llama.cpp with gguf_quantize instead, or use a model of a supported architecture.",
        )
    return arch


def _digest(paths: list[Path], settings: dict[str, object]) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for p in sorted(paths):
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:24]


def cache_dir() -> Path:
    """``$WATTCUT_CACHE/converted`` (or ``~/.cache/wattcut/converted``)."""
    return Path(os.environ.get("WATTCUT_CACHE") or Path.home() / ".cache" / "wattcut") / "converted"


def _converter_version(root: Path) -> str:
    return hashlib.sha256((root / "convert_hf_to_gguf.py").read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Converted:
    """A converted file and whether it came from the cache (then no conversion energy was spent now)."""

    path: Path
    cached: bool
    key: str


def _run(cmd: list[str], log: Path, what: str, env: dict[str, str] | None = None) -> None:
    with open(log, "w", encoding="utf-8") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-6:]
        raise UserInputError(
            f"{what} failed (exit code {code}): " + " | ".join(line.strip() for line in tail)[-800:],
            f"The whole log is in {log}. If the model is unusual, try it with llama.cpp's tools by hand first.",
        )


def tool_env(root: Path | None = None) -> dict[str, str]:
    """The environment llama.cpp's tools run in (their shared libraries beside them)."""
    root = root or tools_dir()
    env = dict(os.environ)
    lib = str(root / "bin")
    env["LD_LIBRARY_PATH"] = lib + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


def convert(folder: Path, outtype: str, log: Path) -> Converted:
    """``folder`` (an HF model folder) as a GGUF of ``outtype`` (``f16``, ``f32``, ``bf16``, ``q8_0``), cached."""
    root = require()
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".json", ".safetensors", ".model", ".txt")]
    key = _digest(files, {"outtype": outtype, "converter": _converter_version(root)})
    target = cache_dir() / f"{key}-{outtype}.gguf"
    if target.is_file():
        return Converted(target, True, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    cmd = [sys.executable, str(root / "convert_hf_to_gguf.py"), str(folder), "--outtype", outtype]
    _run([*cmd, "--outfile", str(tmp)], log, "llama.cpp's convert_hf_to_gguf.py")
    os.replace(tmp, target)  # atomic: a concurrent or interrupted conversion never leaves half a file
    return Converted(target, False, key)


def imatrix(model: Path, text: Path, chunks: int, context: int, threads: int, log: Path) -> Converted:
    """llama.cpp's importance matrix of ``model`` on ``text`` (``chunks`` windows of ``context`` tokens), cached."""
    root = require()
    key = _digest([model, text], {"chunks": chunks, "context": context, "tool": "imatrix"})
    target = cache_dir() / f"{key}-imatrix.gguf"
    if target.is_file():
        return Converted(target, True, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{key}.{os.getpid()}-imatrix.gguf")
    cmd = [str(root / "bin" / "llama-imatrix"), "-m", str(model), "-f", str(text), "-o", str(tmp)]
    cmd += ["--chunks", str(chunks), "-c", str(context), "-t", str(threads), "--no-ppl"]
    _run(cmd, log, "llama.cpp's llama-imatrix", tool_env(root))
    os.replace(tmp, target)
    return Converted(target, False, key)


def quantize(src: Path, dst: Path, kind: str, threads: int, log: Path, matrix: Path | None = None) -> Path:
    """``llama-quantize [--imatrix M] src dst KIND threads``."""
    root = require()
    cmd = [str(root / "bin" / "llama-quantize")]
    if matrix is not None:
        cmd += ["--imatrix", str(matrix)]
    _run([*cmd, str(src), str(dst), kind, str(threads)], log, f"llama.cpp's llama-quantize to {kind}", tool_env(root))
    return dst
