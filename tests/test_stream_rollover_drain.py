"""A planned rollover closes the old link without throwing away the frames already on their
way: the runner asks the exchange to close and reads on until the exchange's close frame,
so every frame the exchange wrote is read (and its bad frames counted as malformed) rather
than discarded unseen inside the client's close (issue 19: injected malformed frames must
be counted, not lost)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from csx_core.resilience.backoff import BackoffPolicy
from csx_live.connectors import ShardManager, StreamTiming, plan_shards
from csx_live.exchange import ExchangeConfig, FakeExchange, Faults, ListSource
from tests.test_exchange import eventually, make_events

pytestmark = pytest.mark.timeout(60)
FAST = BackoffPolicy(base_s=0.02, cap_s=0.1, healthy_after_s=5.0)


@pytest.fixture
async def flood() -> AsyncIterator[FakeExchange]:
    """A max-speed looping replay with 5 % malformed frames."""
    config = ExchangeConfig(speed=None, loop=True, await_clients=1)
    async with FakeExchange(
        ListSource(make_events(2_000)), config, faults=Faults(malformed_rate=0.05)
    ) as ex:
        yield ex


class Sink:
    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, frame: bytes, recv_ns: int) -> bool:
        self.frames += 1
        return frame.endswith(b"}}")


async def test_every_frame_written_before_a_rollover_close_is_read(
    flood: FakeExchange,
) -> None:
    timing = StreamTiming(stale_s=5.0, rollover_after_s=0.5, overlap_grace_s=0.2)
    async with aiohttp.ClientSession() as session:
        shards = ShardManager(
            ws_base=flood.ws_url, session=session, on_frame=Sink(), backoff_policy=FAST,
            timing=timing, rand=lambda: 0.5,
        )  # fmt: skip
        await shards.apply(plan_shards(["btcusdt@aggTrade"]))
        try:
            await eventually(lambda: shards.stats.rollovers >= 3, within_s=20)
            # freeze the exchange's writers and let the open link drain
            flood.control.stall(30.0)  # type: ignore[union-attr]
            counters, stats = flood.counters, shards.stats
            await eventually(lambda: stats.frames_in == counters.frames_sent, within_s=5)
        finally:
            await shards.stop()
    assert counters.connections_opened >= 4
    assert stats.malformed_frames > 0
    # what the exchange handed to the kernel for this client all arrived
    assert counters.frames_sent == stats.frames_in
    assert counters.malformed_sent == stats.malformed_frames


async def test_links_get_the_configured_receive_buffer(flood: FakeExchange) -> None:
    timing = StreamTiming(stale_s=5.0, recv_buffer_bytes=200_000)
    async with aiohttp.ClientSession() as session:
        shards = ShardManager(
            ws_base=flood.ws_url, session=session, on_frame=Sink(), backoff_policy=FAST,
            timing=timing, rand=lambda: 0.5,
        )  # fmt: skip
        await shards.apply(plan_shards(["btcusdt@aggTrade"]))
        try:
            await eventually(shards.all_connected)
            (manager,) = shards.managers.values()
            (link,) = manager._links
            sock = link.ws.get_extra_info("socket")
            # Linux doubles the value asked for (and locks it: no autotuning)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 400_000
        finally:
            await shards.stop()


def test_the_default_receive_buffer_is_bounded() -> None:
    size = StreamTiming().recv_buffer_bytes
    assert size is not None
    assert size <= 1 << 20
