"""Labelled text datasets: files, named datasets in a data folder, or the Hugging Face hub.

Entry point: :func:`load_splits` returns the training and evaluation :class:`TextDataset`
for a ``[data]`` config, with subsets sampled reproducibly by seed.
"""

from wattcut.data.catalog import DATASETS, data_dirs
from wattcut.data.core import TextDataset, load_splits

__all__ = ["DATASETS", "TextDataset", "data_dirs", "load_splits"]
