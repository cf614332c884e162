"""StreamManager against hostile servers (issue 22): accept-then-close must not cause a
reconnect storm, and garbage frames must not keep a link alive or ready."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from csx_core.resilience.backoff import BackoffPolicy
from csx_live.connectors import ShardManager, StreamTiming, plan_shards

# rand=0.5 with full jitter: waits of 25, 50, 100, 200, 250, 250, ... ms after early drops.
SLOW = BackoffPolicy(base_s=0.05, cap_s=0.5, healthy_after_s=5.0)
PLANS = plan_shards(["btcusdt@bookTicker"])


async def eventually(condition: Callable[[], bool], within_s: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


Behaviour = Callable[[web.WebSocketResponse], Awaitable[None]]


@dataclass
class Hostile:
    behaviour: Behaviour
    connects: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[str, Hostile]]:
    async def nothing(ws: web.WebSocketResponse) -> None:
        return None

    server = Hostile(behaviour=nothing)

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        server.connects += 1
        server.sockets.append(ws)
        try:
            await server.behaviour(ws)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            server.sockets.remove(ws)
            await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/public/stream", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"ws://127.0.0.1:{runner.addresses[0][1]}", server
    for ws in list(server.sockets):
        await ws.close()
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _shards(base: str, session: aiohttp.ClientSession, timing: StreamTiming) -> ShardManager:
    return ShardManager(
        ws_base=base,
        session=session,
        on_frame=lambda frame, recv_ns: None,
        backoff_policy=SLOW,
        timing=timing,
        rand=lambda: 0.5,
    )


async def test_accept_then_close_is_backed_off_not_a_storm(
    hostile: tuple[str, Hostile], session: aiohttp.ClientSession
) -> None:
    base, server = hostile  # default behaviour: accept, then close at once
    shards = _shards(base, session, StreamTiming(stale_s=1.0))
    await shards.apply(PLANS)
    try:
        await asyncio.sleep(2.0)
        connects = server.connects
        assert 3 <= connects < 20, f"{connects} connects in 2 s"
        assert shards.stats.early_drops >= connects - 1
        assert shards.managers[PLANS[0].shard_id].flapping
        assert not shards.all_connected()
        # the outage is on the ledger: open from the first drop, never closed by a link
        # that delivered nothing
        (gap,) = [g for g in shards.ledger.open_gaps() if g.shard_id == PLANS[0].shard_id]
        assert gap.end_ns is None
    finally:
        await shards.stop()


async def test_garbage_only_link_is_cycled_with_backoff(
    hostile: tuple[str, Hostile], session: aiohttp.ClientSession
) -> None:
    base, server = hostile

    async def garbage(ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await ws.send_bytes(b"\x00\xffnot a frame")
            await asyncio.sleep(0)

    server.behaviour = garbage
    timing = StreamTiming(stale_s=5.0, close_timeout_s=0.1, max_malformed_streak=200)
    shards = _shards(base, session, timing)
    await shards.apply(PLANS)
    ever_ready = False
    try:
        loop = asyncio.get_running_loop()
        until = loop.time() + 2.0
        while loop.time() < until:
            ever_ready = ever_ready or shards.all_connected()
            await asyncio.sleep(0.005)
        stats = shards.stats
        assert stats.malformed_closes >= 2
        assert stats.malformed_frames >= 200 * stats.malformed_closes
        assert stats.valid_events == 0
        assert 2 <= server.connects < 20
        assert stats.early_drops >= stats.malformed_closes - 1
        assert not ever_ready, "a garbage-only link must never count as connected"
    finally:
        await shards.stop()


async def test_garbage_trickle_goes_stale_despite_frames(
    hostile: tuple[str, Hostile], session: aiohttp.ClientSession
) -> None:
    base, server = hostile

    async def trickle(ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await ws.send_str('{"result":null,"id":1}')
            await asyncio.sleep(0.01)

    server.behaviour = trickle
    shards = _shards(base, session, StreamTiming(stale_s=0.3, close_timeout_s=0.2))
    await shards.apply(PLANS)
    try:
        await eventually(lambda: shards.stats.stale_timeouts >= 2)
        assert shards.stats.frames_in > 20
        assert shards.stats.valid_events == 0
        # each link lived a whole stale period: that bounds the reconnect rate
        assert server.connects <= shards.stats.stale_timeouts + 2
        assert not shards.all_connected()
    finally:
        await shards.stop()


async def test_valid_feed_becomes_healthy_and_ready(
    hostile: tuple[str, Hostile], session: aiohttp.ClientSession
) -> None:
    base, server = hostile

    async def feed(ws: web.WebSocketResponse) -> None:
        seq = 0
        while not ws.closed:
            seq += 1
            data = {"e": "bookTicker", "u": seq, "E": seq, "s": "BTCUSDT"}
            await ws.send_str(json.dumps({"stream": "btcusdt@bookTicker", "data": data}))
            await asyncio.sleep(0.005)

    server.behaviour = feed
    shards = _shards(base, session, StreamTiming(stale_s=1.0, healthy_after_s=0.3))
    await shards.apply(PLANS)
    manager = shards.managers[PLANS[0].shard_id]
    try:
        await eventually(shards.all_connected)
        await eventually(lambda: any(link.healthy for link in manager._links))
        assert shards.stats.early_drops == 0
        assert shards.stats.malformed_frames == 0
        assert not manager.flapping
        assert server.connects == 1
    finally:
        await shards.stop()
