"""Replay: events from a source, in event-time order, paced by a speed factor on a clock.

An event at ``ts_event`` is published when ``(ts_event - first_ts) / speed`` seconds have
passed on the clock since the replay began; ``speed=None`` publishes as fast as the sink
accepts (the sink's back-pressure is the only brake). The clock is injected so tests run
without waiting. With ``loop=True`` the source restarts when exhausted, each pass shifted
in time (by the span of the first pass rounded up to whole seconds, plus 1 s) and in
exchange ids (by the largest id of the first pass plus 1), so clients see time move forward
and ids never repeat. With ``start_ns`` (a wall clock in ns) every time is shifted so that
the first event happens in the replay's start second, for clients that judge freshness
against their own clock. Both shifts are whole seconds: Binance stamps its per-second
streams (``markPrice@1s``, kline closes at ``.999``) on the second, and the runner ticks on
whole seconds, so a shift by a fraction of a second would put every mark price in the middle
of a tick interval (then the runner's route merge waits for the next trade to learn that
``/market`` has passed a boundary: 70-250 ms of tick lateness on a sparse feed).
``fast_forward_s`` publishes the first seconds of event time as if ``speed`` were None, then
paces the rest from the moment the fast-forward ends: a client that needs an hour of history
before it is useful (the live runner's warm-up) gets it as fast as it reads, then a paced
feed. With ``drained`` (the server's: every outbox empty) the paced part starts once the
clients have read what the fast-forward queued for them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Protocol

import msgspec

from csx_core.contracts import BookTop, MarketEvent, Trade

_BATCH = 4096
_NS = 1_000_000_000


class EventSource(Protocol):
    """Where replayed events come from. ``events()`` starts a fresh pass each call and yields
    in event-time order; ``symbols()`` lists the symbols it can yield (for exchangeInfo)."""

    def symbols(self) -> Sequence[str]: ...

    def events(self) -> Iterable[MarketEvent]: ...


class ListSource:
    """In-memory events (tests, small demos); sorted by event time once."""

    def __init__(self, events: Iterable[MarketEvent]) -> None:
        self._events = sorted(events, key=lambda e: e.ts_event)

    def symbols(self) -> Sequence[str]:
        return sorted({e.symbol for e in self._events})

    def events(self) -> Iterable[MarketEvent]:
        return iter(self._events)


class StoreSource:
    """The project's Parquet event store (``csx_core.store.EventStore``), read lazily."""

    def __init__(
        self,
        root: Path,
        *,
        start: date | None = None,
        end: date | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        from csx_core.store import EventStore

        self._store = EventStore(Path(root), hash_on_read=False)
        self._start, self._end, self._symbols = start, end, symbols
        self._known: list[str] | None = None

    def symbols(self) -> Sequence[str]:
        if self._symbols is not None:
            return sorted(s.upper() for s in self._symbols)
        if self._known is None:
            found: set[str] = set()
            for _kind, table in self._store.scan(start=self._start, end=self._end):
                found.update(table.column("symbol").unique().to_pylist())
            self._known = sorted(found)
        return self._known

    def events(self) -> Iterable[MarketEvent]:
        return self._store.iter_events(start=self._start, end=self._end, symbols=self._symbols)


class Clock(Protocol):
    """Monotonic seconds and sleeping, injectable for tests."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _shift(event: MarketEvent, dt_ns: int, d_id: int) -> MarketEvent:
    changes: dict[str, int] = {"ts_event": event.ts_event + dt_ns, "ts_recv": event.ts_recv + dt_ns}
    if isinstance(event, Trade):
        changes["trade_id"] = event.trade_id + d_id
    elif isinstance(event, BookTop):
        changes["update_id"] = event.update_id + d_id
    for name in ("open_time", "close_time", "next_funding_time"):
        if hasattr(event, name):
            changes[name] = getattr(event, name) + dt_ns
    return msgspec.structs.replace(event, **changes)


def _event_id(event: MarketEvent) -> int:
    if isinstance(event, Trade):
        return event.trade_id
    if isinstance(event, BookTop):
        return event.update_id
    return 0


Publish = Callable[[MarketEvent], Awaitable[None]]


class Replayer:
    """Plays ``source`` into ``publish`` at ``speed`` (None = max) on ``clock``."""

    def __init__(
        self,
        source: EventSource,
        publish: Publish,
        *,
        speed: float | None,
        clock: Clock | None = None,
        loop: bool = False,
        on_pass: Callable[[int], None] | None = None,
        gate: Callable[[], Awaitable[None]] | None = None,
        start_ns: Callable[[], int] | None = None,
        fast_forward_s: float = 0.0,
        on_paced: Callable[[], None] | None = None,
        drained: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if not fast_forward_s >= 0:
            raise ValueError(f"fast_forward_s must be >= 0, got {fast_forward_s}")
        self._source = source
        self._publish = publish
        self._speed = speed
        self._clock = clock or LoopClock()
        self._loop = loop
        self._on_pass = on_pass
        self._gate = gate
        self._start_ns = start_ns
        self._fast_forward_ns = int(fast_forward_s * _NS)
        self._on_paced = on_paced
        self._drained = drained
        self.position_ns: int | None = None
        self.finished = asyncio.Event()

    async def run(self) -> None:
        """Replay until the source ends (or forever with ``loop``), after ``gate`` if any."""
        if self._gate is not None:
            await self._gate()
        first_ts: int | None = None
        base: int | None = None if self._start_ns else 0
        pace = _Pace(self._speed, self._fast_forward_ns, self._clock, self._on_paced)
        span = max_id = 0
        for n_pass in itertools.count():
            d_id = n_pass * (max_id + 1)
            last_ts = first_ts
            async for batch in _batches(self._source.events()):
                for raw in batch:
                    if base is None and self._start_ns is not None:
                        base = self._start_ns() // _NS * _NS - raw.ts_event // _NS * _NS
                    dt_ns = (base or 0) + n_pass * span
                    event = _shift(raw, dt_ns, d_id) if dt_ns or d_id else raw
                    if n_pass == 0 and self._loop:
                        max_id = max(max_id, _event_id(raw))
                    if first_ts is None:
                        first_ts = event.ts_event
                    last_ts = event.ts_event
                    if self._drained is not None and pace.fast_forward_ends(event.ts_event):
                        # The clients still hold a full outbox of the fast-forward: the paced
                        # part starts once they have read it, not with its first frame
                        # meeting a full outbox (a slow-consumer close).
                        await self._drained()
                    due = pace.due(event.ts_event)
                    if due is not None:
                        wait = due - self._clock.monotonic()
                        if wait > 0:
                            await self._clock.sleep(wait)
                    self.position_ns = event.ts_event
                    await self._publish(event)
                if pace.unpaced:  # nothing waited: let the clients' readers run
                    await asyncio.sleep(0)
            if self._on_pass is not None:
                self._on_pass(n_pass)
            if not self._loop or first_ts is None or last_ts is None:
                break
            if n_pass == 0:
                span = (last_ts - first_ts) // _NS * _NS + _NS
        self.finished.set()


class _Pace:
    """When each replayed event is due on the clock: at once at ``speed=None`` and while
    fast-forwarding (the first ``fast_forward_ns`` of event time), then ``(ts - ts0) /
    speed`` seconds after the clock time the paced part began at event time ``ts0``."""

    def __init__(
        self,
        speed: float | None,
        fast_forward_ns: int,
        clock: Clock,
        on_paced: Callable[[], None] | None,
    ) -> None:
        self._speed = speed
        self._fast_forward_ns = fast_forward_ns
        self._clock = clock
        self._on_paced = on_paced
        self._t0 = clock.monotonic()
        self._end_ns: int | None = None
        self._since: tuple[float, int] | None = None

    @property
    def unpaced(self) -> bool:
        return self._speed is None or self._since is None

    def fast_forward_ends(self, ts: int) -> bool:
        """Whether ``ts`` is the first event past the fast-forward (``due`` starts pacing)."""
        if self._speed is None or self._since is not None or not self._fast_forward_ns:
            return False
        return self._end_ns is not None and ts >= self._end_ns

    def due(self, ts: int) -> float | None:
        """The clock time event ``ts`` is due (None: at once); events come in time order."""
        if self._speed is None:
            return None
        if self._end_ns is None:  # the first event
            self._end_ns = ts + self._fast_forward_ns
            if not self._fast_forward_ns:
                self._since = (self._t0, ts)
        if self._since is None:
            if ts < self._end_ns:
                return None
            self._since = (self._clock.monotonic(), self._end_ns)
            if self._on_paced is not None:
                self._on_paced()
        return self._since[0] + (ts - self._since[1]) / _NS / self._speed


async def _batches(events: Iterable[MarketEvent]) -> AsyncIterator[list[MarketEvent]]:
    """Pull the (possibly disk-backed) iterator in a worker thread, a batch at a time, so
    reading Parquet never blocks the event loop."""
    it = iter(events)

    def take() -> list[MarketEvent]:
        return list(itertools.islice(it, _BATCH))

    while batch := await asyncio.to_thread(take):
        yield batch
