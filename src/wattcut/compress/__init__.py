"""Compression techniques, one module each, registered in :data:`TECHNIQUES`.

Adding a technique: write ``compress/<name>.py`` with a frozen config dataclass and an
``apply`` function decorated with :func:`technique`, import it below, add its test.
"""

from wattcut.compress import (  # noqa: F401  (registration)
    distill,
    early_exit,
    finetune,
    gguf_quantize,
    lowrank,
    ort_genai,
    ort_int8,
    ort_int8_static,
    ort_optimize,
    ov_int8,
    ov_weight_compress,
    ov_weights,
    prune_2_4,
    prune_budget,
    prune_ffn,
    prune_heads,
    prune_l1,
    prune_layers,
    pt_bf16,
    pt_int8,
)
from wattcut.compress.base import TECHNIQUES, CompressContext, Technique, check_pipeline

__all__ = ["TECHNIQUES", "CompressContext", "Technique", "check_pipeline"]
