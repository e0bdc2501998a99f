"""Compression techniques, one module each, registered in :data:`TECHNIQUES`.

Adding a technique: write ``compress/<name>.py`` with a frozen config dataclass and an
``apply`` function decorated with :func:`technique`, and its test; every module of this
package is imported here, so nothing else is edited. Technique modules import torch and
runtimes inside ``apply`` only, so this stays light.
"""

import importlib
import pkgutil

from wattcut.compress.base import TECHNIQUES, CompressContext, Technique, check_pipeline

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")  # registration

__all__ = ["TECHNIQUES", "CompressContext", "Technique", "check_pipeline"]
