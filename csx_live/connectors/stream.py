"""StreamManager: one shard's combined-stream connection, kept alive.

- **Reconnect** with capped exponential backoff and full jitter (``csx_core.resilience.backoff``).
  A link counts as healthy (``backoff.success``) only once it has delivered valid events for
  ``healthy_after_s``; a link that drops earlier (accept-then-close, garbage) is an *early
  drop* and waits the growing jittered delay before the next connect, so a hostile server
  cannot drive a reconnect storm. A link that lived a whole ``stale_s`` before going quiet
  reconnects at once (its lifetime already bounds the rate; a stalled feed recovers fast).
  Logging is per state change (healthy -> flapping -> healthy); the rest are counters. Each
  outage is one gap-ledger entry (streams, from the last frame, to the first valid event after
  reconnecting).
- **Valid events, not frames**: a frame counts as a valid event when it looks like a
  combined-stream event (``is_event``, a cheap prefix/suffix check by default) and the frame
  handler did not return ``False`` (a handler may return ``False`` for frames it could not
  decode). ``max_malformed_streak`` consecutive invalid frames close the link (counted).
- **Stale-stream watchdog**: a supervisor checks the valid-event counter a few times per
  ``stale_s``; no valid event for ``stale_s`` (even if frames arrive) closes the socket and
  reconnects. The close reads on to the peer's close frame (within ``close_timeout_s``), so a
  burst that was on its way as the watchdog fired is still decoded and counted; the outage
  stays open until the next link delivers. The hot path pays nothing for it (no per-frame
  timer). ``connected`` (readiness) requires an open link that has delivered a valid event.
- **Pings/pongs**: aiohttp answers the server's pings itself (``autoping``; tested); with
  ``heartbeat_s`` set it also pings, and a missing pong closes the link (counted).
- **Planned rollover** before the exchange's 24 h limit: a second connection is opened, both
  feed frames through an :class:`OverlapDeduper` until the new one delivers, then the old one
  is asked to close and read to the exchange's close frame — no gap, no duplicate, and no
  frame read and discarded unseen (bad frames on it are counted as malformed).
- **Bounded receive buffer** (``StreamTiming.recv_buffer_bytes``): a runner behind its feed
  holds a fraction of a second of frames in the kernel, so cuts and stalls reach the
  watchdog and the gap ledger promptly and the exchange sees the back-pressure.

Client library: aiohttp with ``decode_text=False`` (frames stay ``bytes`` for the decoder),
chosen by ``benchmarks/bench_ingest.py`` (see its report: aiohttp ≈ 1.3–1.7× websockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp

from csx_core.resilience.backoff import Backoff
from csx_live.connectors.dedupe import OverlapDeduper
from csx_live.connectors.gaps import GapLedger
from csx_live.connectors.plan import ShardPlan

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, int], bool | None]
"""Receives each frame (raw bytes) and its wall-clock receive time in ns. Must not block.
May return ``False`` for a frame it could not decode (counted as malformed by the link)."""


def looks_like_event(frame: bytes) -> bool:
    """Cheap structural check for a combined-stream event (``{"stream":...,"data":{...}}``);
    the full decode happens downstream."""
    return frame.startswith(b'{"stream"') and frame.endswith(b"}")


YIELD_EVERY_FRAMES = 256
_CLOSE_NORMAL = struct.pack("!H", 1000)
"""Payload of a close frame with status 1000 (normal closure)."""


@dataclass
class LinkStats:
    """Counters shared by every connection of a process (low cardinality by design)."""

    frames_in: int = 0
    bytes_in: int = 0
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    stale_timeouts: int = 0
    ping_timeouts: int = 0
    rollovers: int = 0
    rollover_failures: int = 0
    duplicates_dropped: int = 0
    valid_events: int = 0
    malformed_frames: int = 0
    malformed_closes: int = 0
    early_drops: int = 0


@dataclass(frozen=True)
class StreamTiming:
    """Durations in seconds."""

    stale_s: float = 30.0
    rollover_after_s: float = 23.0 * 3600.0
    connect_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    heartbeat_s: float | None = None
    overlap_grace_s: float = 5.0
    max_frame_bytes: int = 4 * 1024 * 1024
    healthy_after_s: float = 5.0
    """A link is healthy (backoff reset) after delivering valid events for this long."""
    max_malformed_streak: int = 2000
    """Consecutive invalid frames after which the link is closed and retried with backoff."""
    recv_buffer_bytes: int | None = 128 * 1024
    """``SO_RCVBUF`` of each link's socket (the kernel doubles it), None for the OS default,
    which autotunes up to ``net.ipv4.tcp_rmem`` (32 MiB on the soak machine). Bounded so a
    runner that falls behind its feed holds a fraction of a second of frames in the kernel:
    the exchange sees the back-pressure (and may drop the slow consumer, which the gap
    ledger records), and a cut or a stall reaches the watchdog and the ledger within that
    fraction, instead of after the seconds of frames an autotuned buffer keeps. 256 KiB of
    buffer still carries ~2.5 MB/s at a 100 ms round trip, far above one Binance link."""


class _Link:
    __slots__ = (
        "connected_at",
        "first_frame",
        "frames",
        "healthy",
        "last_wall_ns",
        "malformed_streak",
        "retiring",
        "task",
        "valid",
        "ws",
    )

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse[Literal[False]], connected_at: float
    ) -> None:
        self.ws = ws
        self.connected_at = connected_at
        self.frames = 0
        self.valid = 0
        self.malformed_streak = 0
        self.healthy = False
        self.last_wall_ns = 0
        self.first_frame = asyncio.Event()
        self.retiring = False
        """Being closed: its last frames are still read, but it no longer ends an outage."""
        self.task: asyncio.Task[str] | None = None


class StreamManager:
    """Keeps one shard connected until :meth:`run` is cancelled."""

    def __init__(
        self,
        plan: ShardPlan,
        *,
        ws_base: str,
        session: aiohttp.ClientSession,
        on_frame: FrameHandler,
        ledger: GapLedger,
        stats: LinkStats,
        backoff: Backoff,
        timing: StreamTiming | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        is_event: Callable[[bytes], bool] = looks_like_event,
    ) -> None:
        self.plan = plan
        self.url = plan.url(ws_base)
        self._session = session
        self._on_frame = on_frame
        self._ledger = ledger
        self.stats = stats
        self._backoff = backoff
        self.timing = timing or StreamTiming()
        self._wall_ns = wall_ns
        self._is_event = is_event
        self._flapping = False
        self._deduper: OverlapDeduper | None = None
        self._dedupe_until = 0.0
        self._links: set[_Link] = set()
        self._ever_connected = False

    @property
    def connected(self) -> bool:
        return any(not link.ws.closed and link.valid > 0 for link in self._links)

    @property
    def flapping(self) -> bool:
        """True from an early drop until a link is healthy again."""
        return self._flapping

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            link = await self._connect_with_backoff()
            while True:
                reason = await self._supervise(link)
                if reason == "rollover":
                    link = await self._rollover(link)
                    continue
                self.stats.disconnects += 1
                start = link.last_wall_ns or self._wall_ns()
                self._ledger.open(self.plan.shard_id, self.plan.streams, start, reason)
                await self._close(link, drain=True)
                if link.healthy:
                    log.warning(
                        "stream link lost",
                        extra={"shard": self.plan.shard_id, "reason": reason, "at": loop.time()},
                    )
                # A link that lived a whole stale period before going quiet is no storm (its
                # own lifetime bounds the reconnect rate): retrying it at once lets a stalled
                # feed recover as fast as the feed does.
                elif loop.time() - link.connected_at < self.timing.stale_s:
                    await self._early_drop(reason)
                link = await self._connect_with_backoff()
        finally:
            for open_link in list(self._links):
                await self._close(open_link)

    async def _early_drop(self, reason: str) -> None:
        """A link dropped before it was healthy: count it and wait the backoff delay."""
        self.stats.early_drops += 1
        if not self._flapping:
            self._flapping = True
            log.warning(
                "stream link flapping (dropped before healthy), backing off",
                extra={"shard": self.plan.shard_id, "reason": reason},
            )
        delay = self._backoff.failure(asyncio.get_running_loop().time())
        if delay is None:
            raise ConnectionError(
                f"{self.plan.shard_id}: giving up: link keeps dropping ({reason})"
            )
        await asyncio.sleep(delay)

    def _mark_healthy(self, link: _Link, now: float) -> None:
        link.healthy = True
        self._backoff.success(now)
        if self._flapping:
            self._flapping = False
            log.info("stream link healthy again", extra={"shard": self.plan.shard_id})

    async def _connect_once(self) -> _Link:
        t = self.timing
        async with asyncio.timeout(t.connect_timeout_s):
            ws = await self._session.ws_connect(
                self.url,
                decode_text=False,
                autoping=True,
                heartbeat=t.heartbeat_s,
                max_msg_size=t.max_frame_bytes,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=t.close_timeout_s),
            )
        sock = ws.get_extra_info("socket")
        if t.recv_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, t.recv_buffer_bytes)
        link = _Link(ws, asyncio.get_running_loop().time())
        link.task = asyncio.create_task(self._pump(link), name=f"pump-{self.plan.shard_id}")
        self._links.add(link)
        self.stats.connects += 1
        if self._ever_connected:
            self.stats.reconnects += 1
        self._ever_connected = True
        return link

    async def _connect_with_backoff(self) -> _Link:
        loop = asyncio.get_running_loop()
        while True:
            try:
                link = await self._connect_once()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.stats.connect_failures += 1
                if self._ever_connected:
                    self._ledger.open(
                        self.plan.shard_id, self.plan.streams, self._wall_ns(), "connect_failed"
                    )
                delay = self._backoff.failure(loop.time())
                if delay is None:
                    raise ConnectionError(f"{self.plan.shard_id}: giving up: {exc}") from exc
                log.info(
                    "connect failed, retrying",
                    extra={"shard": self.plan.shard_id, "delay_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            return link

    async def _pump(self, link: _Link) -> str:
        receive = link.ws.receive
        on_frame = self._on_frame
        is_event = self._is_event
        max_streak = self.timing.max_malformed_streak
        stats = self.stats
        wall = self._wall_ns
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        while True:
            msg = await receive()
            kind = msg.type
            if kind is text or kind is binary:
                data: bytes = msg.data
                now = wall()
                link.frames += 1
                link.last_wall_ns = now
                stats.frames_in += 1
                stats.bytes_in += len(data)
                if link.frames % YIELD_EVERY_FRAMES == 0:
                    # receive() does not suspend while aiohttp holds buffered frames: under a
                    # flood, let the tick loop and the HTTP server run between bursts
                    await asyncio.sleep(0)
                if self._deduper is not None and self._deduper.seen_before(data):
                    stats.duplicates_dropped += 1
                    valid = True
                else:
                    valid = on_frame(data, now) is not False and is_event(data)
                if valid:
                    link.valid += 1
                    link.malformed_streak = 0
                    stats.valid_events += 1
                    if link.valid == 1 and not link.retiring:
                        self._first_frame(link, now)
                else:
                    stats.malformed_frames += 1
                    link.malformed_streak += 1
                    if link.malformed_streak >= max_streak:
                        stats.malformed_closes += 1
                        return "malformed"
            elif kind is aiohttp.WSMsgType.ERROR:
                if isinstance(msg.data, aiohttp.ServerTimeoutError):
                    stats.ping_timeouts += 1
                    return "ping_timeout"
                return "error"
            else:
                return "closed"

    def _first_frame(self, link: _Link, now_ns: int) -> None:
        link.first_frame.set()
        gap = self._ledger.close(self.plan.shard_id, now_ns)
        if gap is not None:
            log.info(
                "stream gap closed",
                extra={"shard": self.plan.shard_id, "gap_ms": (gap.duration_ns or 0) // 10**6},
            )

    async def _supervise(self, link: _Link) -> str:
        """Wait until ``link`` drops, goes stale, or is due for rollover."""
        loop = asyncio.get_running_loop()
        t = self.timing
        assert link.task is not None
        check_s = min(1.0, t.stale_s / 4)
        seen, progress_at = link.valid, loop.time()
        while True:
            await asyncio.wait({link.task}, timeout=check_s)
            now = loop.time()
            if self._deduper is not None and now >= self._dedupe_until:
                self._deduper = None
            if link.task.done():
                return "error" if link.task.cancelled() else link.task.result()
            if link.valid != seen:
                seen, progress_at = link.valid, now
                if not link.healthy and now - link.connected_at >= t.healthy_after_s:
                    self._mark_healthy(link, now)
            elif now - progress_at >= t.stale_s:
                self.stats.stale_timeouts += 1
                return "stale"
            if now - link.connected_at >= t.rollover_after_s:
                return "rollover"

    async def _rollover(self, old: _Link) -> _Link:
        """Bring a new connection up, overlap with dedupe, then retire ``old``. On failure
        keep ``old`` and try again after a stale period (well inside the 24 h limit)."""
        loop = asyncio.get_running_loop()
        self._deduper = OverlapDeduper()
        self._dedupe_until = float("inf")
        new: _Link | None = None
        try:
            new = await self._connect_once()
            async with asyncio.timeout(self.timing.stale_s):
                await new.first_frame.wait()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.stats.rollover_failures += 1
            log.warning("rollover failed, keeping the old link", extra={"error": str(exc)})
            if new is not None:
                await self._close(new, drain=True)
            self._dedupe_until = loop.time()
            old.connected_at = loop.time() - self.timing.rollover_after_s + self.timing.stale_s
            return old
        await self._close(old, drain=True)
        self._dedupe_until = loop.time() + self.timing.overlap_grace_s
        self.stats.rollovers += 1
        return new

    async def _close(self, link: _Link, *, drain: bool = False) -> None:
        """Close ``link`` within ``close_timeout_s``. With ``drain`` (every close but the
        shutdown's: a rollover's old link still streams, and frames may be on their way to a
        link the watchdog gave up on) ask the peer to close first and keep the pump reading
        until the peer's close frame arrives, so the frames already on their way are
        decoded and counted (duplicates by the overlap deduper, bad frames as malformed)
        instead of being read and thrown away unseen inside aiohttp's ``close``. A retiring
        link's frames never end the outage that retired it (the next link's do)."""
        self._links.discard(link)
        link.retiring = True
        pump = link.task
        deadline = asyncio.get_running_loop().time() + self.timing.close_timeout_s
        if drain and pump is not None and not pump.done() and not link.ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout_at(deadline):
                    await link.ws.send_frame(_CLOSE_NORMAL, aiohttp.WSMsgType.CLOSE)
                    await asyncio.wait({pump})
            if not pump.done():
                # the peer never answered: stop reading, and aiohttp's close below aborts
                # the socket at once (a cancelled receive marks the link abnormally closed)
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
        # Bounded overall: aiohttp's close timeout is per read, so a peer that floods frames
        # and never answers the close would hold it forever (timing out aborts the socket).
        with contextlib.suppress(Exception):
            async with asyncio.timeout_at(deadline):
                await link.ws.close()
        if link.task is not None and not link.task.done():
            link.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.task
