"""The fake exchange accounts for every injected bad frame: handed to the kernel
(``malformed_sent``) or discarded unsent (``malformed_discarded``: queued in an outbox that
closed, refused by a full one, or still in the transport's buffer when the socket was cut),
so a soak can reconcile what it injected with what the runner counted."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from csx_core.wire import WireError, decode_frame
from csx_live.exchange import Faults
from csx_live.exchange.config import Counters
from tests.test_exchange import ManualClock, Serve, eventually, make_events, serve

__all__ = ["serve"]
pytestmark = pytest.mark.timeout(30)


def injected(c: Counters) -> int:
    return c.malformed_injected + c.oversized_injected


async def test_a_slow_consumer_cut_with_bad_frames_queued_counts_them_discarded(
    serve: Serve,
) -> None:
    clock = ManualClock()
    faults = Faults(slow_send_s=0.05, malformed_rate=0.5)
    ex = await serve(clock=clock, speed=1.0, send_queue_frames=4, faults=faults)
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as slow:
        await eventually(lambda: len(ex.control.hub.connections) == 1)  # type: ignore[union-attr]
        clock.advance(10.0)
        await eventually(lambda: ex.replayer.finished.is_set())  # type: ignore[union-attr]
        received = await until_closed(slow)
    c = ex.counters
    assert c.slow_consumer_disconnects == 1
    assert c.malformed_discarded > 0
    assert injected(c) == c.malformed_sent + c.malformed_discarded + c.malformed_queued
    assert c.malformed_queued == 0  # no connection left to queue for
    # a close with a close frame delivers everything handed to the kernel
    bad = [f for f in received if isinstance(decode_frame(_bytes(f), 0), WireError)]
    assert len(bad) == c.malformed_sent


async def test_a_cut_mid_flood_counts_the_bad_frames_that_never_left(serve: Serve) -> None:
    """Max speed against a client that reads nothing: the outbox is full and the transport
    buffer holds megabytes when the link is cut; those bad frames are discarded, not sent."""
    faults = Faults(malformed_rate=0.3, oversized_rate=0.05, oversized_bytes=300_000)
    ex = await serve(
        make_events(3_000), speed=None, send_queue_frames=64, await_clients=1, faults=faults
    )
    hub = ex.control.hub  # type: ignore[union-attr]
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade", max_size=None) as ws:
        await eventually(lambda: len(hub.connections) == 1)
        conn = next(iter(hub.connections))
        # the writer waits for the kernel (transport buffer above its high water) while
        # the replay fills the outbox behind it
        await eventually(
            lambda: conn.outbox.full() and conn.transport.get_write_buffer_size() > 1_000_000
        )
        buffered = conn.transport.get_write_buffer_size()
        before, queued = ex.counters.malformed_discarded, conn.outbox.bad_queued
        assert (await hub.drop_all())[0] == 1
        await until_closed(ws)
    c = ex.counters
    assert buffered > 1_000_000  # the cut threw away a full transport buffer
    # the queued ones and the ones in the transport buffer (1 MB of ~200-byte frames is
    # more than the replay holds, so it holds at least one 300 kB oversized frame)
    assert c.malformed_discarded - before > queued
    assert injected(c) == c.malformed_sent + c.malformed_discarded + c.malformed_queued
    assert c.malformed_queued == 0  # no connection left to queue for
    assert c.frames_sent > 0


async def until_closed(ws: ClientConnection) -> list[str | bytes]:
    """Every frame the client reads until the server closes or cuts the link."""
    frames: list[str | bytes] = []
    try:
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), 5))
    except ConnectionClosed:
        return frames


def _bytes(frame: str | bytes) -> bytes:
    return frame.encode() if isinstance(frame, str) else frame


async def test_a_stall_withholds_the_queued_backlog_too(serve: Serve) -> None:
    """At max speed the outbox holds a backlog of frames; a stall that kept flushing them
    would hide itself from the client's stale-stream watchdog."""
    # Enough events that the max-speed replay is still going when the stall begins.
    ex = await serve(make_events(30_000), speed=None, send_queue_frames=256, await_clients=1)
    hub = ex.control.hub  # type: ignore[union-attr]
    async with connect(f"{ex.ws_url}/market/ws/btcusdt@aggTrade") as ws:
        reader = asyncio.create_task(until_closed(ws))
        await eventually(lambda: ex.counters.frames_sent > 0)
        # the stall begins while frames are queued (the client reads as fast as it can)
        await eventually(lambda: any(c.outbox.frames for c in hub.connections))
        ex.control.stall(0.6)  # type: ignore[union-attr]
        await asyncio.sleep(0.15)  # a write already under way may finish
        held = ex.counters.frames_sent
        await asyncio.sleep(0.3)
        assert ex.counters.frames_sent == held
        assert sum(c.outbox.frames for c in hub.connections) > 0  # held, not dropped
        await eventually(lambda: ex.counters.frames_sent > held, what="resumes after the stall")
        reader.cancel()
