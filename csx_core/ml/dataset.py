"""A training table from replayed feature files, bounded in memory.

Labels need every tick (the forward window runs over 1 s ticks), but neighbouring ticks'
labels overlap almost entirely, so training on every tick adds rows, not information.
``labelled_sample`` labels at full resolution from the narrow price columns, keeps one tick
in ``stride_s`` seconds, and only then reads the wide feature rows for those ticks, file by
file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from csx_core.features import PRICE_COLUMNS
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import FEATURE_NAMES_KEY, NS_PER_S, sort_by_symbol_time
from csx_core.ml.labels import LABEL_COLUMNS, LabelConfig, label_features

KEY_COLUMNS = ("symbol", "ts")


def labelled_sample(
    files: Sequence[Path], cost: CostModel, labels: LabelConfig, *, stride_s: int
) -> pa.Table:
    """Feature rows of every ``stride_s``-th second (UTC-aligned) that could be labelled,
    with the label columns appended and the feature metadata kept."""
    if not files:
        raise ValueError("no feature files to label")
    if stride_s < 1:
        raise ValueError(f"stride_s must be >= 1, got {stride_s}")
    metadata = pq.read_schema(files[0]).metadata
    extra = [labels.volume_feature] if labels.volume_feature else []
    narrow_columns = [*KEY_COLUMNS, "warm", "gap", *PRICE_COLUMNS, *extra]
    narrow = pa.concat_tables(pq.read_table(f, columns=narrow_columns) for f in files)
    labelled = label_features(narrow.replace_schema_metadata(metadata), cost, labels)
    labelled = labelled.select([*KEY_COLUMNS, *LABEL_COLUMNS])
    labelled = labelled.filter(_on_stride(labelled, stride_s))
    wide = pa.concat_tables(_sampled_rows(f, stride_s) for f in files)
    joined = wide.join(labelled, keys=list(KEY_COLUMNS), join_type="inner")
    return sort_by_symbol_time(joined.replace_schema_metadata(metadata))


def feature_files(root: Path) -> list[Path]:
    """The replay's day files under ``root`` (``date=YYYY-MM-DD/features.parquet``), in
    date order."""
    return sorted(root.glob("date=*/features.parquet"))


def feature_names_of(path: Path) -> tuple[str, ...]:
    metadata = pq.read_schema(path).metadata or {}
    return tuple(json.loads(metadata[FEATURE_NAMES_KEY]))


def _on_stride(table: pa.Table, stride_s: int) -> pa.Array:
    ts = np.asarray(table.column("ts").to_numpy(), dtype=np.int64)
    return pa.array((ts // NS_PER_S) % stride_s == 0)


def _sampled_rows(path: Path, stride_s: int) -> pa.Table:
    table = pq.read_table(path)
    return table.filter(_on_stride(table, stride_s))
