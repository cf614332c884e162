"""The gap ledger: every outage of a connection, with the streams it silenced, from, to.

An entry opens when a connection drops (or a connect fails with none open) and closes when
the first frame arrives after reconnecting; a planned rollover opens none because the new
connection is up before the old one closes. Times are wall-clock integer nanoseconds so the
ledger lines up with recorded event times. Bounded: the oldest closed entries are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GapEntry:
    shard_id: str
    streams: tuple[str, ...]
    start_ns: int
    end_ns: int | None
    reason: str

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    def to_dict(self) -> dict[str, object]:
        return {
            "shard_id": self.shard_id,
            "streams": list(self.streams),
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "reason": self.reason,
        }


class GapLedger:
    """Open gaps by shard plus the last ``max_closed`` closed ones."""

    def __init__(self, max_closed: int = 10_000) -> None:
        self._open: dict[str, GapEntry] = {}
        self._closed: deque[GapEntry] = deque(maxlen=max_closed)
        self.total = 0
        self.on_close: list[Callable[[GapEntry], None]] = []
        """Called with every closed entry (e.g. to mark the gap in the feature engine)."""

    def open(self, shard_id: str, streams: tuple[str, ...], start_ns: int, reason: str) -> None:
        """Start a gap for ``shard_id`` unless one is already open (the first cause wins)."""
        if shard_id not in self._open:
            self._open[shard_id] = GapEntry(shard_id, streams, start_ns, None, reason)
            self.total += 1

    def close(self, shard_id: str, end_ns: int) -> GapEntry | None:
        entry = self._open.pop(shard_id, None)
        if entry is None:
            return None
        closed = GapEntry(entry.shard_id, entry.streams, entry.start_ns, end_ns, entry.reason)
        self._closed.append(closed)
        for listener in self.on_close:
            listener(closed)
        return closed

    def open_gaps(self) -> list[GapEntry]:
        return list(self._open.values())

    def closed_gaps(self) -> list[GapEntry]:
        return list(self._closed)

    def entries(self) -> list[GapEntry]:
        return [*self._closed, *self._open.values()]


def gap_symbols(entry: GapEntry) -> set[str | None]:
    """Symbols an outage silenced (uppercase); ``None`` stands for every symbol (``!`` streams)."""
    return {None if s.startswith("!") else s.split("@", 1)[0].upper() for s in entry.streams}
