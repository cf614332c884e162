"""Per-connection outgoing frames, written to the socket in batches.

Replaying at hundreds of thousands of frames per second, a queue hop plus a socket write per
frame costs more than the rest of the pipeline, so frames are WebSocket-framed here
(server frames: unmasked, FIN, text opcode) and every batch that accumulated while the
writer was busy goes out in one ``transport.write``. The outbox holds at most ``capacity``
frames: a timed replay treats a full outbox as a slow consumer, a ``max`` replay waits.
Control replies, pings and close frames still go through aiohttp; each write is a whole
frame, so the two never interleave inside a frame.

Injected bad frames (malformed or oversized) are tracked through the outbox so the soak can
reconcile them exactly: each is queued (``malformed_queued``, in an outbox or a writer's
batch), written to the transport (``malformed_sent``) or discarded unsent
(``malformed_discarded``: queued when the connection closed, refused by a closed or full
outbox, or still in the transport's buffer when this side cut the socket).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable

from aiohttp import web

from csx_live.exchange.config import Counters, Faults

TRANSPORT_HIGH_WATER = 64 << 10
"""Bytes buffered in the transport above which the writer waits (1 ms steps) for the
kernel to take them: small, so frames wait in the outbox (bounded, counted when discarded)
rather than in an unbounded transport buffer the client can only drain seconds later."""


def frame_header(size: int) -> bytes:
    """RFC 6455 header of an unmasked final text frame carrying ``size`` bytes."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65_536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


class Outbox:
    """Frames waiting for one connection (bounded, with wake-ups for writer and producer).
    ``bad=True`` marks an injected bad frame, accounted in ``counters``."""

    def __init__(self, capacity: int, counters: Counters) -> None:
        self.capacity = capacity
        self.counters = counters
        self.frames = 0
        self.closed = False
        self._parts: list[bytes] = []
        self._bad: list[int] = []  # indices (in this batch) of the queued bad frames
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self.written_bytes = 0
        self._bad_ends: deque[int] = deque()  # end offsets of bad frames written lately

    def full(self) -> bool:
        return self.frames >= self.capacity

    @property
    def bad_queued(self) -> int:
        """Injected bad frames waiting in this outbox."""
        return len(self._bad)

    def put(self, payload: bytes, *, bad: bool = False) -> None:
        """Append one frame (the caller checks ``full`` first; a closed outbox drops it)."""
        if self.closed:
            self.counters.malformed_discarded += bad
            return
        if bad:
            self._bad.append(self.frames)
            self.counters.malformed_queued += 1
        self._parts += (frame_header(len(payload)), payload)
        self.frames += 1
        self._ready.set()

    def refuse(self, *, bad: bool) -> None:
        """A frame not queued (a full outbox under a timed replay): discarded unsent."""
        self.counters.malformed_discarded += bad

    async def put_waiting(self, payload: bytes, *, bad: bool = False) -> None:
        """Append one frame, waiting while the outbox is full (``max``-speed back-pressure)."""
        await self.wait_for_space()
        self.put(payload, bad=bad)

    async def wait_for_space(self) -> None:
        """Return once a frame can be queued (or the outbox closed)."""
        while self.full() and not self.closed:
            self._space.clear()
            await self._space.wait()

    async def wait_empty(self) -> None:
        """Return once every queued frame has gone to the writer (or the outbox closed)."""
        while self.frames and not self.closed:
            self._space.clear()
            await self._space.wait()

    async def wait_ready(self) -> None:
        """Return once a frame is queued (or the outbox closed), taking nothing."""
        while not self.frames and not self.closed:
            self._ready.clear()
            await self._ready.wait()

    async def take(self) -> tuple[list[bytes], int, list[int]]:
        """Everything queued (header/payload parts, frame count, indices of the bad frames),
        waiting for at least one."""
        await self.wait_ready()
        parts, frames, bad = self._parts, self.frames, self._bad
        self._parts, self.frames, self._bad = [], 0, []
        self._space.set()
        return parts, frames, bad

    def take_one(self) -> tuple[list[bytes], int, list[int]]:
        """The oldest queued frame, like ``take`` but at most one and without waiting: a
        slow writer takes frames one at a time, so the backlog stays in the bounded outbox
        instead of in a batch the writer holds for ``len(batch) x slow_send_s``."""
        if not self.frames:
            return [], 0, []
        parts = self._parts[:2]
        del self._parts[:2]
        self.frames -= 1
        bad = [0] if self._bad and self._bad[0] == 0 else []
        self._bad = [i - 1 for i in self._bad[len(bad) :]]
        self._space.set()
        return parts, 1, bad

    def close(self) -> None:
        self.closed = True
        self.counters.discard_queued(len(self._bad))
        self._parts, self.frames, self._bad = [], 0, []
        self._space.set()
        self._ready.set()

    def wrote(self, parts: list[bytes], bad: list[int], buffered: int) -> None:
        """``parts`` went to the transport (``buffered`` bytes of it still unsent)."""
        offset = self.written_bytes
        ends = self._bad_ends
        bad_at = set(bad)
        for i in range(0, len(parts), 2):
            offset += len(parts[i]) + len(parts[i + 1])
            if i // 2 in bad_at:
                ends.append(offset)
        self.written_bytes = offset
        self.counters.malformed_sent += len(bad)
        self.counters.malformed_queued -= len(bad)
        flushed = offset - buffered
        while ends and ends[0] <= flushed:
            ends.popleft()

    def cut(self, buffered: int) -> None:
        """The socket is about to be aborted with ``buffered`` bytes unsent: the bad frames
        not wholly handed to the kernel never reach the client (discarded, not sent)."""
        flushed = self.written_bytes - buffered
        lost = sum(1 for end in self._bad_ends if end > flushed)
        self._bad_ends.clear()
        self.counters.malformed_sent -= lost
        self.counters.malformed_discarded += lost
        self.close()


async def run_writer(
    outbox: Outbox,
    ws: web.WebSocketResponse,
    transport: asyncio.WriteTransport,
    faults: Faults,
    counters: Counters,
    stall_left_s: Callable[[], float] = lambda: 0.0,
) -> None:
    """Move frames from ``outbox`` to the socket until either closes; ``faults.slow_send_s``
    delays every frame (one write each, taken one at a time). While ``stall_left_s()`` is
    positive nothing is written: a stalled exchange delivers nothing, not even the backlog
    it queued before (which would hide the stall from the client's stale-stream
    watchdog)."""
    while True:
        # wait for frames before looking at the stall, so a stall that begins while the
        # writer waits for frames still keeps them queued (counted, discardable)
        await outbox.wait_ready()
        left = stall_left_s()
        if left > 0 and not outbox.closed:
            await asyncio.sleep(left)  # the handler cancels this task when the link ends
            continue
        slow = faults.slow_send_s > 0
        parts, frames, bad = outbox.take_one() if slow else await outbox.take()
        if outbox.closed or ws.closed or transport.is_closing():
            counters.discard_queued(len(bad))
            return
        if slow:
            if not await _write_slowly(parts, bad, outbox, ws, transport, faults, counters):
                return
            continue
        transport.write(b"".join(parts))
        counters.frames_sent += frames
        outbox.wrote(parts, bad, transport.get_write_buffer_size())
        high = TRANSPORT_HIGH_WATER
        while transport.get_write_buffer_size() > high and not transport.is_closing():  # noqa: ASYNC110 - the transport offers no public drain
            await asyncio.sleep(0.001)


async def _write_slowly(
    parts: list[bytes],
    bad: list[int],
    outbox: Outbox,
    ws: web.WebSocketResponse,
    transport: asyncio.WriteTransport,
    faults: Faults,
    counters: Counters,
) -> bool:
    """One write per frame after ``faults.slow_send_s``; False once the link closed. The
    bad frames not written yet are discarded when the link closes or the writer is
    cancelled (the connection ended) mid-batch."""
    written = 0
    try:
        for i in range(0, len(parts), 2):
            counters.slow_sends += 1
            await asyncio.sleep(faults.slow_send_s)
            if ws.closed or transport.is_closing():
                return False
            transport.write(parts[i] + parts[i + 1])
            written = i // 2 + 1
            counters.frames_sent += 1
            one_bad = [0] if written - 1 in bad else []
            outbox.wrote(parts[i : i + 2], one_bad, transport.get_write_buffer_size())
        return True
    finally:
        counters.discard_queued(sum(1 for j in bad if j >= written))
