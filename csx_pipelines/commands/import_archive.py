"""``csx import``: Binance public-archive files and raw captures into the event store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from csx_core.cli import Command

if TYPE_CHECKING:  # the archive package pulls pyarrow, which `csx --help` should not pay for
    from csx_core.archive.report import FileReport, ImportReport

SHOWN_BAD_ROWS = 20
OHLCV_NOTE = (
    "this format has no quote volume, trade count or taker-buy volumes; "
    "they are stored as 0 (unknown, not zero)"
)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", type=Path, help="archive files, raw captures or directories"
    )
    parser.add_argument("--store", type=Path, default=Path("data/events"), help="store root")
    parser.add_argument("--kind", help="override the file kind (aggTrades|bookTicker|klines|ohlcv)")
    parser.add_argument("--symbol", help="override the symbol (e.g. BTCUSDT)")
    parser.add_argument("--interval", help="override the kline interval (e.g. 1m)")
    parser.add_argument(
        "--ts-unit",
        choices=["s", "ms", "us", "ns"],
        help="receive-time unit of `<time> <frame>` captures (default: detected)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if any row or file was rejected"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress line (the summary is still printed)"
    )


class ProgressLine:
    """A one-line stderr progress indicator, redrawn at most every 1 % (no dependency)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, label: str, done: int, total: int | None, unit: str = "B") -> None:
        size = f"{(total or 0) / 1e6:,.1f} MB" if unit == "B" else f"{total or 0:,} {unit}"
        if total:
            step = min(100, 100 * done // total)
            text = f"{label}: {step:3d}% of {size}"
        else:
            step = done >> 22
            text = f"{label}: {done / 1e6:,.1f} MB" if unit == "B" else f"{label}: {done:,} {unit}"
        if (label, step) != self._last:
            self._last = (label, step)
            self._out.write(f"\r\x1b[K{text}" if self._out.isatty() else f"\r{text}")
            self._out.flush()

    def end(self) -> None:
        if self._last[1] >= 0:
            self._out.write("\n")


def _capture_line(f: FileReport) -> str:
    from csx_core.store.keys import KIND_ORDER

    counts = f.counts or {}
    kinds = ", ".join(f"{k} {counts[k]}" for k in KIND_ORDER if counts.get(k))
    return (
        f"{f.path}: {f.format}: {counts.get('frames', 0)} frames -> events [{kinds or 'none'}]"
        f" ({f.written} new, {f.duplicates} already stored); depth updates "
        f"{counts.get('depth', 0)} (not stored), snapshots {counts.get('snapshot', 0)}, "
        f"control {counts.get('control', 0)}, ignored {counts.get('ignored', 0)}, "
        f"other REST {counts.get('rest_other', 0)}, metadata {counts.get('meta', 0)}, "
        f"malformed {counts.get('malformed', 0)}"
    )


def _file_line(f: FileReport) -> str:
    if f.is_capture:
        return _capture_line(f)
    what = f"{f.kind} {f.symbol}" + (f" {f.interval}" if f.interval else "")
    stored = (
        "written with other files (below)"
        if f.shared
        else f"{f.written} new, {f.duplicates} already stored"
    )
    return f"{f.path}: {what}: {f.rows} rows, {stored}, {f.bad_count} rejected"


def _print_report(report: ImportReport) -> None:
    from csx_core.store.keys import KIND_ORDER

    for f in report.files:
        if f.error is not None:
            print(f"{f.path}: ERROR {f.error}")
            continue
        print(_file_line(f))
        if f.format == "ohlcv":
            print(f"  note: {OHLCV_NOTE}")
        for bad in f.bad_rows[:SHOWN_BAD_ROWS]:
            print(f"  rejected {bad}")
        if f.bad_count > SHOWN_BAD_ROWS:
            print(f"  ... and {f.bad_count - SHOWN_BAD_ROWS} more rejected rows")
    for shared in report.shared:
        print(
            f"bars of {len(shared.files)} files written in one pass: {shared.rows} rows, "
            f"{shared.written} new, {shared.rows - shared.written} already stored"
        )
    captures = [f for f in report.files if f.is_capture and f.error is None]
    if captures:
        totals: dict[str, int] = {}
        for f in captures:
            for key, value in (f.counts or {}).items():
                totals[key] = totals.get(key, 0) + value
        by_kind = ", ".join(f"{k} {totals[k]}" for k in KIND_ORDER if totals.get(k))
        print(
            f"captures: {len(captures)} files, {totals.get('frames', 0)} frames, events "
            f"[{by_kind or 'none'}], snapshots {totals.get('snapshot', 0)}, "
            f"malformed {totals.get('malformed', 0)}"
        )
    print(
        f"total: {len(report.files)} files, {report.written} new events, "
        f"{report.good - report.written} already stored, {report.bad_count} rows rejected, "
        f"{len(report.errors)} files failed"
    )


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
        ts_unit=args.ts_unit,
        progress=progress,
    )
    if progress is not None:
        progress.end()
    _print_report(report)
    if report.good == 0:
        return 1
    if args.strict and (report.bad_count or report.errors):
        return 1
    return 0


COMMAND = Command(
    name="import",
    help=(
        "Import Binance USD-M archive files (aggTrades, bookTicker, klines; zip/csv) and "
        "raw WebSocket captures (<recv time> <frame> lines, cryptofeed logs; gzip or not)."
    ),
    configure=_configure,
    run=_run,
)
