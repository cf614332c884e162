"""``csx import``: Binance public-archive files and raw captures → the event store,
idempotently.

Every rejected row is reported with its file and line (``BadRow``); nothing is dropped
silently. Re-importing a file writes nothing new (the store deduplicates on exchange ids).

Bars are written in one pass for many files: a kline file spans years, and a store write
per file touched every partition of those years once per file (25 symbols × 7 years of
hourly bars was 36 k files, ~1.5 k rows/s). ``BarBatch`` holds the converted bars of up to
``BAR_BATCH_ROWS`` rows and writes each partition once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from csx_core.archive.bars import BarBatch
from csx_core.archive.capture import CaptureError, sniff
from csx_core.archive.capture_import import import_capture
from csx_core.archive.convert import convert
from csx_core.archive.formats import ArchiveNameError, FileSpec, archive_files, spec_for
from csx_core.archive.reader import BadRow, FormatError, NeedsSlowPath, Source, read_chunks, sources
from csx_core.archive.report import FileReport, ImportReport, Progress
from csx_core.store import EventStore


def import_archives(
    paths: Sequence[Path],
    store: EventStore,
    *,
    kind: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    ts_unit: str | None = None,
    chunk_rows: int = 500_000,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every file in ``paths`` (directories are searched recursively).

    A file whose content is a raw capture (see ``csx_core.archive.capture``) is decoded
    frame by frame; ``ts_unit`` (s, ms, us, ns) overrides its receive-time unit. Otherwise
    ``kind``/``symbol``/``interval`` override what the Binance file name says. A file that
    cannot be read at all gets ``FileReport.error`` and the import continues.
    """
    files = archive_files(list(paths), also=lambda p: sniff(p) is not None)
    report = ImportReport([])
    bars = BarBatch(store, report, progress)
    for number, path in enumerate(files, start=1):
        file_report = FileReport(path)
        report.files.append(file_report)
        step = _numbered(progress, number, len(files))
        try:
            capture = sniff(path) if kind is None else None
            if capture is not None:
                import_capture(path, capture, store, file_report, ts_unit=ts_unit, progress=step)
                continue
            spec = spec_for(path, kind=kind, symbol=symbol, interval=interval)
            file_report.format, file_report.kind = spec.format.name, spec.format.kind
            file_report.symbol, file_report.interval = spec.symbol, spec.interval
            for source in sources(path):
                tables = _import_source(source, spec, store, file_report, chunk_rows, step)
                if tables:
                    bars.add(file_report, tables)
        except (ArchiveNameError, CaptureError, FormatError, OSError, ValueError) as exc:
            file_report.error = str(exc)
    bars.flush()
    return report


def _numbered(progress: Progress | None, number: int, total: int) -> Progress | None:
    if progress is None or total < 2:
        return progress

    return _Numbered(progress, f"[{number}/{total}] ")


class _Numbered:
    """A ``Progress`` that prefixes labels with the file's place in the import."""

    def __init__(self, progress: Progress, prefix: str) -> None:
        self._progress, self._prefix = progress, prefix

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None:
        self._progress(self._prefix + label.rsplit("/", 1)[-1], done, total, unit)


def _import_source(
    source: Source,
    spec: FileSpec,
    store: EventStore,
    report: FileReport,
    chunk_rows: int,
    progress: Progress | None,
) -> list[pa.Table]:
    """Read ``source`` into ``report``; trades and book tops are written chunk by chunk,
    bars are returned for the ``BarBatch``."""

    def on_bytes(done: int) -> None:
        if progress is not None:
            progress(source.label, done, source.size)

    is_bars = spec.format.kind == "kline"
    base = (report.good, report.written, report.bad_count, len(report.bad_rows))
    written_by_fast_pass = 0
    bars: list[pa.Table] = []
    for slow in (False, True):
        report.good, report.written, report.bad_count = base[:3]
        del report.bad_rows[base[3] :]
        bars = []
        try:
            for chunk in read_chunks(
                source,
                spec.format,
                chunk_rows=chunk_rows,
                slow=slow,
                bad=report.add_bad,
                progress=on_bytes,
            ):
                events, rejected = convert(spec, chunk.table)
                for index, problem in rejected:
                    report.add_bad(BadRow(source.label, int(chunk.lines[index]), problem))
                report.good += events.num_rows
                if is_bars:
                    bars.append(events)
                else:
                    report.written += store.write(spec.format.kind, events).rows_written
            break
        except NeedsSlowPath:
            written_by_fast_pass = report.written - base[1]
    report.written += written_by_fast_pass
    return bars
