"""Where ranks and alerts go: a JSONL file per UTC day, and chat webhooks.

``JsonlSink`` appends one JSON object per line (``{"type": "rank"|"alert", ...}``) and
flushes once per tick, so a crash loses at most the tick being written. ``WebhookSink``
posts alerts in Slack (``{"text"}``) or Discord (``{"content"}``) format from a bounded
queue (full → dropped, counted) with a timeout and capped retries; a dead webhook never
slows the tick loop. URLs are secrets: they are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp

from csx_live.state import TickCounters

log = logging.getLogger(__name__)
NS_PER_S = 1_000_000_000


class JsonlSink:
    """Append-only JSON lines under ``root``, one file per UTC day of the record's ``ts``."""

    def __init__(self, root: Path, *, prefix: str = "live") -> None:
        self.root = root
        self.prefix = prefix
        self._day = ""
        self._file: IO[str] | None = None
        self.lines = 0

    def _open_for(self, ts_ns: int) -> IO[str]:
        day = datetime.fromtimestamp(ts_ns / NS_PER_S, tz=UTC).strftime("%Y-%m-%d")
        if self._file is None or day != self._day:
            self.close()
            self.root.mkdir(parents=True, exist_ok=True)
            self._file = (self.root / f"{self.prefix}-{day}.jsonl").open("a", encoding="utf-8")
            self._day = day
        return self._file

    def write(self, kind: str, ts_ns: int, record: dict[str, Any]) -> None:
        f = self._open_for(ts_ns)
        f.write(json.dumps({"type": kind, **record}, separators=(",", ":")) + "\n")
        self.lines += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def webhook_payload(url: str, text: str) -> dict[str, str]:
    """Discord webhooks (``…/api/webhooks/<id>/<token>``) take ``content`` (≤ 2000 chars);
    Slack (``…/services/…``) and compatible receivers take ``text``."""
    if "/api/webhooks/" in url:
        return {"content": text[:2000]}
    return {"text": text}


def alert_text(alert: dict[str, Any]) -> str:
    """One line per alert; the edge is the backtest's (``csx_core.ml.edge``) or "unknown"."""
    reasons = ", ".join(alert.get("reason_codes", [])) or "no reasons"
    direction = alert.get("direction") or "EITHER"
    edge = alert.get("backtest_net_edge_bps")
    edge_text = "unknown" if edge is None else f"{edge:+.1f} bps/trade"
    return (
        f"{alert['symbol']} in play: p={alert['p_inplay']:.2f} "
        f"{'either way' if direction == 'EITHER' else direction} ({reasons}); "
        f"backtest net edge {edge_text}"
    )


class WebhookSink:
    """A worker posting queued messages to every URL, retrying each post up to
    ``attempts`` times with doubling delays."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: list[str],
        counters: TickCounters,
        *,
        timeout_s: float = 5.0,
        max_pending: int = 100,
        attempts: int = 3,
        retry_base_s: float = 0.5,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._urls = urls
        self._counters = counters
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max_pending)
        self._attempts = attempts
        self._retry_base_s = retry_base_s
        self._sleep = sleep

    @property
    def enabled(self) -> bool:
        return bool(self._urls)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def offer(self, text: str) -> None:
        if not self._urls:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._counters.webhook_dropped += 1

    async def run(self) -> None:
        while True:
            text = await self._queue.get()
            try:
                for url in self._urls:
                    await self._post(url, text)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued message was attempted (for graceful shutdown)."""
        await self._queue.join()

    async def _post(self, url: str, text: str) -> None:
        payload = webhook_payload(url, text)
        status: int | str = 0
        for attempt in range(self._attempts):
            try:
                async with self._session.post(url, json=payload, timeout=self._timeout) as r:
                    if r.status < 400:
                        self._counters.webhook_sent += 1
                        return
                    retryable = r.status == 429 or r.status >= 500
                    status = r.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                retryable, status = True, type(exc).__name__
            if not retryable or attempt == self._attempts - 1:
                break
            await self._sleep(self._retry_base_s * 2**attempt)
        self._counters.webhook_failed += 1
        log.warning("webhook post failed", extra={"status": str(status)})
