"""``csx import``: Binance public-archive files into the event store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from csx_core.cli import Command

SHOWN_BAD_ROWS = 20
OHLCV_NOTE = (
    "this format has no quote volume, trade count or taker-buy volumes; "
    "they are stored as 0 (unknown, not zero)"
)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, help="archive files or directories")
    parser.add_argument("--store", type=Path, default=Path("data/events"), help="store root")
    parser.add_argument("--kind", help="override the file kind (aggTrades|bookTicker|klines|ohlcv)")
    parser.add_argument("--symbol", help="override the symbol (e.g. BTCUSDT)")
    parser.add_argument("--interval", help="override the kline interval (e.g. 1m)")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if any row or file was rejected"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


class ProgressLine:
    """A one-line stderr progress indicator, redrawn at most every 1 % (no dependency)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, label: str, done: int, total: int | None) -> None:
        label = label.rsplit("/", 1)[-1]
        if total:
            step = min(100, 100 * done // total)
            text = f"\r{label}: {step:3d}% of {total / 1e6:,.1f} MB"
        else:
            step = done >> 22
            text = f"\r{label}: {done / 1e6:,.1f} MB"
        if (label, step) != self._last:
            self._last = (label, step)
            self._out.write(text)
            self._out.flush()

    def end(self) -> None:
        if self._last[1] >= 0:
            self._out.write("\n")


def _run(args: argparse.Namespace) -> int:
    from csx_core.archive import import_archives
    from csx_core.store import EventStore

    progress = None if args.quiet else ProgressLine(sys.stderr)
    report = import_archives(
        args.paths,
        EventStore(args.store),
        kind=args.kind,
        symbol=args.symbol,
        interval=args.interval,
        progress=progress,
    )
    if progress is not None:
        progress.end()
    for f in report.files:
        what = f"{f.kind} {f.symbol}" + (f" {f.interval}" if f.interval else "")
        if f.error is not None:
            print(f"{f.path}: ERROR {f.error}")
            continue
        print(
            f"{f.path}: {what}: {f.rows} rows, {f.written} new, {f.duplicates} already stored,"
            f" {f.bad_count} rejected"
        )
        if f.format == "ohlcv":
            print(f"  note: {OHLCV_NOTE}")
        for bad in f.bad_rows[:SHOWN_BAD_ROWS]:
            print(f"  rejected {bad}")
        if f.bad_count > SHOWN_BAD_ROWS:
            print(f"  ... and {f.bad_count - SHOWN_BAD_ROWS} more rejected rows")
    print(
        f"total: {len(report.files)} files, {report.written} new events, "
        f"{report.good - report.written} already stored, {report.bad_count} rows rejected, "
        f"{len(report.errors)} files failed"
    )
    if report.good == 0:
        return 1
    if args.strict and (report.bad_count or report.errors):
        return 1
    return 0


COMMANDS = [
    Command(
        name="import",
        help="Import Binance USD-M archive files (aggTrades, bookTicker, klines; zip/csv).",
        configure=_configure,
        run=_run,
    ),
]
