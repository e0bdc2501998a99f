"""GGUF checkpoints, de-quantized once into a plain Hugging Face folder in wattcut's cache.

transformers reads a GGUF file (``from_pretrained(folder, gguf_file=...)``, needs the
``gguf`` and ``accelerate`` packages) by de-quantizing every tensor to fp32, which takes
30-100 s on a small CPU; it also refuses ``save_pretrained`` on such a model. wattcut does
the conversion once, writes an fp32 safetensors folder (config without the GGUF
quantization entry, tokenizer with its chat template) under
``~/.cache/wattcut/gguf/<name>-<size>-<mtime>/``, and loads that folder afterwards.

The "fp32" model so obtained still carries the GGUF's 4-bit rounding error: reports say so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from wattcut.errors import UserInputError


def cache_root() -> Path:
    """Where converted folders live (``$WATTCUT_CACHE`` or ``~/.cache/wattcut``)."""
    return Path(os.environ.get("WATTCUT_CACHE") or Path.home() / ".cache" / "wattcut") / "gguf"


def dequantized_folder(folder: str | Path, gguf_file: str) -> Path:
    """An HF folder with ``gguf_file`` (inside ``folder``) de-quantized to fp32, converted on first use.

    Raises:
        UserInputError: The file is missing, or ``gguf``/``accelerate`` are not installed.
    """
    path = Path(folder) / gguf_file
    if not path.is_file():
        found = ", ".join(p.name for p in Path(folder).glob("*.gguf")) or "none"
        raise UserInputError(
            f'[model] gguf_file = "{gguf_file}" is not in "{folder}".',
            f"Give the name of a .gguf file there (found: {found}).",
        )
    stat = path.stat()
    target = cache_root() / f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}"
    if (target / "config.json").is_file():
        _mark_source(target, path)
        return target
    check_gguf(path)  # malformed files are refused here, before transformers reads them
    for module in ("gguf", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            raise UserInputError(
                f"Reading a GGUF checkpoint needs the {module} package, which is not installed.",
                'Install the language-model extra: pip install -e ".[llm]" (scripts/setup.sh --llm does).',
            ) from None
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from wattcut.ui import console

    console.print(f"converting {path.name} to an fp32 folder in {target.parent} (once; ~30-100 s)...")
    transformers.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # "gguf" would make save_pretrained refuse; the weights are fp32 now
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "WATTCUT_SOURCE.txt").write_text(
            f"De-quantized to fp32 by wattcut from {path} ({stat.st_size} bytes). The weights carry the GGUF's "
            "quantization error.\n"
        )
        os.replace(tmp, target)  # atomic: a concurrent or interrupted conversion never leaves half a folder
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    _mark_source(target, path)
    return target


def check_gguf(path: Path) -> str:
    """The architecture of a readable GGUF file that transformers can de-quantize; exit 2 otherwise.

    Random bytes, a header only, a file cut short or an architecture transformers cannot
    read are refused here, by ``validate`` too, before any conversion starts.
    """
    try:
        from gguf import GGUFReader
    except ImportError:
        raise UserInputError(
            "Reading a GGUF checkpoint needs the gguf package, which is not installed.",
            'Install the language-model extra: pip install -e ".[llm]" (scripts/setup.sh --llm does).',
        ) from None
    fix = "Download the file again (it may be cut short or not a GGUF), or give another gguf_file."
    try:
        reader = GGUFReader(path)
        field = reader.fields.get("general.architecture")
        arch = bytes(field.parts[field.data[0]]).decode("utf-8") if field is not None else None
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except Exception as e:  # noqa: BLE001  (gguf raises ValueError, KeyError, IndexError... on malformed input)
        raise UserInputError(f'"{path}" is not a readable GGUF file ({type(e).__name__}: {e}).', fix) from None
    if not reader.tensors or end > path.stat().st_size:
        raise UserInputError(f'"{path}" is not a complete GGUF file (its tensors are missing or cut short).', fix)
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    if arch is None or arch not in GGUF_SUPPORTED_ARCHITECTURES or arch in ("general", "tokenizer"):
        known = ", ".join(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer"))
        raise UserInputError(
            f'"{path}" holds a "{arch}" model, which transformers cannot de-quantize from GGUF.',
            f"Use a GGUF of a supported architecture ({known}), or the model's Hugging Face folder (name_or_path).",
        )
    return arch


SOURCE_MARK = "wattcut_gguf_source.json"


def _mark_source(folder: Path, gguf_path: Path) -> None:
    """Record which GGUF a converted folder came from (GGUF export reuses its tokenizer metadata)."""
    import json

    mark = folder / SOURCE_MARK
    if not mark.is_file():
        mark.write_text(json.dumps({"gguf": str(gguf_path.resolve())}) + "\n", encoding="utf-8")


def source_gguf(folder: str | Path) -> Path | None:
    """The GGUF file a converted folder came from, if it came from one and the file is still there."""
    import json

    mark = Path(folder) / SOURCE_MARK
    if not mark.is_file():
        return None
    path = Path(json.loads(mark.read_text(encoding="utf-8"))["gguf"])
    return path if path.is_file() else None
