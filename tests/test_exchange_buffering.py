"""The fake exchange keeps what it buffers per connection small and bounded, so a client that
cannot keep up sees back-pressure, and an injected cut reaches it after a fraction of a
second of frames rather than after the megabytes an unbounded outbox, transport buffer and
autotuned kernel buffer hold (issue 19: under overload the runner saw cuts ~15 s late)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from csx_live.exchange.config import Counters, ExchangeConfig
from csx_live.exchange.outbox import TRANSPORT_HIGH_WATER, Outbox
from tests.test_exchange import Serve, eventually, make_events, serve

__all__ = ["serve"]
pytestmark = pytest.mark.timeout(60)


async def test_each_connection_gets_a_small_kernel_send_buffer(serve: Serve) -> None:
    ex = await serve(make_events(5), speed=None, await_clients=1)
    hub = ex.control.hub  # type: ignore[union-attr]
    url = f"{ex.ws_url}/market/ws/btcusdt@aggTrade"
    async with aiohttp.ClientSession() as session, session.ws_connect(url):
        await eventually(lambda: len(hub.connections) == 1)
        conn = next(iter(hub.connections))
        sock = conn.transport.get_extra_info("socket")
        # Linux doubles the value asked for (bookkeeping overhead)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * (
            ExchangeConfig().socket_send_buffer_bytes
        )


def test_a_negative_send_buffer_is_refused() -> None:
    with pytest.raises(ValueError, match="socket_send_buffer_bytes"):
        ExchangeConfig(socket_send_buffer_bytes=-1)


async def test_a_cut_reaches_a_stuck_client_after_a_bounded_backlog(serve: Serve) -> None:
    """Max speed against a client that stops reading: the outbox fills and the replay waits.
    After the cut the client can still read only what had reached the kernel: with the
    default bounds that is a few hundred kB; an unbounded transport buffer and an autotuned
    send buffer held megabytes (seconds of frames for the runner under overload)."""
    ex = await serve(make_events(60_000), speed=None, await_clients=1)
    hub = ex.control.hub  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"{ex.ws_url}/market/ws/btcusdt@aggTrade", max_msg_size=0, autoping=False
        )
        # the client bounds its own kernel buffer (as the runner's links do), so what it
        # reads after the cut measures the exchange's side
        client_sock = ws.get_extra_info("socket")
        client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        await eventually(lambda: len(hub.connections) == 1)
        conn = next(iter(hub.connections))
        replay = ex.replayer
        assert replay is not None
        await eventually(
            lambda: conn.outbox.full() or replay.finished.is_set(),
            within_s=20,
            what="the replay waits for the stuck client",
        )
        await asyncio.sleep(0.3)  # the writer has pushed all it can towards the kernel
        assert not replay.finished.is_set()  # back-pressure stopped it, the outbox is full
        assert conn.transport.get_write_buffer_size() <= TRANSPORT_HIGH_WATER + (1 << 20)
        sent = ex.counters.frames_sent
        assert (await hub.drop_all())[0] == 1
        after_cut = 0
        while True:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            after_cut += len(msg.data)
    # what the client reads after the cut is what was written to the kernel, all of it
    # bounded by the server's send buffer and the client's receive buffers
    assert 0 < after_cut < 1_000_000
    assert ex.counters.frames_sent == sent  # nothing written after the cut


async def test_a_slow_writer_takes_frames_one_at_a_time_keeping_the_bad_ones_marked() -> None:
    """Under ``slow_send_s`` the backlog stays in the bounded outbox (counted, discardable
    on close), not in a batch the writer holds for ``len(batch) x slow_send_s``."""
    counters = Counters()
    outbox = Outbox(8, counters)
    for i, bad in enumerate([False, True, False, True]):
        outbox.put(b"f%d" % i, bad=bad)
    taken = []
    while outbox.frames:
        parts, frames, bad_at = outbox.take_one()
        assert frames == 1
        taken.append((parts[1], bad_at))
    assert taken == [(b"f0", []), (b"f1", [0]), (b"f2", []), (b"f3", [0])]
    assert outbox.take_one() == ([], 0, [])
    assert counters.malformed_queued == 2  # taken, not yet written or discarded


async def test_an_outbox_is_empty_once_its_frames_are_taken() -> None:
    outbox = Outbox(8, Counters())
    outbox.put(b"a")
    outbox.put(b"b")
    waiting = asyncio.create_task(outbox.wait_empty())
    await asyncio.sleep(0)
    assert not waiting.done()
    outbox.take_one()
    await asyncio.sleep(0)
    assert not waiting.done(), "one frame is still queued"
    await outbox.take()
    await asyncio.wait_for(waiting, 1)
