"""Merging the routed connections' events back into one event-time order before the engine.

Binance serves book tops on ``/public`` and every other stream on ``/market``, so the runner
reads at least two sockets. Each socket delivers its events in event-time order, but the two
interleave however the network and the event loop schedule them: at replay speed one can be
seconds of event time ahead of the other. The engine ticks when the first event crosses a
boundary, so the lagging socket's events would land after the tick ("late", folded into the
next second) where an offline replay of the same events (sorted by time) places them before
it — live and replayed features would differ.

``RouteMerge`` holds each route's events in a lane and releases, in event-time order, those
no later than the *watermark*: the oldest "last seen event time" over the active lanes.
Everything a lane delivers later is no earlier than its last seen time, so nothing released
can be overtaken. A lane stops holding the others back (a stalled connection; its own
pending events wait for the active lanes to pass them) once the others have received
frames for ``idle_s`` after its last one, judged by the events' ``ts_recv`` (the connectors'
receive time) so that time the runner spends processing never makes a lane look idle. When
nothing at all has been received for ``quiet_s`` of wall time (``release``, called when the
queue stayed empty), everything held is released. A route not heard from yet holds the
others for ``idle_s`` after the first event, so the first socket to deliver cannot race
ahead of the other.

Choosing ``idle_s``: live, it bounds how long a stalled route delays the other (default
0.25 s). At a replay's max speed, a route can be silent for seconds while the exchange waits
for the client to drain the other socket's backlog, and event time no longer relates to
wall time, so no time rule can tell that silence from a stall: max-speed replays need an
``idle_s`` above the longest such silence (the parity test uses 60 s).

Cost: ~0.25 µs per event; the lagging route's delay (live: milliseconds, as
``markPrice@1s`` keeps ``/market`` moving at least once a second per symbol).

Within a route, several connections (more than ``max_streams_per_connection`` streams) can
still interleave; their reordering remains visible as late events in the engine.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence

from csx_core.contracts import BookTop, MarketEvent

PUBLIC, MARKET = 0, 1


class _Lane:
    __slots__ = ("events", "last_recv", "last_ts", "times")

    def __init__(self) -> None:
        self.events: list[MarketEvent] = []
        self.times: list[int] = []
        self.last_ts: int | None = None
        self.last_recv = 0


class RouteMerge:
    """Per-route lanes released by a watermark; ``idle_s``: receive-time seconds after which
    a silent lane no longer holds the others back; ``quiet_s``: wall seconds without any
    frame after which everything held is released."""

    def __init__(self, idle_s: float, quiet_s: float = 0.25) -> None:
        self.idle_ns = int(idle_s * 1e9)
        self.quiet_ns = int(quiet_s * 1e9)
        self._lanes = (_Lane(), _Lane())
        self._first_ns: int | None = None
        self.held_max = 0
        """The most events held at once (for diagnostics and tests)."""

    @property
    def held(self) -> int:
        return len(self._lanes[0].events) + len(self._lanes[1].events)

    def push(self, events: Sequence[MarketEvent], now_ns: int) -> list[MarketEvent]:
        """Add ``events`` (arrival order) and return those now releasable, by event time."""
        public, market = self._lanes
        if self._first_ns is None and events:
            self._first_ns = now_ns
        for event in events:
            lane = public if type(event) is BookTop else market
            ts = event.ts_event
            lane.events.append(event)
            lane.times.append(ts)
            if lane.last_ts is None or ts > lane.last_ts:
                lane.last_ts = ts
            if event.ts_recv > lane.last_recv:
                lane.last_recv = event.ts_recv
        held = self.held
        if held > self.held_max:
            self.held_max = held
        return self._release(now_ns, quiet=False)

    def release(self, now_ns: int) -> list[MarketEvent]:
        """The held events releasable at wall time ``now_ns`` when no new events came."""
        return self._release(now_ns, quiet=True)

    def _release(self, now_ns: int, *, quiet: bool) -> list[MarketEvent]:
        if not self.held:
            return []
        starting = self._first_ns is not None and now_ns - self._first_ns < self.idle_ns
        if starting and any(lane.last_ts is None for lane in self._lanes):
            return []
        newest = max(lane.last_recv for lane in self._lanes)
        silent = quiet and now_ns - newest >= self.quiet_ns
        active = [
            lane.last_ts
            for lane in self._lanes
            if lane.last_ts is not None and newest - lane.last_recv < self.idle_ns and not silent
        ]
        watermark = min(active) if active else None
        parts: list[list[MarketEvent]] = []
        for lane in self._lanes:
            cut = len(lane.events) if watermark is None else bisect_right(lane.times, watermark)
            if cut:
                parts.append(lane.events[:cut])
                del lane.events[:cut], lane.times[:cut]
        if len(parts) < 2:
            return parts[0] if parts else []
        return list(heapq.merge(*parts, key=_ts))


def _ts(event: MarketEvent) -> int:
    return event.ts_event
