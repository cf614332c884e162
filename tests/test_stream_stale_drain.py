"""A link the stale-stream watchdog gives up on is closed without throwing away the frames
already on their way: a feed that starts (or resumes) just as the watchdog fires sends its
first burst while the close is under way, and those frames must be decoded and counted,
not read and discarded unseen inside the client's close (the soak's
``malformed_unaccounted``). The outage stays open until the next link delivers, and a peer
that never answers the close costs ``close_timeout_s`` once, not twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from csx_core.resilience.backoff import BackoffPolicy
from csx_live.connectors import ShardManager, StreamTiming, plan_shards

pytestmark = pytest.mark.timeout(60)
FAST = BackoffPolicy(base_s=0.02, cap_s=0.1, healthy_after_s=5.0)
PLANS = plan_shards(["btcusdt@aggTrade"])
BURST = 40
FRAME = b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT"}}'

Behaviour = Callable[[web.WebSocketResponse, int], Awaitable[None]]


async def burst_on_close(ws: web.WebSocketResponse, connect: int) -> None:
    """Silent until the client closes; then, on the first connection only, the burst the
    feed had on its way, and only then the close reply."""
    msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE
    if connect == 1:
        for _ in range(BURST):
            await ws.send_bytes(FRAME)


async def never_answers(ws: web.WebSocketResponse, connect: int) -> None:
    """Never reads, so the client's close frame is never answered."""
    await asyncio.sleep(3600)


@dataclass
class Silent:
    behaviour: Behaviour
    connect_times: list[float] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Silent]]:
    state = Silent(behaviour=burst_on_close)
    sockets: set[web.WebSocketResponse] = set()

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoclose=False, autoping=False)
        await ws.prepare(request)
        state.connect_times.append(asyncio.get_running_loop().time())
        sockets.add(ws)
        try:
            await state.behaviour(ws, len(state.connect_times))
        except (ConnectionError, RuntimeError):
            pass
        finally:
            sockets.discard(ws)
            await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/market/stream", handle)
    app.router.add_get("/public/stream", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"ws://127.0.0.1:{runner.addresses[0][1]}", state
    for ws in list(sockets):
        await ws.close()
    await runner.cleanup()


class Sink:
    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, frame: bytes, recv_ns: int) -> bool:
        self.frames += 1
        return True


async def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _shards(base: str, session: aiohttp.ClientSession, sink: Sink, **timing: float) -> ShardManager:
    return ShardManager(
        ws_base=base, session=session, on_frame=sink, backoff_policy=FAST,
        timing=StreamTiming(**timing), rand=lambda: 0.5,
    )  # fmt: skip


async def test_frames_sent_while_a_stale_link_closes_are_read(
    server: tuple[str, Silent],
) -> None:
    base, state = server
    sink = Sink()
    async with aiohttp.ClientSession() as session:
        shards = _shards(base, session, sink, stale_s=0.3, close_timeout_s=2.0)
        await shards.apply(PLANS)
        try:
            await eventually(lambda: len(state.connect_times) >= 3)
            ledger, stats = shards.ledger, shards.stats
        finally:
            await shards.stop()
    assert stats.stale_timeouts >= 2
    assert sink.frames == BURST
    assert stats.frames_in == BURST
    # the retiring link's frames did not end the outage: no link delivered after it
    assert ledger.closed_gaps() == []
    (gap,) = ledger.open_gaps()
    assert gap.reason == "stale"
    assert gap.end_ns is None


async def test_a_close_nobody_answers_is_given_up_once(server: tuple[str, Silent]) -> None:
    base, state = server
    state.behaviour = never_answers
    async with aiohttp.ClientSession() as session:
        shards = _shards(base, session, Sink(), stale_s=0.2, close_timeout_s=1.0)
        await shards.apply(PLANS)
        try:
            await eventually(lambda: len(state.connect_times) >= 3)
        finally:
            await shards.stop()
    first, second = state.connect_times[:2]
    # stale after 0.2-0.25 s, then the close gives up after 1.0 s (a second wait inside
    # aiohttp's own close would make it 2.2 s or more)
    assert second - first < 1.8
