"""The Parquet event store: every market event the platform records, imports or simulates.

See ``csx_core.store.store`` for the layout and guarantees.
"""

from csx_core.store.errors import SchemaMismatchError, StoreCorruption
from csx_core.store.keys import DEDUP_KEYS, KIND_ORDER, SORT_KEYS
from csx_core.store.store import EventStore, WriteReport
from csx_core.store.validate import InvalidRowsError

__all__ = [
    "DEDUP_KEYS",
    "KIND_ORDER",
    "SORT_KEYS",
    "EventStore",
    "InvalidRowsError",
    "SchemaMismatchError",
    "StoreCorruption",
    "WriteReport",
]
