"""Compression techniques, one module each, registered in :data:`TECHNIQUES`.

Adding a technique: write ``compress/<name>.py`` with a frozen config dataclass and an
``apply`` function decorated with :func:`technique`, import it below, add its test.
"""

from wattcut.compress import ort_int8, prune_ffn, prune_l1  # noqa: F401  (registration)
from wattcut.compress.base import TECHNIQUES, CompressContext, Technique, check_pipeline

__all__ = ["TECHNIQUES", "CompressContext", "Technique", "check_pipeline"]
