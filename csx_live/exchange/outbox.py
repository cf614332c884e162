"""Per-connection outgoing frames, written to the socket in batches.

Replaying at hundreds of thousands of frames per second, a queue hop plus a socket write per
frame costs more than the rest of the pipeline, so frames are WebSocket-framed here
(server frames: unmasked, FIN, text opcode) and every batch that accumulated while the
writer was busy goes out in one ``transport.write``. The outbox holds at most ``capacity``
frames: a timed replay treats a full outbox as a slow consumer, a ``max`` replay waits.
Control replies, pings and close frames still go through aiohttp; each write is a whole
frame, so the two never interleave inside a frame.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

from csx_live.exchange.config import Counters, Faults

_HIGH_WATER = 4 << 20
"""Bytes buffered in the transport above which the writer waits (1 ms steps) for the
kernel to take them."""


def frame_header(size: int) -> bytes:
    """RFC 6455 header of an unmasked final text frame carrying ``size`` bytes."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65_536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


class Outbox:
    """Frames waiting for one connection (bounded, with wake-ups for writer and producer)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.frames = 0
        self.closed = False
        self._parts: list[bytes] = []
        self._ready = asyncio.Event()
        self._space = asyncio.Event()

    def full(self) -> bool:
        return self.frames >= self.capacity

    def put(self, payload: bytes) -> None:
        """Append one frame (the caller checks ``full`` first; a closed outbox drops it)."""
        if self.closed:
            return
        self._parts += (frame_header(len(payload)), payload)
        self.frames += 1
        self._ready.set()

    async def put_waiting(self, payload: bytes) -> None:
        """Append one frame, waiting while the outbox is full (``max``-speed back-pressure)."""
        while self.full() and not self.closed:
            self._space.clear()
            await self._space.wait()
        self.put(payload)

    async def take(self) -> tuple[list[bytes], int]:
        """Everything queued (header/payload parts, frame count), waiting for at least one."""
        while not self.frames and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        parts, frames = self._parts, self.frames
        self._parts, self.frames = [], 0
        self._space.set()
        return parts, frames

    def close(self) -> None:
        self.closed = True
        self._parts, self.frames = [], 0
        self._space.set()
        self._ready.set()


async def run_writer(
    outbox: Outbox,
    ws: web.WebSocketResponse,
    transport: asyncio.WriteTransport,
    faults: Faults,
    counters: Counters,
) -> None:
    """Move frames from ``outbox`` to the socket until either closes; ``faults.slow_send_s``
    delays every frame (one write each)."""
    while True:
        parts, frames = await outbox.take()
        if outbox.closed or ws.closed or transport.is_closing():
            return
        if faults.slow_send_s > 0:
            for i in range(0, len(parts), 2):
                counters.slow_sends += 1
                await asyncio.sleep(faults.slow_send_s)
                if ws.closed or transport.is_closing():
                    return
                transport.write(parts[i] + parts[i + 1])
                counters.frames_sent += 1
            continue
        transport.write(b"".join(parts))
        counters.frames_sent += frames
        while transport.get_write_buffer_size() > _HIGH_WATER and not transport.is_closing():  # noqa: ASYNC110 - the transport offers no public drain
            await asyncio.sleep(0.001)
