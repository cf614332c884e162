"""The simulated market as Binance combined-stream frames, in receive-time order.

Frames come from ``csx_core.wire.encode_combined`` (aggTrade, bookTicker, kline_1m,
markPrice, forceOrder), so whatever consumes them exercises the real parser; decoding a
frame with its ``ts_recv`` gives back exactly the event of the simulator's table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts import EVENT_KINDS, MarketEvent
from csx_core.sim.config import SimConfig
from csx_core.sim.market import simulate_day
from csx_core.wire import encode_combined

WINDOW_NS = 600 * 1_000_000_000
"""Events are materialised as objects ten minutes of receive time at a time."""


def iter_frames(config: SimConfig, day: int) -> Iterator[tuple[int, bytes]]:
    """``(ts_recv ns, combined frame bytes)`` of every event of ``day``, ordered by
    ``ts_recv`` (ties: kind in contract order, then table order)."""
    yield from frames_of(simulate_day(config, day))


def frames_of(tables: Mapping[str, pa.Table]) -> Iterator[tuple[int, bytes]]:
    """Frames of arbitrary per-kind event tables, in ``ts_recv`` order (see ``iter_frames``)."""
    present = [k for k in EVENT_KINDS if k in tables and tables[k].num_rows]
    if not present:
        return
    low = min(pc.min(tables[k].column("ts_recv")).as_py() for k in present)
    high = max(pc.max(tables[k].column("ts_recv")).as_py() for k in present)
    for start in range(low - low % WINDOW_NS, high + 1, WINDOW_NS):
        yield from _window(tables, present, start, start + WINDOW_NS)


def _window(
    tables: Mapping[str, pa.Table], kinds: list[str], start: int, end: int
) -> Iterator[tuple[int, bytes]]:
    events: list[MarketEvent] = []
    recv: list[np.ndarray] = []
    rank: list[np.ndarray] = []
    for position, kind in enumerate(kinds):
        table = tables[kind]
        ts = table.column("ts_recv")
        part = table.filter(pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))
        if not part.num_rows:
            continue
        events.extend(EVENT_KINDS[kind].from_arrow(part))
        recv.append(part.column("ts_recv").to_numpy())
        rank.append(np.full(part.num_rows, position))
    if not events:
        return
    ts_recv = np.concatenate(recv)
    order = np.lexsort((np.arange(ts_recv.size), np.concatenate(rank), ts_recv))
    for i in order.tolist():
        yield int(ts_recv[i]), encode_combined(events[i])
