"""Reading the store a time window at a time: memory holds a window, not a day.

A day of a large market does not fit comfortably in memory (300 perpetuals make ~35 M
events a day, several GB as Arrow). ``EventStore.windows`` yields every kind's rows window
by window instead. Each stored file is sorted by ``ts_event`` and written in row groups of
``ROW_GROUP_ROWS`` (``csx_core.store.partition``), so a cursor per file decodes one row
group at a time, hands out the rows before the window's end and keeps the rest for the
next window: every row group is decoded once, and a window's rows come out in the same
order a whole-partition read gives them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from csx_core.store.errors import StoreCorruption
from csx_core.store.keys import conform, contract_schema, sort_rows
from csx_core.store.manifest import FileEntry, Manifest
from csx_core.store.partition import HashCache, check_file


class _FileCursor:
    """The rows of one stored file, handed out in ``ts_event`` order window by window."""

    def __init__(self, kind: str, path: Path, entry: FileEntry, hashes: HashCache | None):
        check_file(path, entry, hashes, cached=True)
        try:
            self.file = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise StoreCorruption(path, f"unreadable Parquet: {exc}") from exc
        if self.file.metadata.num_rows != entry.rows:
            raise StoreCorruption(
                path, f"{self.file.metadata.num_rows} rows, manifest says {entry.rows}"
            )
        self.kind, self.path, self.entry = kind, path, entry
        self.group = 0
        self.rest: pa.Table | None = None

    def _next_group(self) -> pa.Table | None:
        if self.group >= self.file.num_row_groups:
            return None
        try:
            table = conform(self.kind, self.file.read_row_group(self.group))
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise StoreCorruption(self.path, f"unreadable row group {self.group}: {exc}") from exc
        self.group += 1
        return table

    def take(self, start: int, end: int) -> list[pa.Table]:
        """Rows with ``start <= ts_event < end`` not handed out yet (earlier rows are
        skipped: a window sequence that starts inside a month partition)."""
        out: list[pa.Table] = []
        while True:
            if self.rest is None or not self.rest.num_rows:
                self.rest = self._next_group()
                if self.rest is None:
                    return out
                continue
            ts = self.rest.column("ts_event").to_numpy()
            lo, hi = np.searchsorted(ts, [start, end], side="left").tolist()
            if hi > lo:
                out.append(self.rest.slice(lo, hi - lo))
            self.rest = self.rest.slice(hi)
            if self.rest.num_rows:
                return out


class PartitionWindows:
    """Cursors over every file of one partition (per its manifest)."""

    def __init__(
        self, kind: str, partition: Path, manifest: Manifest, hashes: HashCache | None
    ) -> None:
        self.kind, self.partition, self.manifest = kind, partition, manifest
        self.cursors = [_FileCursor(kind, partition / e.name, e, hashes) for e in manifest.files]
        self.disjoint = all(
            a.ts_max < b.ts_min for a, b in zip(manifest.files, manifest.files[1:], strict=False)
        )

    def take(self, start: int, end: int) -> pa.Table:
        """The partition's rows with ``start <= ts_event < end``, in its sort order."""
        pieces = [p for c in self.cursors for p in c.take(start, end)]
        if not pieces:
            return contract_schema(self.kind).empty_table()
        table = pa.concat_tables(pieces)
        return table if self.disjoint or len(pieces) == 1 else sort_rows(self.kind, table)
