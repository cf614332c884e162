"""Binance public-archive importer (aggTrades, bookTicker, klines; zip/csv/gz)."""

from csx_core.archive.formats import ArchiveNameError, FileSpec, spec_for
from csx_core.archive.importer import FileReport, ImportReport, import_archives
from csx_core.archive.reader import BadRow, FormatError

__all__ = [
    "ArchiveNameError",
    "BadRow",
    "FileReport",
    "FileSpec",
    "FormatError",
    "ImportReport",
    "import_archives",
    "spec_for",
]
