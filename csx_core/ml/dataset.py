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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from csx_core.ahead import ahead
from csx_core.features import PRICE_COLUMNS
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import FEATURE_NAMES_KEY, NS_PER_S, sort_by_symbol_time
from csx_core.ml.labels import LABEL_COLUMNS, LabelConfig, label_features

KEY_COLUMNS = ("symbol", "ts")


def budget_stride(
    files: Sequence[Path], stride_s: int, max_rows: int | None, *, tick_s: int = 1
) -> int:
    """``stride_s`` (a multiple of the files' tick cadence ``tick_s``), lengthened by a
    whole factor until the sample fits ``max_rows``: the training set's memory budget,
    whatever the number of days or symbols. The sample keeps one tick in ``stride_s /
    tick_s`` of the rows the files hold (counted from their Parquet footers)."""
    if max_rows is None:
        return stride_s
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    if tick_s < 1 or stride_s % tick_s:
        raise ValueError(f"stride_s ({stride_s}) must be a multiple of tick_s ({tick_s})")
    total = sum(int(pq.ParquetFile(f).metadata.num_rows) for f in files)
    return stride_s * max(1, -(-total * tick_s // (stride_s * max_rows)))


def labelled_sample(
    files: Sequence[Path], cost: CostModel, labels: LabelConfig, *, stride_s: int
) -> pa.Table:
    """Feature rows of every ``stride_s``-th second (UTC-aligned) that could be labelled,
    with the label columns appended and the feature metadata kept.

    Streamed day by day: each day file is labelled from its own narrow price columns plus
    the head of the next day (the horizon of the rows before midnight), so memory holds two
    days of narrow columns and the sample, never the whole replay; a row's label only reads
    its own symbol's ticks in ``(t, t + H]``, so the result equals labelling everything at
    once."""
    if not files:
        raise ValueError("no feature files to label")
    if stride_s < 1:
        raise ValueError(f"stride_s must be >= 1, got {stride_s}")
    metadata = pq.read_schema(files[0]).metadata
    extra = [labels.volume_feature] if labels.volume_feature else []
    narrow_columns = [*KEY_COLUMNS, "warm", "gap", *PRICE_COLUMNS, *extra]
    reach_ns = labels.horizon_ns + labels.tick_s * NS_PER_S  # the head the last rows need
    wides, matched = [], []
    rows_before = 0
    current = pq.read_table(files[0], columns=narrow_columns)
    # A day's sampled wide rows are decoded in a thread while the day before is labelled.
    sampled = ahead(_sampled_rows(path, stride_s) for path in files)
    for k, wide in enumerate(sampled):
        following = (
            pq.read_table(files[k + 1], columns=narrow_columns) if k + 1 < len(files) else None
        )
        narrow = current
        if following is not None and following.num_rows:
            head = following.filter(pc.less(following.column("ts"), _day_end(current) + reach_ns))
            narrow = pa.concat_tables([current, head])
        labelled = label_features(narrow.replace_schema_metadata(metadata), cost, labels)
        own = pc.less(labelled.column("ts"), _day_end(current))
        labelled = labelled.filter(pc.and_(own, _on_stride(labelled, stride_s)))
        labelled = labelled.select([*KEY_COLUMNS, *LABEL_COLUMNS])
        # Joined on the keys alone: each labelled row learns which wide row it labels, and
        # the wide rows are taken once, in the final order, instead of copied by the join
        # and again by the sort.
        keys = wide.select(list(KEY_COLUMNS)).append_column(
            _WIDE_ROW, pa.array(np.arange(rows_before, rows_before + wide.num_rows))
        )
        matched.append(keys.join(labelled, keys=list(KEY_COLUMNS), join_type="inner"))
        wides.append(wide)
        rows_before += wide.num_rows
        current = following if following is not None else current
    found = sort_by_symbol_time(pa.concat_tables(matched))
    table = pa.concat_tables(wides).take(found.column(_WIDE_ROW))
    for name in LABEL_COLUMNS:
        table = table.append_column(found.schema.field(name), found.column(name))
    # every field nullable, as a join of the wide rows made them (the schema stays the one
    # training tables have always had)
    schema = pa.schema([f.with_nullable(True) for f in table.schema], metadata)
    return pa.Table.from_arrays(table.columns, schema=schema)


_WIDE_ROW = "__wide_row"
"""The row of the day's sampled wide table a labelled row belongs to (never stored)."""


def _day_end(narrow: pa.Table) -> int:
    """The end (ns, exclusive) of the rows a day file owns: past its last tick."""
    last = pc.max(narrow.column("ts")).as_py()
    return int(last) + 1 if last is not None else 0


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
    """The rows of every ``stride_s``-th second of a day file, a row group at a time: a day
    of a few hundred symbols at 1 s ticks is tens of GB of wide rows, its sample a tenth."""
    file = pq.ParquetFile(path)
    parts = []
    for k in range(file.num_row_groups):
        group = file.read_row_group(k)
        parts.append(group.filter(_on_stride(group, stride_s)))
    return pa.concat_tables(parts) if parts else file.schema_arrow.empty_table()
