"""csx live's composition root against the project's fake exchange (csx_live.exchange):
real wire decoder, routed streams, drops, stalls and malformed frames injected."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from csx_core.contracts import BookTop, MarketEvent, Trade
from csx_live.app import LiveComponents, build_live
from csx_live.config import load_settings
from csx_live.exchange import ExchangeConfig, FakeExchange, ListSource
from csx_live.state import NS_PER_S
from tests.test_live_app import baseline_loader

T0 = 1_700_000_000 * NS_PER_S
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")


WARMUP_S = 63 * 60  # symbols are ranked once warm: the engine's 60-minute baselines
SPEED = 60.0  # the hour of warm-up replays in ~63 s; faults are injected once ranks exist


def market(seconds: int, warmup_s: int = WARMUP_S) -> list[MarketEvent]:
    """``warmup_s`` of sparse history (one book and trade per symbol every 5 s), then
    ``seconds`` of a busy market (five of each per symbol per second)."""
    rng = random.Random(3)
    px = {s: 100.0 * (i + 1) for i, s in enumerate(SYMBOLS)}
    out: list[MarketEvent] = []
    n = 0
    for sec in range(-warmup_s, seconds):
        busy = sec >= 0
        if not busy and sec % 5:
            continue
        for s in SYMBOLS:
            for k in range(5 if busy else 1):
                n += 1
                px[s] = round(px[s] * (1 + rng.gauss(0, 0.0008)), 2)
                ts = T0 + sec * NS_PER_S + k * 190_000_000 + n
                out.append(BookTop(symbol=s, ts_event=ts, ts_recv=ts, update_id=n,
                                   bid_price=px[s] - 0.01, bid_qty=3.0, ask_price=px[s] + 0.01,
                                   ask_qty=2.0))  # fmt: skip
                out.append(Trade(symbol=s, ts_event=ts + 1, ts_recv=ts + 1, trade_id=n,
                                 price=px[s], qty=round(rng.uniform(0.1, 2), 3),
                                 buyer_is_maker=rng.random() < 0.5))  # fmt: skip
    return out


async def eventually(condition: Callable[[], bool], within_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeExchange]:
    exchange = FakeExchange(ListSource(market(60)), ExchangeConfig(speed=SPEED, loop=True))
    async with exchange:
        yield exchange


@contextlib.asynccontextmanager
async def running(parts: LiveComponents) -> AsyncIterator[str]:
    runner = web.AppRunner(parts.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.slow
async def test_live_against_the_fake_exchange_survives_faults(
    fake: FakeExchange, tmp_path: Path
) -> None:
    settings = load_settings(
        overrides={
            "rest_url": fake.rest_url,
            "ws_url": fake.ws_url,
            "channels": "bookTicker,aggTrade",
            "data_fresh_s": 1.5,
            "stale_stream_s": 30.0,
            "tick_fallback_s": 1.0,
            "backoff_base_s": 0.05,
            "backoff_cap_s": 0.2,
            "top_k": 3,
            "sink_dir": str(tmp_path),
        }
    )
    parts = build_live(settings, model_loader=baseline_loader)
    state = parts.state
    async with running(parts) as base, aiohttp.ClientSession() as http:

        async def ready() -> int:
            async with http.get(f"{base}/readyz") as r:
                return r.status

        await eventually(lambda: state.readiness(time.time_ns(), 1.5)[0], within_s=120.0)
        assert state.universe == tuple(sorted(SYMBOLS))
        assert await ready() == 200
        await eventually(lambda: len(state.ranks) == 3)
        assert state.ingest.malformed == 0

        assert fake.control is not None
        await fake.control.drop_now()
        await eventually(lambda: parts.link.reconnects >= 2 and not parts.ledger.open_gaps())
        gaps = parts.ledger.closed_gaps()
        assert len(gaps) == 2  # both shards (/public, /market) saw the outage
        assert all(g.end_ns is not None and g.end_ns >= g.start_ns for g in gaps)
        async with http.get(f"{base}/api/gaps") as r:
            listed = (await r.json())["gaps"]
        assert [g["shard_id"] for g in listed] == [g.shard_id for g in gaps]
        async with http.get(f"{base}/metrics") as r:
            assert "csx_gap_duration_seconds_count 2.0" in await r.text()

        fake.control.stall(2.5)
        await eventually(lambda: not state.readiness(time.time_ns(), 1.5)[0])
        assert await ready() == 503
        await eventually(lambda: state.readiness(time.time_ns(), 1.5)[0])

        fake.faults.update({"malformed_rate": 0.2})
        await eventually(lambda: state.ingest.malformed >= 5)
        fake.faults.update({"malformed_rate": 0.0})
        assert state.counters.tick_errors == 0
