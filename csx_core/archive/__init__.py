"""Binance public-archive importer (aggTrades, bookTicker, klines; zip/csv/gz) and raw
capture importer (``<recv time> <frame>`` lines, cryptofeed logs)."""

from csx_core.archive.formats import ArchiveNameError, FileSpec, spec_for
from csx_core.archive.importer import import_archives
from csx_core.archive.reader import BadRow, FormatError
from csx_core.archive.report import FileReport, ImportReport

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
