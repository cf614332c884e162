"""The Binance public-archive file formats the importer understands, and their file names.

Column lists are Binance's (USD-M ``futures/um`` daily/monthly archives); older files have no
header row. The hourly OHLCV format (``<BASE>_<QUOTE>_<interval>.csv[.gz]``,
``timestamp,open,high,low,close,volume,datetime``) is a third-party kline dump without
quote volume, trade count or taker-buy volumes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa


@dataclass(frozen=True)
class CsvFormat:
    name: str
    kind: str  # the event kind it maps to
    columns: tuple[tuple[str, pa.DataType], ...]
    unused: tuple[str, ...] = ()
    """Columns nothing reads: the fast reader does not parse them."""

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.columns]


AGG_TRADES = CsvFormat(
    "aggTrades",
    "trade",
    (
        ("agg_trade_id", pa.int64()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("first_trade_id", pa.int64()),
        ("last_trade_id", pa.int64()),
        ("transact_time", pa.int64()),
        ("is_buyer_maker", pa.bool_()),
    ),
)
BOOK_TICKER = CsvFormat(
    "bookTicker",
    "book_top",
    (
        ("update_id", pa.int64()),
        ("best_bid_price", pa.float64()),
        ("best_bid_qty", pa.float64()),
        ("best_ask_price", pa.float64()),
        ("best_ask_qty", pa.float64()),
        ("transaction_time", pa.int64()),
        ("event_time", pa.int64()),
    ),
)
KLINES = CsvFormat(
    "klines",
    "kline",
    (
        ("open_time", pa.int64()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("close_time", pa.int64()),
        ("quote_volume", pa.float64()),
        ("count", pa.int64()),
        ("taker_buy_volume", pa.float64()),
        ("taker_buy_quote_volume", pa.float64()),
        ("ignore", pa.string()),
    ),
    unused=("ignore",),
)
HOURLY_OHLCV = CsvFormat(
    "ohlcv",
    "kline",
    (
        ("timestamp", pa.int64()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("datetime", pa.string()),
    ),
    unused=("datetime",),
)
FORMATS = {f.name: f for f in (AGG_TRADES, BOOK_TICKER, KLINES, HOURLY_OHLCV)}
KIND_ALIASES = {
    "aggTrades": "aggTrades",
    "trade": "aggTrades",
    "bookTicker": "bookTicker",
    "book_top": "bookTicker",
    "klines": "klines",
    "kline": "klines",
    "ohlcv": "ohlcv",
}

_INTERVAL = r"\d+(?:s|m|h|d|w|mo)"
_BINANCE_NAME = re.compile(
    rf"^(?P<symbol>[A-Z0-9]+)-(?P<what>aggTrades|bookTicker|{_INTERVAL})"
    r"-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?:zip|csv)$"
)
_OHLCV_NAME = re.compile(
    rf"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)_(?P<interval>{_INTERVAL})\.csv(?:\.gz)?$"
)
SUFFIXES = (".zip", ".csv", ".csv.gz")


@dataclass(frozen=True)
class FileSpec:
    """What a file holds: its format, symbol and (klines) interval."""

    format: CsvFormat
    symbol: str
    interval: str | None


class ArchiveNameError(ValueError):
    """A file whose name does not say what it holds (and no CLI override does)."""


def spec_for(
    path: Path,
    *,
    kind: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
) -> FileSpec:
    """The ``FileSpec`` from Binance's file naming, with explicit overrides applied.

    ``kind`` accepts Binance names (aggTrades, bookTicker, klines, ohlcv) or event kinds
    (trade, book_top, kline). Raises ``ArchiveNameError`` when something stays unknown.
    """
    found: FileSpec | None = None
    if match := _BINANCE_NAME.match(path.name):
        what = match["what"]
        fmt = FORMATS.get(what, KLINES)
        found = FileSpec(fmt, match["symbol"], None if fmt is not KLINES else what)
    elif match := _OHLCV_NAME.match(path.name):
        found = FileSpec(HOURLY_OHLCV, match["base"] + match["quote"], match["interval"])
    if kind is not None:
        if kind not in KIND_ALIASES:
            raise ArchiveNameError(f"unknown --kind {kind!r}; use one of {sorted(KIND_ALIASES)}")
        fmt = FORMATS[KIND_ALIASES[kind]]
        found = replace(found, format=fmt) if found else FileSpec(fmt, "", None)
    if found is None:
        raise ArchiveNameError(
            f"{path.name}: not a Binance archive name (SYMBOL-aggTrades-DATE.zip, "
            "SYMBOL-bookTicker-DATE.zip, SYMBOL-<interval>-DATE.zip); pass --kind and --symbol"
        )
    if symbol is not None:
        found = replace(found, symbol=symbol.upper())
    if interval is not None:
        found = replace(found, interval=interval)
    if not found.symbol:
        raise ArchiveNameError(f"{path.name}: symbol unknown; pass --symbol")
    if not (found.symbol.isascii() and found.symbol.isalnum()):
        raise ArchiveNameError(f"{path.name}: symbol {found.symbol!r} is not alphanumeric")
    if found.format.kind == "kline" and not found.interval:
        raise ArchiveNameError(f"{path.name}: kline interval unknown; pass --interval")
    if found.format.kind != "kline":
        found = replace(found, interval=None)
    return found


def archive_files(paths: list[Path], also: Callable[[Path], bool] | None = None) -> list[Path]:
    """``paths`` with directories expanded (recursively, sorted) to importable files: the
    archive suffixes, plus the files ``also`` accepts (captures are told by content)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not p.name.startswith(".")
                and (p.name.endswith(SUFFIXES) or (also is not None and also(p)))
            )
        else:
            out.append(path)
    return out
