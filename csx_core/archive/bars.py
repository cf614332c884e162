"""Bars of many archive files, written to the store in one pass per batch.

A kline file spans years; writing each file on its own touched every partition of those
years once per file (a new Parquet file and manifest rewrite each time). Holding the
converted bars of many files and writing them month by month touches each partition once
per batch, and each month write reports progress.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from csx_core.archive.report import FileReport, ImportReport, Progress, SharedWrite
from csx_core.store import EventStore

BAR_BATCH_ROWS = 2_000_000
"""Bars held in memory before a write (~130 bytes each as Arrow): bounds memory."""


def month_slices(table: pa.Table) -> list[tuple[str, pa.Table]]:
    """(``YYYY-MM``, rows of that UTC month of ``ts_event``), months ascending."""
    ts = np.asarray(table.column("ts_event").to_numpy(), dtype=np.int64)
    months = ts.astype("datetime64[ns]").astype("datetime64[M]")
    order = np.argsort(months, kind="stable")
    ordered = table.take(pa.array(order))
    sorted_months = months[order]
    bounds = [0, *(np.flatnonzero(sorted_months[1:] != sorted_months[:-1]) + 1).tolist()]
    ends = [*bounds[1:], len(order)]
    return [
        (str(sorted_months[lo]), ordered.slice(lo, hi - lo))
        for lo, hi in zip(bounds, ends, strict=True)
    ]


def write_bars(store: EventStore, table: pa.Table, progress: Progress | None = None) -> int:
    """Write kline ``table`` month by month; returns the rows the store wrote."""
    written = done = 0
    total = table.num_rows
    for month, rows in month_slices(table):
        written += store.write("kline", rows).rows_written
        done += rows.num_rows
        if progress is not None:
            progress(f"writing bars ({month})", done, total, "rows")
    return written


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
