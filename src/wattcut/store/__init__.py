"""Results store: one SQLite file per output folder (``wattcut.sqlite``).

Every trial is committed in its own transaction as soon as it ends, so an interrupted
study keeps everything that finished. See :mod:`wattcut.store.sqlite`.
"""

from wattcut.store.records import SCHEMA_VERSION
from wattcut.store.sqlite import STORE_NAME, Store

__all__ = ["SCHEMA_VERSION", "STORE_NAME", "Store"]
