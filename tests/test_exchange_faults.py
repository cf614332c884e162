"""The fake exchange's REST endpoints (weights, 429 → 418) and every fault switch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from csx_core.wire import WireError, decode_frame
from csx_live.exchange import Faults
from csx_live.exchange.rest import RestLimiter
from csx_live.universe import select_universe
from tests.test_exchange import ManualClock, Serve, drain, eventually, request, serve, settle

__all__ = ["serve"]
pytestmark = pytest.mark.timeout(30)
WEIGHT = "X-MBX-USED-WEIGHT-1M"


class WallClock:
    """Epoch seconds that move only when told (REST minutes and bans)."""

    def __init__(self, now: float = 1_767_225_630.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], Any]:
    async with http.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def admin(http: aiohttp.ClientSession, base: str, body: Any) -> tuple[int, Any]:
    async with http.post(f"{base}/_admin/faults", json=body) as resp:
        return resp.status, await resp.json()


# --------------------------------------------------------------------------- REST


async def test_exchange_info_lists_data_symbols_and_non_tradable_extras(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    ex = await serve()
    status, headers, info = await get(http, f"{ex.rest_url}/fapi/v1/exchangeInfo")
    assert status == 200
    assert headers[WEIGHT] == "1"
    assert select_universe(info).symbols == ("BTCUSDT", "ETHUSDT", "WARMUSDT")
    by_name = {s["symbol"]: s for s in info["symbols"]}
    assert {s["status"] for s in info["symbols"]} >= {"TRADING", "PENDING_TRADING"}
    assert {s["contractType"] for s in info["symbols"]} >= {"PERPETUAL", "CURRENT_QUARTER", ""}
    assert {s["quoteAsset"] for s in info["symbols"]} >= {"USDT", "USDC"}
    filters = {f["filterType"]: f for f in by_name["BTCUSDT"]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert float(filters["MIN_NOTIONAL"]["notional"]) > 0
    assert info["rateLimits"][0]["limit"] == 2400


async def test_depth_ticker_klines_and_their_weights(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0, wall=WallClock())
    clock.advance(10.0)
    await settle(ex)
    base = f"{ex.rest_url}/fapi/v1"
    status, headers, depth = await get(http, f"{base}/depth?symbol=BTCUSDT&limit=1000")
    assert (status, headers[WEIGHT]) == (200, "20")
    assert depth["lastUpdateId"] == 519
    assert float(depth["bids"][0][0]) < float(depth["asks"][0][0])
    assert len(depth["bids"]) == 1000
    status, headers, rows = await get(http, f"{base}/klines?symbol=BTCUSDT&interval=1m&limit=100")
    assert (status, headers[WEIGHT]) == (200, "22")
    assert len(rows) == 1
    assert rows[0][8] == 20
    assert len(rows[0]) == 12
    status, headers, ticker = await get(http, f"{base}/ticker/24hr?symbol=BTCUSDT")
    assert (status, headers[WEIGHT]) == (200, "23")
    assert ticker["lastPrice"] == "50002"
    assert ticker["count"] == 20
    status, headers, tickers = await get(http, f"{base}/ticker/24hr")
    assert (status, headers[WEIGHT]) == (200, "63")
    assert [t["symbol"] for t in tickers] == ["BTCUSDT", "ETHUSDT", "WARMUSDT"]
    status, headers, error = await get(http, f"{base}/depth?symbol=NOPEUSDT")
    assert (status, error["code"]) == (400, -1121)
    status, _, error = await get(http, f"{base}/depth?symbol=BTCUSDT&limit=7")
    assert (status, error["code"]) == (400, -1130)


async def test_429_then_418_with_retry_after_then_recovery(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    wall = WallClock(1_767_225_630.0)  # 30 s into a minute
    ex = await serve(wall=wall, rest_weight_limit=30, ban_s=120)
    url = f"{ex.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    status, headers, _ = await get(http, url)
    assert (status, headers[WEIGHT]) == (200, "20")
    status, headers, body = await get(http, url)
    assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "30")
    status, headers, body = await get(http, url)
    assert (status, headers["Retry-After"]) == (418, "120")
    wall.now += 60
    status, headers, _ = await get(http, url)
    assert (status, headers["Retry-After"]) == (418, "60")
    wall.now += 61
    status, headers, _ = await get(http, url)
    assert (status, headers[WEIGHT]) == (200, "20")
    assert (ex.counters.rest_429, ex.counters.rest_418) == (1, 2)


def test_limiter_waiting_out_a_429_is_not_banned() -> None:
    limiter = RestLimiter(limit=10, ban_s=120)
    assert limiter.admit("a", 10, 5.0).status == 200
    over = limiter.admit("a", 1, 5.0)
    assert (over.status, over.retry_after_s) == (429, 55)
    assert limiter.admit("a", 1, 60.0).status == 200
    assert limiter.admit("b", 1, 60.0).status == 200


# --------------------------------------------------------------------------- faults


async def test_rest_429_storm_and_forced_ban_via_admin(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    wall = WallClock()
    ex = await serve(wall=wall)
    url = f"{ex.rest_url}/fapi/v1/exchangeInfo"
    status, result = await admin(http, ex.rest_url, {"rest_429_storm_s": 20})
    assert (status, result["actions"]) == (200, ["rest_429_storm_s"])
    status, headers, _ = await get(http, url)
    assert (status, headers["Retry-After"]) == (429, "20")
    wall.now += 21
    assert (await get(http, url))[0] == 200
    await admin(http, ex.rest_url, {"rest_ban_s": 5})
    status, headers, _ = await get(http, url)
    assert (status, headers["Retry-After"]) == (418, "5")
    assert ex.counters.rest_429_storms == 1


async def test_rest_5xx_rate(serve: Serve, http: aiohttp.ClientSession) -> None:
    ex = await serve(faults=Faults(rest_5xx_rate=1.0))
    url = f"{ex.rest_url}/fapi/v1/exchangeInfo"
    assert [(await get(http, url))[0] for _ in range(3)] == [503, 503, 503]
    await admin(http, ex.rest_url, {"rest_5xx_rate": 0.0})
    assert (await get(http, url))[0] == 200
    assert ex.counters.rest_5xx == 3


async def test_drop_now_cuts_connections_without_a_close_frame(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    ex = await serve()
    async with connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        status, _ = await admin(http, ex.rest_url, {"drop_now": True})
        assert status == 200
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.rcvd is None
    assert (ex.counters.drops_injected, ex.counters.connections_dropped) == (1, 1)
    async with http.get(f"{ex.rest_url}/_admin/stats") as resp:
        stats = await resp.json()
    assert stats["counters"]["outages"][0]["kind"] == "drop"
    assert stats["connections"] == 0


async def test_drop_every_n_seconds(serve: Serve) -> None:
    ex = await serve(faults=Faults(drop_every_s=0.1))
    for _ in range(2):
        async with connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as ws:
            with pytest.raises(ConnectionClosed):
                await drain(ws)
    assert ex.counters.connections_dropped >= 2


async def test_stall_withholds_frames_then_resumes(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0)
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        await admin(http, ex.rest_url, {"stall_s": 0.3})
        clock.advance(1.45)  # five trades due while stalled
        await eventually(lambda: ex.counters.frames_stalled == 5, what="5 stalled frames")
        silent, _ = await request(ws, "LIST_SUBSCRIPTIONS")
        assert silent == []
        loop = asyncio.get_running_loop()
        await eventually(lambda: loop.time() >= ex.state.stall_until)  # type: ignore[union-attr]
        clock.advance(10.0)
        await settle(ex)
        resumed, _ = await request(ws, "LIST_SUBSCRIPTIONS")
    assert [json.loads(f)["a"] for f in resumed] == list(range(105, 120))
    assert ex.counters.stalls_injected == 1


async def test_malformed_frames_are_injected_before_good_ones(serve: Serve) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0, faults=Faults(malformed_rate=1.0))
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        clock.advance(10.0)
        await settle(ex)
        frames, _ = await request(ws, "LIST_SUBSCRIPTIONS")
    results = [decode_frame(f.encode(), 0) for f in frames]
    bad = [r for r in results if isinstance(r, WireError)]
    assert len(bad) == 20
    assert len(results) == 40
    assert ex.counters.malformed_injected == 20


async def test_oversized_frames(serve: Serve) -> None:
    clock = ManualClock()
    faults = Faults(oversized_rate=1.0, oversized_bytes=300_000)
    ex = await serve(clock=clock, speed=1.0, faults=faults)
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade", max_size=1 << 21) as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        clock.advance(1.0)
        first = await asyncio.wait_for(ws.recv(), 5)
    assert len(first) == 300_000
    assert ex.counters.oversized_injected >= 1


async def test_slow_sends_delay_every_frame(serve: Serve) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0, faults=Faults(slow_send_s=0.02))
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        started = loop.time()
        clock.advance(10.0)
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(20)]
        elapsed = loop.time() - started
    assert len(got) == 20
    assert elapsed >= 20 * 0.02
    assert ex.counters.slow_sends >= 20


async def test_lifetime_override_forces_rollover_of_open_connections(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    ex = await serve()
    async with connect(f"{ex.ws_url}/public/ws/btcusdt@bookTicker") as ws:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        await admin(http, ex.rest_url, {"max_lifetime_s": 0.05})
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    assert ex.counters.lifetime_closes == 1


@pytest.mark.parametrize(
    "body",
    [
        {"colour": 1},
        {"malformed_rate": 2.0},
        {"malformed_rate": 0.5, "stall_s": -1},
        {"drop_every_s": 0},
        {"drop_now": "yes"},
        [1, 2],
    ],
)
async def test_admin_rejects_invalid_changes_atomically(
    serve: Serve, http: aiohttp.ClientSession, body: Any
) -> None:
    ex = await serve()
    status, result = await admin(http, ex.rest_url, body)
    assert status == 400
    assert "error" in result
    assert ex.faults == Faults()
    async with http.get(f"{ex.rest_url}/_admin/faults") as resp:
        assert await resp.json() == Faults().to_dict()


async def test_a_full_outbox_disconnects_a_slow_consumer_without_stalling_the_replay(
    serve: Serve,
) -> None:
    clock = ManualClock()
    ex = await serve(clock=clock, speed=1.0, send_queue_frames=2, faults=Faults(slow_send_s=0.2))
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as slow:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        clock.advance(10.0)
        await eventually(lambda: ex.replayer.finished.is_set())  # type: ignore[union-attr]
        with pytest.raises(ConnectionClosed) as closed:
            await drain(slow)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert ex.counters.slow_consumer_disconnects == 1
