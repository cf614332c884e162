"""Connectors against a real aiohttp WS server on 127.0.0.1: routing, shards, reconnect with
backoff, gap ledger, stale watchdog, pong handling, rollover without gap or duplicate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from csx_core.resilience.backoff import BackoffPolicy
from csx_live.connectors import (
    OverlapDeduper,
    PlanError,
    ShardManager,
    StreamTiming,
    combined_url,
    frame_key,
    plan_shards,
    route_of,
    streams_for,
)

FAST = BackoffPolicy(base_s=0.02, cap_s=0.1, healthy_after_s=5.0)


async def eventually(condition: Callable[[], bool], within_s: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- planning


@pytest.mark.parametrize(
    ("stream", "route"),
    [
        ("btcusdt@bookTicker", "public"),
        ("btcusdt@depth20@100ms", "public"),
        ("btcusdt@aggTrade", "market"),
        ("btcusdt@markPrice@1s", "market"),
        ("btcusdt@kline_1m", "market"),
        ("btcusdt@forceOrder", "market"),
        ("!markPrice@arr@1s", "market"),
        ("!bookTicker", "public"),
    ],
)
def test_routes(stream: str, route: str) -> None:
    assert route_of(stream) == route


def test_unknown_stream_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(PlanError):
        route_of("btcusdt@nonsense")


def test_combined_url() -> None:
    url = combined_url("wss://fstream.binance.com", "market", ["a@aggTrade", "b@aggTrade"])
    assert url == "wss://fstream.binance.com/market/stream?streams=a@aggTrade/b@aggTrade"


def test_shards_respect_the_cap_route_and_balance() -> None:
    symbols = [f"S{i:03d}USDT" for i in range(250)]
    streams = streams_for(symbols, ["bookTicker", "aggTrade", "markPrice@1s"])
    plans = plan_shards(streams, max_per_connection=200)
    assert sorted(s for p in plans for s in p.streams) == sorted(streams)
    for plan in plans:
        assert len(plan.streams) <= 200
        assert {route_of(s) for s in plan.streams} == {plan.route}
    sizes = sorted(len(p.streams) for p in plans if p.route == "market")
    assert sizes == [166, 167, 167]
    assert plans == plan_shards(reversed(streams), max_per_connection=200)


def test_frame_key_and_dedupe() -> None:
    a = b'{"stream":"x@bookTicker","data":{"e":"bookTicker","u":5,"E":1,"s":"X"}}'
    same = b'{"data":{"s":"X","E":1,"u":5,"e":"bookTicker"},"stream":"x@bookTicker"}'
    assert frame_key(a) == frame_key(same)
    assert frame_key(b"garbage") is None
    dedupe = OverlapDeduper(capacity=2)
    assert [dedupe.seen_before(f) for f in (a, same, b"garbage", b"garbage")] == [
        False,
        True,
        False,
        False,
    ]


# ---------------------------------------------------------------- a tiny exchange


@dataclass
class Feed:
    """Broadcasts sequenced bookTicker frames to every connected client every 2 ms."""

    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    seq: int = 0
    paused: bool = False
    connections: int = 0
    paths: list[str] = field(default_factory=list)
    pongs: int = 0
    accept: bool = True
    refused_at: list[float] = field(default_factory=list)

    def frame(self) -> bytes:
        data = {"e": "bookTicker", "u": self.seq, "E": 1_000 + self.seq, "s": "BTCUSDT"}
        return json.dumps({"stream": "btcusdt@bookTicker", "data": data}).encode()

    async def produce(self) -> None:
        while True:
            await asyncio.sleep(0.002)
            if self.paused or not self.sockets:
                continue
            self.seq += 1
            frame = self.frame().decode()
            for ws in list(self.sockets):
                if not ws.closed:
                    await ws.send_str(frame)

    async def drop_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close()


@pytest.fixture
async def exchange() -> AsyncIterator[tuple[str, Feed]]:
    feed = Feed()

    async def handle(request: web.Request) -> web.StreamResponse:
        if not feed.accept:
            feed.refused_at.append(asyncio.get_running_loop().time())
            raise web.HTTPServiceUnavailable
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        feed.connections += 1
        feed.paths.append(request.path_qs)
        feed.sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.PONG:
                    feed.pongs += 1
        finally:
            feed.sockets.remove(ws)
        return ws

    app = web.Application()
    app.router.add_get("/public/stream", handle)
    app.router.add_get("/market/stream", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    producer = asyncio.create_task(feed.produce())
    yield f"ws://127.0.0.1:{runner.addresses[0][1]}", feed
    producer.cancel()
    await feed.drop_all()
    await runner.cleanup()


@dataclass
class Collected:
    seqs: list[int] = field(default_factory=list)

    def __call__(self, frame: bytes, recv_ns: int) -> None:
        self.seqs.append(json.loads(frame)["data"]["u"])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _manager(
    base: str, session: aiohttp.ClientSession, sink: Collected, timing: StreamTiming
) -> ShardManager:
    return ShardManager(
        ws_base=base,
        session=session,
        on_frame=sink,
        backoff_policy=FAST,
        timing=timing,
        rand=lambda: 0.5,
    )


async def test_reconnects_after_drop_and_records_the_gap(
    exchange: tuple[str, Feed], session: aiohttp.ClientSession
) -> None:
    base, feed = exchange
    sink = Collected()
    shards = _manager(base, session, sink, StreamTiming(stale_s=5.0))
    plans = plan_shards(["btcusdt@bookTicker"])
    await shards.apply(plans)
    try:
        await eventually(lambda: len(sink.seqs) > 10)
        assert feed.paths == ["/public/stream?streams=btcusdt@bookTicker"]
        feed.accept = False
        await feed.drop_all()
        await eventually(lambda: shards.stats.connect_failures >= 5)
        assert shards.ledger.open_gaps()[0].streams == ("btcusdt@bookTicker",)
        # Full jitter with rand=0.5: waits of 0.5 x min(cap, base x 2^k) = 10, 20, 40, 50 ms.
        waits = [b - a for a, b in zip(feed.refused_at, feed.refused_at[1:], strict=False)]
        for wait, planned in zip(waits, (0.01, 0.02, 0.04, 0.05), strict=False):
            assert wait >= planned * 0.9
        feed.accept = True
        await eventually(lambda: shards.ledger.closed_gaps() != [])
        (gap,) = shards.ledger.entries()
        assert gap.end_ns is not None
        assert gap.end_ns > gap.start_ns
        assert gap.reason == "closed"
        assert shards.stats.reconnects == 1
        assert shards.stats.disconnects == 1
        assert shards.all_connected()
    finally:
        await shards.stop()
    assert not shards.managers


async def test_stale_feed_is_detected_and_reconnected(
    exchange: tuple[str, Feed], session: aiohttp.ClientSession
) -> None:
    base, feed = exchange
    sink = Collected()
    shards = _manager(base, session, sink, StreamTiming(stale_s=0.3, close_timeout_s=0.2))
    await shards.apply(plan_shards(["btcusdt@bookTicker"]))
    try:
        await eventually(lambda: len(sink.seqs) > 5)
        feed.paused = True
        await eventually(lambda: shards.stats.stale_timeouts >= 1)
        feed.paused = False
        await eventually(lambda: shards.stats.reconnects >= 1 and shards.ledger.closed_gaps())
        assert shards.ledger.closed_gaps()[0].reason == "stale"
    finally:
        await shards.stop()


async def test_server_pings_are_answered_with_pongs(
    exchange: tuple[str, Feed], session: aiohttp.ClientSession
) -> None:
    base, feed = exchange
    shards = _manager(base, session, Collected(), StreamTiming())
    await shards.apply(plan_shards(["btcusdt@aggTrade"]))
    try:
        await eventually(lambda: len(feed.sockets) == 1)
        assert feed.paths == ["/market/stream?streams=btcusdt@aggTrade"]
        await feed.sockets[0].ping(b"are-you-there")
        await eventually(lambda: feed.pongs == 1)
    finally:
        await shards.stop()


async def test_planned_rollover_has_no_gap_and_no_duplicates(
    exchange: tuple[str, Feed], session: aiohttp.ClientSession
) -> None:
    base, feed = exchange
    sink = Collected()
    timing = StreamTiming(stale_s=2.0, rollover_after_s=0.4, overlap_grace_s=0.2)
    shards = _manager(base, session, sink, timing)
    await shards.apply(plan_shards(["btcusdt@bookTicker"]))
    try:
        await eventually(lambda: shards.stats.rollovers >= 2)
        await eventually(lambda: len(sink.seqs) > 300)
    finally:
        await shards.stop()
    assert feed.connections >= 3
    assert shards.ledger.entries() == []
    assert shards.stats.duplicates_dropped > 0
    first = sink.seqs[0]
    assert sink.seqs == list(range(first, first + len(sink.seqs))), "gap or duplicate"


async def test_apply_keeps_unchanged_shards_and_stops_removed(
    exchange: tuple[str, Feed], session: aiohttp.ClientSession
) -> None:
    base, feed = exchange
    shards = _manager(base, session, Collected(), StreamTiming())
    one = plan_shards(["btcusdt@bookTicker"])
    two = plan_shards(["btcusdt@bookTicker", "btcusdt@aggTrade"])
    await shards.apply(one)
    try:
        await eventually(shards.all_connected)
        await shards.apply(two)
        await eventually(lambda: shards.connected_count == 2)
        assert feed.connections == 2
        await shards.apply(two[1:])
        assert shards.shard_count == 1
    finally:
        await shards.stop()
