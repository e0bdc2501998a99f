"""Turn a ``[data]`` config into training and evaluation datasets."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from wattcut.data.catalog import DATASETS, DatasetSpec, data_dirs, shown
from wattcut.data.files import detect_format, read_table
from wattcut.errors import UserInputError
from wattcut.settings import DataConfig


@dataclass(frozen=True)
class TextDataset:
    """Texts with integer labels.

    Attributes:
        texts: The inputs.
        labels: Class indices into ``label_names``.
        label_names: Class names, index = class id.
        source: Where the rows came from (file path or hub id + split).
    """

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def _label_order(raw: list[str], fixed: tuple[str, ...] = ()) -> list[str]:
    names = sorted(set(raw))
    if fixed and set(names) <= set(fixed):
        return list(fixed)
    try:
        return sorted(names, key=int)  # "0","1","2" or "1","2" (fastText) keep numeric order
    except ValueError:
        return names


def _encode(texts: list[str], raw: list[str], names: list[str], source: str) -> TextDataset:
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(raw) - set(index))
    if unknown:
        raise UserInputError(
            f'"{source}" has labels {unknown} that the training split does not have ({names}).',
            "Use an evaluation file with the same label set as the training file.",
        )
    return TextDataset(texts, [index[r] for r in raw], names, source)


def _stratified_split(texts: list[str], raw: list[str], seed: int = 1234) -> dict[str, tuple[list[str], list[str]]]:
    """80/10/10 per label, fixed seed: the same split on every machine."""
    parts: dict[str, tuple[list[str], list[str]]] = {s: ([], []) for s in ("train", "dev", "test")}
    rng = random.Random(seed)
    for label in sorted(set(raw)):
        idx = [i for i, r in enumerate(raw) if r == label]
        rng.shuffle(idx)
        a, b = int(0.8 * len(idx)), int(0.9 * len(idx))
        for split, chunk in (("train", idx[:a]), ("dev", idx[a:b]), ("test", idx[b:])):
            parts[split][0].extend(texts[i] for i in chunk)
            parts[split][1].extend(raw[i] for i in chunk)
    return parts


def _find_folder(name: str, spec: DatasetSpec) -> Path:
    tried = []
    for d in data_dirs():
        folder = d / spec.folder
        tried.append(str(folder))
        if all((folder / f).is_file() for f in spec.splits.values()):
            return folder
    hub = f" or read it from the Hugging Face hub instead with [data] {spec.hub}" if spec.hub else ""
    raise UserInputError(
        f'The dataset "{name}" was not found; looked for {", ".join(spec.splits.values())} in: {"; ".join(tried)}.',
        f"Put the files in one of those folders (or point WATTCUT_DATA_DIR at a folder that holds "
        f'"{spec.folder}/"){hub}.',
    )


def _named_splits(cfg: DataConfig, spec: DatasetSpec) -> tuple[dict[str, tuple[list[str], list[str]]], str]:
    assert cfg.name is not None
    folder = _find_folder(cfg.name, spec)
    read = {
        split: read_table(folder / f, spec.format, spec.text_column, spec.label_column, spec.quoting, spec.encoding)
        for split, f in spec.splits.items()
    }
    if set(read) == {"all"}:
        return _stratified_split(*read["all"]), str(folder)
    return read, str(folder)


def _hub_splits(cfg: DataConfig) -> tuple[dict[str, tuple[list[str], list[str]]], str]:
    try:
        import datasets
    except ImportError:
        raise UserInputError(
            f'[data] hub = "{cfg.hub}" needs the "datasets" package, which is not installed.',
            'Install it with `pip install "wattcut[hub]"`, or use files from the data folder with [data] name.',
        ) from None
    try:
        ds = datasets.load_dataset(cfg.hub, cfg.hub_config)
    except Exception as e:  # datasets raises many types for "not reachable / not found"
        raise UserInputError(
            f'Could not load the hub dataset "{cfg.hub}": {str(e).splitlines()[0]}',
            "Check the id and your network, or download the files and use [data] train_file/eval_file.",
        ) from None
    out = {}
    for split in ds:
        cols = ds[split].column_names
        if cfg.text_column not in cols or cfg.label_column not in cols:
            raise UserInputError(
                f'The hub dataset "{cfg.hub}" split "{split}" has columns {cols}.',
                "Set [data] text_column and label_column to two of them.",
            )
        out[split] = (
            [str(t) for t in ds[split][cfg.text_column]],
            [str(x) for x in ds[split][cfg.label_column]],
        )
    return out, f"hub:{cfg.hub}"


def _subset(ds: TextDataset, size: int | None, seed: int, setting: str) -> TextDataset:
    if size is None or size == len(ds):
        return ds
    if size > len(ds):
        raise UserInputError(
            f"[data] {setting} = {size} is larger than the dataset, which has {len(ds)} rows ({ds.source}).",
            f"Set {setting} to {len(ds)} or less, or remove it to use every row.",
        )
    idx = sorted(random.Random(seed).sample(range(len(ds)), size))
    return TextDataset([ds.texts[i] for i in idx], [ds.labels[i] for i in idx], ds.label_names, ds.source)


def load_splits(cfg: DataConfig, seed: int = 0) -> tuple[TextDataset, TextDataset]:
    """Load the training and evaluation datasets for ``cfg``.

    Subsets (``train_size``, ``eval_size``) are sampled with ``seed`` so every trial of a
    study sees the same rows.

    Raises:
        UserInputError: Missing files or columns, an unknown split, or a subset larger
            than the data.
    """
    fixed: tuple[str, ...] = ()
    if cfg.name is not None:
        spec = DATASETS.get(cfg.name)
        fixed = spec.labels
        splits, where = _named_splits(cfg, spec)
        sources = {s: shown(f"{where}/{spec.splits.get(s, spec.splits.get('all', ''))}") for s in splits}
    elif cfg.hub is not None:
        splits, where = _hub_splits(cfg)
        sources = {s: f"{where}[{s}]" for s in splits}
    else:
        assert cfg.train_file is not None and cfg.eval_file is not None
        splits, sources = {}, {}
        for split, f in ((cfg.train_split, cfg.train_file), (cfg.eval_split, cfg.eval_file)):
            path = Path(f).expanduser()
            if not path.is_file():
                raise UserInputError(
                    f'The dataset file "{f}" does not exist (looked for "{path.resolve()}").',
                    "Check [data] train_file and eval_file: a relative path is read from the experiment file's "
                    "folder, else from the current directory.",
                )
            fmt = detect_format(path, cfg.format)
            splits[split] = read_table(path, fmt, cfg.text_column, cfg.label_column, encoding=cfg.encoding)
            sources[split] = shown(path)
    for setting, split in (("train_split", cfg.train_split), ("eval_split", cfg.eval_split)):
        if split not in splits:
            raise UserInputError(
                f'[data] {setting} = "{split}" is not a split of this dataset.',
                f"Splits available: {', '.join(sorted(splits))}.",
            )
    train_texts, train_raw = splits[cfg.train_split]
    if not train_texts:
        raise UserInputError(f"The training split ({sources[cfg.train_split]}) is empty.", "Use a file with rows.")
    names = _label_order(train_raw, fixed)
    if len(names) < 2:
        raise UserInputError(
            f"The training split has a single label ({names}); classification needs at least two.",
            "Check [data] label_column.",
        )
    train = _encode(train_texts, train_raw, names, sources[cfg.train_split])
    if not splits[cfg.eval_split][0]:
        raise UserInputError(
            f"The evaluation split ({sources[cfg.eval_split]}) has no rows (a header only?).",
            "Use an evaluation file with labelled rows: nothing could be scored.",
        )
    evals = _encode(*splits[cfg.eval_split], names, sources[cfg.eval_split])
    return _subset(train, cfg.train_size, seed, "train_size"), _subset(evals, cfg.eval_size, seed, "eval_size")
