"""StreamManager: one shard's combined-stream connection, kept alive.

- **Reconnect** with capped exponential backoff and full jitter (``csx_core.resilience.backoff``),
  reset after a healthy period; each outage is one gap-ledger entry (streams, from the last
  frame, to the first frame after reconnecting).
- **Stale-stream watchdog**: a supervisor checks the frame counter a few times per
  ``stale_s``; no progress for ``stale_s`` closes the socket and reconnects. The hot path pays
  nothing for it (no per-frame timer).
- **Pings/pongs**: aiohttp answers the server's pings itself (``autoping``; tested); with
  ``heartbeat_s`` set it also pings, and a missing pong closes the link (counted).
- **Planned rollover** before the exchange's 24 h limit: a second connection is opened, both
  feed frames through an :class:`OverlapDeduper` until the new one delivers, then the old one
  closes — no gap, no duplicate.

Client library: aiohttp with ``decode_text=False`` (frames stay ``bytes`` for the decoder),
chosen by ``benchmarks/bench_ingest.py`` (see its report: aiohttp ≈ 1.3–1.7× websockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

FrameHandler = Callable[[bytes, int], None]
"""Receives each frame (raw bytes) and its wall-clock receive time in ns. Must not block."""


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


class _Link:
    __slots__ = ("connected_at", "first_frame", "frames", "last_wall_ns", "task", "ws")

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse[Literal[False]], connected_at: float
    ) -> None:
        self.ws = ws
        self.connected_at = connected_at
        self.frames = 0
        self.last_wall_ns = 0
        self.first_frame = asyncio.Event()
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
        self._deduper: OverlapDeduper | None = None
        self._dedupe_until = 0.0
        self._links: set[_Link] = set()
        self._ever_connected = False

    @property
    def connected(self) -> bool:
        return any(not link.ws.closed for link in self._links)

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
                log.warning(
                    "stream link lost",
                    extra={"shard": self.plan.shard_id, "reason": reason, "at": loop.time()},
                )
                await self._close(link)
                link = await self._connect_with_backoff()
        finally:
            for open_link in list(self._links):
                await self._close(open_link)

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
            self._backoff.success(loop.time())
            return link

    async def _pump(self, link: _Link) -> str:
        receive = link.ws.receive
        on_frame = self._on_frame
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
                if link.frames == 1:
                    self._first_frame(link, now)
                if self._deduper is not None and self._deduper.seen_before(data):
                    stats.duplicates_dropped += 1
                    continue
                on_frame(data, now)
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
        seen, progress_at = link.frames, loop.time()
        while True:
            await asyncio.wait({link.task}, timeout=check_s)
            now = loop.time()
            if self._deduper is not None and now >= self._dedupe_until:
                self._deduper = None
            if link.task.done():
                return "error" if link.task.cancelled() else link.task.result()
            if link.frames != seen:
                seen, progress_at = link.frames, now
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
                await self._close(new)
            self._dedupe_until = loop.time()
            old.connected_at = loop.time() - self.timing.rollover_after_s + self.timing.stale_s
            return old
        await self._close(old)
        self._dedupe_until = loop.time() + self.timing.overlap_grace_s
        self.stats.rollovers += 1
        return new

    async def _close(self, link: _Link) -> None:
        self._links.discard(link)
        with contextlib.suppress(Exception):
            await link.ws.close()
        if link.task is not None and not link.task.done():
            link.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.task
