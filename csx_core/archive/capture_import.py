"""A raw capture (see ``csx_core.archive.capture``) through the live decoder into the store.

Every frame goes through ``csx_core.wire.decode_frame`` — the very decoder the live runner
uses — with the capture's receive time as ``ts_recv``, so an imported capture holds the
events a live session would have recorded. Outcomes are counted, never dropped silently:
market events by kind (stored), diff-depth updates (counted; the store has no depth kind),
REST depth snapshots (counted as snapshots, not errors, whether inline or with their URL),
control replies, ignored streams, other REST bodies, metadata (connection, configuration
and blank) lines and malformed lines
(each kept as a ``BadRow`` with its line number).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from csx_core.archive.capture import (
    CaptureFormat,
    CaptureLine,
    LineKind,
    LineParser,
    detect_unit,
    open_capture,
    quote,
)
from csx_core.archive.reader import BadRow
from csx_core.archive.report import FileReport, Progress
from csx_core.contracts import MarketEvent, event_kind
from csx_core.contracts.events import EVENT_TYPES
from csx_core.store import EventStore
from csx_core.store.store import events_table
from csx_core.wire import decode_frame
from csx_core.wire.decode import Ignored
from csx_core.wire.depth import DepthSnapshot, DepthUpdate, WireError, decode_depth_snapshot
from csx_core.wire.messages import Control

BATCH_EVENTS = 200_000
"""Events held before a store write: bounds memory on long captures."""

OUTCOMES = (
    "frames",
    "depth",
    "snapshot",
    "control",
    "ignored",
    "rest_other",
    "meta",
    "malformed",
)
"""Keys of ``FileReport.counts`` for a capture, besides the stored event kinds."""


class _Batch:
    """Decoded events waiting for a store write, by kind."""

    def __init__(self, store: EventStore, report: FileReport) -> None:
        self.store, self.report = store, report
        self.events: dict[str, list[MarketEvent]] = {}
        self.pending = 0
        self.symbols: set[str] = set()

    def add(self, kind: str, event: MarketEvent) -> None:
        self.events.setdefault(kind, []).append(event)
        self.pending += 1
        if self.pending >= BATCH_EVENTS:
            self.flush()

    def flush(self) -> None:
        for kind, events in self.events.items():
            written = self.store.write(kind, events_table(kind, events)).rows_written
            self.report.good += len(events)
            self.report.written += written
            self.symbols.update(e.symbol for e in events)
        self.events, self.pending = {}, 0


def _rest_outcome(url: str, body: bytes) -> tuple[str, str]:
    """(counter, problem) for a REST body logged with its URL."""
    if "/depth" not in url:
        return "rest_other", ""
    snapshot = decode_depth_snapshot(body)
    if isinstance(snapshot, DepthSnapshot):
        return "snapshot", ""
    return "malformed", f"depth snapshot {snapshot.kind}: {snapshot.detail[:120]}"


def _frame_outcome(line: CaptureLine, batch: _Batch) -> tuple[str, str]:
    decoded = decode_frame(line.body, line.recv_ns)
    if isinstance(decoded, EVENT_TYPES):
        kind = event_kind(decoded)
        batch.add(kind, decoded)
        return kind, ""
    if isinstance(decoded, DepthUpdate):
        return "depth", ""
    if isinstance(decoded, Control):
        return "control", ""
    if isinstance(decoded, Ignored):
        return "ignored", ""
    assert isinstance(decoded, WireError)
    # collectors log the REST snapshot they sync the book from inline, without its URL
    if isinstance(decode_depth_snapshot(line.body), DepthSnapshot):
        return "snapshot", ""
    return "malformed", f"{decoded.kind}: {decoded.detail[:120]}"


def import_capture(
    path: Path,
    fmt: CaptureFormat,
    store: EventStore,
    report: FileReport,
    *,
    ts_unit: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Decode every line of ``path`` into ``store``; counts and bad lines go to ``report``.

    Raises ``CaptureError`` when the receive-time unit cannot be told (see ``detect_unit``).
    """
    unit = ts_unit or ("s" if fmt is CaptureFormat.CRYPTOFEED else detect_unit(path))
    parser = LineParser(fmt, unit, strict_unit=ts_unit is None)
    report.format, report.interval = fmt.value, None
    report.counts = dict.fromkeys(OUTCOMES, 0)
    counts = report.counts
    batch = _Batch(store, report)
    total = path.stat().st_size
    label = str(path)
    with path.open("rb") as raw:
        lines = _lines(open_capture(path, raw))
        number = 0
        try:
            for number, text in enumerate(lines, start=1):
                line = parser.parse(text)
                if line.kind is LineKind.FRAME:
                    counts["frames"] += 1
                    outcome, problem = _frame_outcome(line, batch)
                elif line.kind is LineKind.REST:
                    outcome, problem = _rest_outcome(line.url, line.body)
                elif line.kind is LineKind.META:
                    outcome, problem = "meta", ""
                else:
                    outcome, problem = "malformed", line.problem
                counts[outcome] = counts.get(outcome, 0) + 1
                if problem:
                    report.add_bad(BadRow(label, number, problem))
                if progress is not None and number % 4096 == 0:
                    progress(label, raw.tell(), total)
        except EOFError:  # a torn gzip (a collector killed mid-write): keep what came before
            report.error = (
                f"{path}: gzip ends early after line {number}: the lines before it were imported"
            )
    batch.flush()
    if progress is not None:
        progress(label, total, total)
    report.symbol = ",".join(sorted(batch.symbols)) or None
    if not any(n for outcome, n in counts.items() if outcome not in ("malformed", "meta")):
        first = report.bad_rows[0].problem if report.bad_rows else "no lines"
        report.error = f"nothing readable in this {fmt.value}: {first}"


def _lines(stream: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """The stream's lines (with their newline), read in chunks: a torn gzip raises
    ``EOFError`` after the complete lines before the tear (a big buffered read would lose
    up to its whole buffer); a last line without its newline is yielded as it is."""
    rest = b""
    while data := stream.read(chunk):
        *complete, rest = (rest + data).split(b"\n")
        for line in complete:
            yield line + b"\n"
    if rest:
        yield rest


__all__ = ["OUTCOMES", "import_capture", "quote"]
