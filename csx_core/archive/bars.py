"""Bars of many archive files, written to the store in one pass per batch.

A kline file spans years; writing each file on its own touched every partition of those
years once per file (a new Parquet file and manifest rewrite each time). Holding the
converted bars of many files and writing them in one store write touches each partition
once per batch, and each partition reports progress.

Archive bars are closed bars, sparse (hourly: 24 per symbol per day) and written in bulk,
so they ask the store for month partitions (7 years: 84 partitions, not 2.5 k). The store
decides: a store whose klines already have day partitions (recorded live, or imported before)
keeps days, and a recorder writing into an imported store follows its months.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from csx_core.archive.report import FileReport, ImportReport, Progress, SharedWrite
from csx_core.store import EventStore
from csx_core.store.layout import MONTH

BAR_BATCH_ROWS = 2_000_000
"""Bars held in memory before a write (~130 bytes each as Arrow): bounds memory."""


def write_bars(store: EventStore, table: pa.Table, progress: Progress | None = None) -> int:
    """Write kline ``table`` in one store write, in month partitions unless the store's
    klines already have day partitions (the store commits its partitions in parallel);
    progress is reported per partition, labelled by month even for day partitions (a label
    per day would redraw the line ~30 times as often). Returns the rows the store wrote."""
    total = table.num_rows
    done = 0

    def on_partition(key: date, rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None:
            progress(f"writing bars ({key:%Y-%m})", done, total, "rows")

    return store.write("kline", table, span=MONTH, on_partition=on_partition).rows_written


class BarBatch:
    """Converted bars waiting for ``write_bars``, with the files they came from."""

    def __init__(
        self,
        store: EventStore,
        report: ImportReport,
        progress: Progress | None,
        *,
        max_rows: int = BAR_BATCH_ROWS,
    ) -> None:
        self.store, self.report, self.progress = store, report, progress
        self.max_rows = max_rows
        self._files: list[FileReport] = []
        self._tables: list[pa.Table] = []
        self._rows = 0

    def add(self, file: FileReport, tables: list[pa.Table]) -> None:
        if file not in self._files:
            self._files.append(file)
        self._tables += tables
        self._rows += sum(t.num_rows for t in tables)
        if self._rows >= self.max_rows:
            self.flush()

    def flush(self) -> None:
        if not self._tables:
            return
        written = write_bars(self.store, pa.concat_tables(self._tables), self.progress)
        if len(self._files) == 1:
            self._files[0].written += written
        else:
            for file in self._files:
                file.shared = True
            paths = tuple(f.path for f in self._files)
            self.report.shared.append(SharedWrite(paths, self._rows, written))
        self._files, self._tables, self._rows = [], [], 0
