"""The streaming feature engine: one code path for live serving and offline training.

See ``names`` for the feature list and definitions, ``buckets`` for why the live and the
batch path agree bit for bit, ``table`` for the wide training table and the digest.
"""

from csx_core.features.batch import TickBatch, load_kernels
from csx_core.features.config import EngineConfig
from csx_core.features.drive import EventClock, drive_events, drive_tables, drive_tables_batched
from csx_core.features.engine import FeatureEngine, snapshots_of
from csx_core.features.names import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURE_VERSION,
    PRICE_COLUMNS,
    WINDOWS_S,
)
from csx_core.features.table import (
    WIDE_DICTIONARY_COLUMNS,
    WIDE_SCHEMA,
    SnapshotDigest,
    batches_to_table,
    digest_frames,
    digest_table,
    frames_of_table,
    frames_to_table,
)
from csx_core.features.tick import TickFrame

__all__ = [
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "PRICE_COLUMNS",
    "WIDE_DICTIONARY_COLUMNS",
    "WIDE_SCHEMA",
    "WINDOWS_S",
    "EngineConfig",
    "EventClock",
    "FeatureEngine",
    "SnapshotDigest",
    "TickBatch",
    "TickFrame",
    "batches_to_table",
    "digest_frames",
    "digest_table",
    "drive_events",
    "drive_tables",
    "drive_tables_batched",
    "frames_of_table",
    "frames_to_table",
    "load_kernels",
    "snapshots_of",
]
