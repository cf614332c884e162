"""``csx import``: Binance public-archive files → the event store, idempotently.

Every rejected row is reported with its file and line (``BadRow``); nothing is dropped
silently. Re-importing a file writes nothing new (the store deduplicates on exchange ids).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from csx_core.archive.convert import convert
from csx_core.archive.formats import ArchiveNameError, FileSpec, archive_files, spec_for
from csx_core.archive.reader import BadRow, FormatError, NeedsSlowPath, Source, read_chunks, sources
from csx_core.store import EventStore

MAX_BAD_ROWS_KEPT = 1_000
"""Per file; beyond it bad rows are only counted (a garbage file must not exhaust memory)."""

ProgressFn = Callable[[str, int, int | None], None]
"""(source label, bytes consumed, total bytes or None) — drives the CLI's progress line."""


@dataclass
class FileReport:
    """The outcome for one input file: ``good`` rows went to the store (``written`` new,
    the rest ``duplicates`` of stored events), ``bad_count`` rows were rejected."""

    path: Path
    format: str | None = None  # aggTrades, bookTicker, klines, ohlcv
    kind: str | None = None
    symbol: str | None = None
    interval: str | None = None
    good: int = 0
    written: int = 0
    bad_count: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    error: str | None = None

    @property
    def rows(self) -> int:
        return self.good + self.bad_count

    @property
    def duplicates(self) -> int:
        return self.good - self.written

    def add_bad(self, row: BadRow) -> None:
        self.bad_count += 1
        if len(self.bad_rows) < MAX_BAD_ROWS_KEPT:
            self.bad_rows.append(row)


@dataclass
class ImportReport:
    files: list[FileReport]

    @property
    def good(self) -> int:
        return sum(f.good for f in self.files)

    @property
    def written(self) -> int:
        return sum(f.written for f in self.files)

    @property
    def bad_count(self) -> int:
        return sum(f.bad_count for f in self.files)

    @property
    def errors(self) -> list[FileReport]:
        return [f for f in self.files if f.error is not None]


def import_archives(
    paths: Sequence[Path],
    store: EventStore,
    *,
    kind: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    chunk_rows: int = 500_000,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import every file in ``paths`` (directories are searched recursively).

    ``kind``/``symbol``/``interval`` override what the Binance file name says. A file that
    cannot be read at all gets ``FileReport.error`` and the import continues.
    """
    reports = []
    for path in archive_files(list(paths)):
        report = FileReport(path)
        try:
            spec = spec_for(path, kind=kind, symbol=symbol, interval=interval)
            report.format, report.kind = spec.format.name, spec.format.kind
            report.symbol, report.interval = spec.symbol, spec.interval
            for source in sources(path):
                _import_source(source, spec, store, report, chunk_rows, progress)
        except (ArchiveNameError, FormatError, OSError, ValueError) as exc:
            report.error = str(exc)
        reports.append(report)
    return ImportReport(reports)


def _import_source(
    source: Source,
    spec: FileSpec,
    store: EventStore,
    report: FileReport,
    chunk_rows: int,
    progress: ProgressFn | None,
) -> None:
    def on_bytes(done: int) -> None:
        if progress is not None:
            progress(source.label, done, source.size)

    base = (report.good, report.written, report.bad_count, len(report.bad_rows))
    written_by_fast_pass = 0
    for slow in (False, True):
        report.good, report.written, report.bad_count = base[:3]
        del report.bad_rows[base[3] :]
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
                report.written += store.write(spec.format.kind, events).rows_written
            break
        except NeedsSlowPath:
            written_by_fast_pass = report.written - base[1]
    report.written += written_by_fast_pass
