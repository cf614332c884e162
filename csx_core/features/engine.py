"""``FeatureEngine``: the single feature code path for live serving and offline training.

Live: the runner calls ``on_event`` per event and ``on_tick(ts)`` at each tick boundary.
Offline: ``ingest`` adds columnar batches and ``tick`` produces arrays; the drivers in
``csx_core.features.drive`` decide the tick times from event time. Both fill the same
buckets (``fill``) and call the same tick function (``compute_tick``). No wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts import KIND_ORDER as KIND_ORDER
from csx_core.contracts import FeatureSnapshot, MarketEvent
from csx_core.features.batch import TickBatch, compute_ticks
from csx_core.features.buckets import MAX_AHEAD_S, SEC, Buckets
from csx_core.features.config import EngineConfig
from csx_core.features.fill import fill_event, fill_table
from csx_core.features.names import FEATURE_NAMES, FEATURE_VERSION, PRICE_COLUMNS
from csx_core.features.span import clear_span, roll_quiet, roll_span
from csx_core.features.tick import TickCache, TickFrame, compute_tick


class FeatureEngine:
    """Per-symbol 1-second buckets plus one vectorised tick function.

    ``on_tick(ts)`` / ``tick(ts)`` require ``ts`` to be a whole second (ns) later than the
    previous tick; the snapshot sees every event with ``ts_event < ts``. Events may run up
    to ``MAX_AHEAD_S`` seconds ahead of the last tick; events older than the last tick are
    "late": they count in ``late_events`` and are folded into the first open second.
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._b = Buckets(gap_after_s=self.config.gap_after_s)
        self._last_tick: int | None = None
        self._order = np.empty(0, dtype=np.int64)
        self._cache = TickCache()
        self._origin: int | None = None  # the first event's second, for the first boundary

    # -- input ----------------------------------------------------------------------------
    def on_event(self, event: MarketEvent) -> None:
        """Add one event to its symbol's bucket (the live path). At a bar cadence an event
        beyond the ring first rolls the rings just far enough (``advance``)."""
        closed = self._b.closed
        if closed is not None and event.ts_event // SEC >= closed + MAX_AHEAD_S:
            self.advance(event.ts_event - (MAX_AHEAD_S - 1) * SEC)
        fill_event(self._b, event)

    def advance(self, ts: int) -> None:
        """Roll the rings forward to the second of ``ts`` without ticking, so events up to
        ``MAX_AHEAD_S`` past it fit. Only bar cadences need it (their ticks are further
        apart than the ring reaches); the state is the same as rolling at the next tick,
        so where the drivers advance never changes a snapshot. It may not pass the next
        tick boundary: ticks come first."""
        b = self._b
        target = ts // SEC
        if b.closed is None:
            b.closed = target
            return
        cadence = self.config.cadence_s
        if self._last_tick is None:
            if self._origin is None:
                self._origin = b.closed
            boundary = (self._origin // cadence + 1) * cadence
        else:
            boundary = self._last_tick // SEC + cadence
        if target > boundary:
            raise ValueError(
                f"second {target} is past the next tick at {boundary}; call on_tick first"
            )
        if b.closed < target:  # the ring's seconds hold every event not yet rolled
            start = b.closed
            end = min(target, start + MAX_AHEAD_S)
            roll_span(b, end)
            clear_span(b, start, end)
        roll_quiet(self._b, target)  # the rest is silent: no event lies beyond the ring

    def ingest(self, tables: Mapping[str, pa.Table]) -> None:
        """Add per-kind tables (contract schemas, each ordered by ``ts_event``) at once:
        the offline path; the result equals feeding the rows through ``on_event``."""
        unknown = set(tables) - set(KIND_ORDER)
        if unknown:
            raise ValueError(f"unknown event kinds {sorted(unknown)}")
        klines = tables.get("kline")
        if klines is not None:
            tables = {**tables, "kline": klines.filter(klines.column("closed"))}
        if self._b.closed is None:
            firsts = [pc.min(t.column("ts_event")).as_py() for t in tables.values() if t.num_rows]
            if firsts:
                self._b.closed = min(firsts) // SEC
        for kind in KIND_ORDER:
            table = tables.get(kind)
            if table is not None:
                fill_table(self._b, kind, table)

    def mark_gap(self, symbol: str | None, start_ns: int, end_ns: int) -> None:
        """Declare that data for ``symbol`` (``None``: every symbol) is missing in
        ``[start_ns, end_ns)``, e.g. from the recorder's gap ledger. Every window that
        overlaps it yields NaN features and ``gap=True`` until it slides past."""
        self._b.mark_gap(symbol, start_ns, end_ns)

    # -- output ---------------------------------------------------------------------------
    def tick(self, ts: int) -> TickFrame:
        """Roll buckets to ``ts`` and compute every seen symbol's features as arrays."""
        if ts % SEC:
            raise ValueError(f"tick time must be a whole second in ns, got {ts}")
        if self._last_tick is not None and ts <= self._last_tick:
            raise ValueError(f"tick {ts} is not after the previous tick {self._last_tick}")
        t = ts // SEC
        self._b.roll_to(t)
        if len(self._order) != self._b.n:
            names = self._b.names
            self._order = np.array(sorted(range(len(names)), key=names.__getitem__), np.int64)
        prev = None if self._last_tick is None else self._last_tick // SEC
        frame = compute_tick(self._b, self.config, t, prev, self._order, ts, self._cache)
        self._last_tick = ts
        return frame

    def tick_many(self, ts: Sequence[int]) -> list[TickBatch]:
        """``[self.tick(t) for t in ts]`` in batches of consecutive ticks (the offline
        replay path): the same frames bit for bit, and the same engine state afterwards,
        for a fraction of the per-tick cost (see ``csx_core.features.batch``)."""
        times = [int(x) for x in ts]
        prev = self._last_tick
        for x in times:
            if x % SEC:
                raise ValueError(f"tick time must be a whole second in ns, got {x}")
            if prev is not None and x <= prev:
                raise ValueError(f"tick {x} is not after the previous tick {prev}")
            prev = x
        out: list[TickBatch] = []
        k = 0
        while k < len(times):
            b = self._b
            if b.closed is None:
                b.closed = times[k] // SEC
            while times[k] // SEC - b.closed > MAX_AHEAD_S:  # a long silence: no tick in it
                start = b.closed
                roll_span(b, start + MAX_AHEAD_S)
                clear_span(b, start, start + MAX_AHEAD_S)
            start, end = b.closed, k
            while end < len(times) and times[end] // SEC <= start + MAX_AHEAD_S:
                end += 1
            group = np.array(times[k:end], dtype=np.int64)
            span = roll_span(b, int(group[-1]) // SEC)
            if len(self._order) != b.n:
                names = b.names
                self._order = np.array(sorted(range(len(names)), key=names.__getitem__), np.int64)
            prev_t = None if self._last_tick is None else self._last_tick // SEC
            if b.n:
                out += compute_ticks(b, self.config, group, prev_t, self._order, self._cache, span)
            else:
                out.append(_empty_batch(group))
            clear_span(b, start, int(group[-1]) // SEC)
            self._last_tick = times[end - 1]
            k = end
        return out

    def on_tick(self, ts: int) -> list[FeatureSnapshot]:
        """One ``FeatureSnapshot`` per seen symbol at tick ``ts`` (the live path)."""
        return snapshots_of(self.tick(ts))

    @property
    def late_events(self) -> int:
        return self._b.late_events

    @property
    def open_second(self) -> int | None:
        """The first second (epoch s) not yet rolled into history; None before any input."""
        return self._b.closed

    @property
    def last_tick(self) -> int | None:
        return self._last_tick


def snapshots_of(frame: TickFrame) -> list[FeatureSnapshot]:
    """The contract objects of one tick, in symbol order."""
    values = frame.values.tolist()
    warm, gap = frame.warm.tolist(), frame.gap.tolist()
    return [
        FeatureSnapshot(
            symbol=symbol,
            ts=frame.ts,
            feature_version=FEATURE_VERSION,
            names=FEATURE_NAMES,
            values=tuple(values[k]),
            warm=warm[k],
            gap=gap[k],
        )
        for k, symbol in enumerate(frame.symbols)
    ]


def _empty_batch(ts: np.ndarray) -> TickBatch:
    t = len(ts)
    return TickBatch(
        ts=ts,
        symbols=[],
        warm=np.zeros((t, 0), dtype=bool),
        gap=np.zeros((t, 0), dtype=bool),
        prices=np.empty((t, 0, len(PRICE_COLUMNS))),
        values=np.empty((t, 0, len(FEATURE_NAMES))),
    )
