"""Train/serve parity (DESIGN Invariant 1): the live runner against the fake exchange replaying
a simulated slice at max speed, recording what it consumed; the recorded store replayed
offline (``csx_core.replay.replay_store``) must give the same FeatureSnapshot digest.

Two runner rules make this hold (each alone breaks it): merging ``/public`` and ``/market``
into event-time order (without it about half the events arrive behind a tick and are late)
and skipping klines of symbols that trade, as replay does (without it volume counts twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
from aiohttp import web

from csx_core.replay import replay_store
from csx_core.sim import SimConfig, simulate_day
from csx_core.store import KIND_ORDER, EventStore
from csx_live.app import LiveComponents, build_live
from csx_live.config import load_settings
from csx_live.exchange import ExchangeConfig, FakeExchange, StoreSource
from csx_live.recorder import BatchRecorder, replay_gaps
from csx_live.route_merge import RouteMerge
from tests.test_live_app import baseline_loader

NS_PER_MIN = 60 * 1_000_000_000
DAY = date(2026, 3, 1)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")


def simulated_slice(root: Path, *, start_min: int, minutes: int) -> int:
    """``minutes`` of a simulated day (every kind) into a store at ``root``; event count."""
    config = SimConfig(seed=11, start=DAY, days=1, symbols=SYMBOLS, trade_rate=2.0)
    tables = simulate_day(config, 0)
    day0 = tables["trade"].column("ts_event")[0].as_py() // (1440 * NS_PER_MIN) * 1440
    lo, hi = (day0 + start_min) * NS_PER_MIN, (day0 + start_min + minutes) * NS_PER_MIN
    store, total = EventStore(root), 0
    for kind, table in tables.items():
        ts = table.column("ts_event")
        part = table.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
        if part.num_rows:
            store.write(kind, part)
            total += part.num_rows
    return total


async def eventually(condition: Callable[[], bool], within_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serving(parts: LiveComponents) -> AsyncIterator[None]:
    runner = web.AppRunner(parts.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def test_live_session_replays_offline_to_the_same_feature_digest(tmp_path: Path) -> None:
    source, recorded = tmp_path / "source", tmp_path / "recorded"
    n_events = simulated_slice(source, start_min=600, minutes=30)
    assert EventStore(source).kinds() == list(KIND_ORDER)  # every kind, liquidations too
    exchange = FakeExchange(StoreSource(source), ExchangeConfig(speed=None, await_clients=2))
    async with exchange:
        settings = load_settings(
            overrides={
                "rest_url": exchange.rest_url,
                "ws_url": exchange.ws_url,
                "symbols": ",".join(SYMBOLS),
                "channels": "bookTicker,aggTrade,markPrice@1s,kline_1m,forceOrder",
                "tick_fallback_s": 3600.0,
                "data_fresh_s": 3600.0,
                "sink_dir": str(tmp_path / "sink"),
            }
        )
        parts = build_live(settings, model_loader=baseline_loader)
        recorder = BatchRecorder(EventStore(recorded), batch_events=5_000, flush_s=60.0)
        parts.runner.recorder = recorder.add
        # max speed: a route can be silent for seconds while the exchange waits for the other
        # socket's backlog to drain, so only a long idle rule keeps the merge exact
        parts.runner.merge = RouteMerge(idle_s=60.0)
        runner, ingest = parts.runner, parts.state.ingest
        started = time.perf_counter()
        async with serving(parts):
            await eventually(lambda: exchange.counters.events_replayed == n_events, 60.0)
            await eventually(
                lambda: (
                    ingest.events == n_events
                    and not len(parts.queue)
                    and runner.merge is not None
                    and not runner.merge.held
                ),
                60.0,
            )
        elapsed = time.perf_counter() - started
    recorder.close()

    live_digest, live_ticks = runner.digest.hexdigest(), runner.digest.ticks
    offline = replay_store(recorded, None, gaps=replay_gaps(recorded))
    print(
        f"\nparity: {n_events} events, {live_ticks} ticks, live {elapsed:.1f} s, "
        f"merge held max {runner.merge.held_max}, digest {live_digest[:16]}"
    )
    assert ingest.malformed == 0
    assert parts.queue.dropped == 0
    assert recorder.stats.events_in == n_events
    assert recorder.stats.events_written == n_events
    assert runner.engine.late_events == 0
    assert runner.fallback_ticks == 0
    assert live_ticks > 29 * 60
    assert (offline.ticks, offline.rows) == (live_ticks, runner.digest.rows)
    assert offline.digest == live_digest
    # the recorded events are the simulated ones (ts_recv aside), so the source agrees too
    assert replay_store(source, None).digest == live_digest
