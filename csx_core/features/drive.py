"""Event-time drivers: when to tick, decided by the events themselves.

Rule (both drivers): the first tick is the first cadence boundary after the first event;
the tick at boundary ``T`` is emitted as soon as an event with ``ts_event >= T`` arrives,
before that event is applied. So the same events give the same ticks whether they come
one by one (``drive_events``) or as columnar batches of any size (``drive_tables``).
Batches must be time-ordered: every event of a batch is no earlier than the previous
batch's last event. No final partial tick is emitted; call ``engine.tick`` for one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

import numpy as np
import pyarrow as pa

from csx_core.contracts import MarketEvent
from csx_core.features.batch import TickBatch
from csx_core.features.buckets import MAX_AHEAD_S, SEC
from csx_core.features.engine import KIND_ORDER, FeatureEngine
from csx_core.features.fill import with_symbol_codes
from csx_core.features.shadow import ShadowKlines
from csx_core.features.tick import TickFrame


class EventClock:
    """Tick boundaries (ns) on the cadence grid, released by event time."""

    def __init__(self, cadence_s: int) -> None:
        self.cadence_ns = cadence_s * SEC
        self.next_tick: int | None = None

    def due(self, ts: int) -> list[int]:
        """Boundaries ``<= ts`` not yet released (the first call only starts the clock)."""
        if self.next_tick is None:
            self.next_tick = (ts // self.cadence_ns + 1) * self.cadence_ns
            return []
        if ts < self.next_tick:
            return []
        last = ts // self.cadence_ns * self.cadence_ns
        out = list(range(self.next_tick, last + 1, self.cadence_ns))
        self.next_tick = last + self.cadence_ns
        return out


class EventConsumer(Protocol):
    def on_event(self, event: MarketEvent) -> None: ...


class EventDriver:
    """Events one at a time, for ``drive_events`` and the live runner alike: ``due(event)``
    gives the boundaries the event releases (tick them first), ``apply(event)`` feeds it to
    the engine, unless ``shadow`` says it is a kline that would count trades twice."""

    def __init__(
        self, engine: EventConsumer, clock: EventClock, shadow: ShadowKlines | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._shadow = shadow

    def due(self, event: MarketEvent) -> list[int]:
        return self.clock.due(event.ts_event)

    def apply(self, event: MarketEvent) -> None:
        if self._shadow is None or self._shadow.keep(event):
            self.engine.on_event(event)


def drive_events(
    engine: FeatureEngine, events: Iterable[MarketEvent], clock: EventClock | None = None
) -> Iterator[TickFrame]:
    """Feed events one by one through ``on_event``, ticking on event time."""
    driver = EventDriver(engine, clock or EventClock(engine.config.cadence_s))
    for event in events:
        for boundary in driver.due(event):
            yield engine.tick(boundary)
        driver.apply(event)


def drive_tables(
    engine: FeatureEngine,
    batches: Iterable[Mapping[str, pa.Table]],
    clock: EventClock | None = None,
) -> Iterator[TickFrame]:
    """Feed per-kind table batches through ``ingest``, ticking on event time, one
    ``engine.tick`` per boundary (the reference for ``drive_tables_batched``)."""
    for due in _schedule(engine, batches, clock):
        for boundary in due:
            yield engine.tick(boundary)


def drive_tables_batched(
    engine: FeatureEngine,
    batches: Iterable[Mapping[str, pa.Table]],
    clock: EventClock | None = None,
) -> Iterator[TickBatch]:
    """``drive_tables`` with the ticks due between two fills computed at once
    (``engine.tick_many``): the same ticks, bit for bit, for offline replay."""
    for due in _schedule(engine, batches, clock):
        yield from engine.tick_many(due)


def _schedule(
    engine: FeatureEngine,
    batches: Iterable[Mapping[str, pa.Table]],
    clock: EventClock | None,
) -> Iterator[list[int]]:
    """Ingest the batches into ``engine``; yield the tick boundaries due before each fill
    (the caller ticks them before the generator resumes and fills the next slice).

    Within a batch, rows are filled in slices of event time that the bucket ring can hold
    ahead of the last tick, so a batch may span any duration.
    """
    clock = clock or EventClock(engine.config.cadence_s)
    for batch in batches:
        tables = {k: batch[k] for k in KIND_ORDER if k in batch and batch[k].num_rows}
        ts = {k: t.column("ts_event").to_numpy() for k, t in tables.items()}
        for k, values in ts.items():
            if len(values) > 1 and bool((np.diff(values) < 0).any()):
                order = np.argsort(values, kind="stable")
                tables[k], ts[k] = tables[k].take(order), values[order]
            tables[k] = with_symbol_codes(tables[k])
        pos = dict.fromkeys(tables, 0)
        while True:
            pending = [int(ts[k][p]) for k, p in pos.items() if p < len(ts[k])]
            if not pending:
                break
            due = clock.due(min(pending))
            if due:
                yield due
            horizon = _fill_horizon(engine, min(pending))
            if min(pending) >= horizon:  # a bar cadence: roll to the events before the tick
                engine.advance(min(pending))
                horizon = _fill_horizon(engine, min(pending))
            chunk = {}
            for k, p in pos.items():
                end = int(np.searchsorted(ts[k], horizon, side="left"))
                if end > p:
                    chunk[k] = tables[k].slice(p, end - p)
                    pos[k] = end
            engine.ingest(chunk)
        if ts:
            due = clock.due(max(int(v[-1]) for v in ts.values()))
            if due:
                yield due


def _fill_horizon(engine: FeatureEngine, first_ts: int) -> int:
    """Events before this time (ns) fit in the ring now."""
    base = engine.open_second
    return ((first_ts // SEC if base is None else base) + MAX_AHEAD_S) * SEC
