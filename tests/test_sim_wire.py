"""Simulator → Binance wire frames → the real decoder gives back exactly the same events."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from csx_core.contracts import EVENT_KINDS, MarketEvent
from csx_core.sim import SimConfig, simulate_day, tables_digest
from csx_core.sim.frames import frames_of, iter_frames
from csx_core.store.keys import sort_rows
from csx_core.wire import FrameDecoder, WireError

CONFIG = SimConfig(
    seed=5, symbols=("TRXUSDT", "ETHUSDT"), days=1, start=date(2026, 4, 2), trade_rate=0.1
)


def _one_hour(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """The first hour of every kind, and all the (rare) liquidations of the day."""
    out = {"liquidation": tables["liquidation"]}
    for kind, table in tables.items():
        if kind == "liquidation":
            continue
        ts = table.column("ts_event").to_numpy()
        cut = int((ts < ts[0] - ts[0] % 86_400_000_000_000 + 3_600_000_000_000).sum())
        out[kind] = table.slice(0, cut)
    return out


@pytest.fixture(scope="module")
def hour() -> dict[str, pa.Table]:
    return _one_hour(simulate_day(CONFIG, 0))


def test_decoded_frames_are_exactly_the_simulated_events(hour: dict[str, pa.Table]) -> None:
    decoder = FrameDecoder()
    by_kind: dict[str, list[MarketEvent]] = {k: [] for k in EVENT_KINDS}
    last_recv = 0
    for ts_recv, frame in frames_of(hour):
        assert frame.startswith(b'{"stream":')
        assert ts_recv >= last_recv
        last_recv = ts_recv
        event = decoder.decode(frame, ts_recv)
        assert not isinstance(event, WireError), event
        kind = str(type(event).__struct_config__.tag)
        by_kind[kind].append(event)  # type: ignore[arg-type]
    decoded = {
        kind: sort_rows(kind, EVENT_KINDS[kind].to_arrow(events))  # type: ignore[arg-type]
        for kind, events in by_kind.items()
    }
    assert {k: t.num_rows for k, t in decoded.items()} == {k: t.num_rows for k, t in hour.items()}
    assert all(t.num_rows for t in hour.values())
    assert tables_digest(decoded) == tables_digest(hour)


def test_iter_frames_covers_the_whole_day_in_receive_order() -> None:
    config = SimConfig(
        seed=5, symbols=("TRXUSDT",), days=1, trade_rate=0.02, book_rate=0.0, klines=False
    )
    total = sum(t.num_rows for t in simulate_day(config, 0).values())
    recv = [ts for ts, _ in iter_frames(config, 0)]
    assert len(recv) == total
    assert recv == sorted(recv)
