"""What an import did, per file and in total (printed by ``csx import``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from csx_core.archive.reader import BadRow

MAX_BAD_ROWS_KEPT = 1_000
"""Per file; beyond it bad rows are only counted (a garbage file must not exhaust memory)."""


class Progress(Protocol):
    """Drives the CLI's progress line: ``done`` of ``total`` (``None``: unknown) ``unit``s
    (``B`` for bytes read, ``rows`` for rows written) of the step named by ``label``."""

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None: ...


@dataclass
class FileReport:
    """The outcome for one input file: ``good`` rows went to the store (``written`` new,
    the rest ``duplicates`` of stored events), ``bad_count`` rows were rejected."""

    path: Path
    format: str | None = None  # aggTrades, bookTicker, klines, ohlcv, or a capture format
    kind: str | None = None
    symbol: str | None = None
    interval: str | None = None
    good: int = 0
    written: int = 0
    bad_count: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    error: str | None = None
    shared: bool = False
    """Its bars were written together with other files' (``ImportReport.shared``), so
    ``written`` is not known per file."""
    counts: dict[str, int] | None = None
    """Captures only: frames and outcomes (``capture_import.OUTCOMES``, event kinds)."""

    @property
    def is_capture(self) -> bool:
        return self.counts is not None

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


@dataclass(frozen=True)
class SharedWrite:
    """Bars of several files written in one pass, and what the store did with them."""

    files: tuple[Path, ...]
    rows: int
    written: int


@dataclass
class ImportReport:
    files: list[FileReport]
    shared: list[SharedWrite] = field(default_factory=list)

    @property
    def good(self) -> int:
        return sum(f.good for f in self.files)

    @property
    def written(self) -> int:
        return sum(f.written for f in self.files) + sum(s.written for s in self.shared)

    @property
    def bad_count(self) -> int:
        return sum(f.bad_count for f in self.files)

    @property
    def errors(self) -> list[FileReport]:
        return [f for f in self.files if f.error is not None]
