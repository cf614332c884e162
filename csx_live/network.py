"""The live runner's network side: everything that needs an HTTP session.

``LiveNetwork`` is constructed with what it depends on and builds its session-bound parts
(REST client, shard manager, universe watcher, webhook sink) in ``run(session, ...)``, the
one coroutine that owns them: it fetches the universe (retrying with backoff), keeps it
fresh, delivers webhooks, and on cancellation stops the streams and gives queued webhooks a
short drain. Until then it reports no connection and no shard, and an alert
offered to its webhooks is dropped (none fires before the streams deliver events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from csx_core.resilience.backoff import Backoff, BackoffPolicy
from csx_core.resilience.breaker import CircuitBreaker
from csx_core.resilience.governor import RestGovernor
from csx_live.config import LiveSettings
from csx_live.connectors import (
    FrameHandler,
    GapLedger,
    LinkStats,
    ShardManager,
    StreamTiming,
    plan_shards,
    streams_for,
)
from csx_live.metrics import MetricSources, OutcomesSource, QueueSource
from csx_live.rest import RestClient
from csx_live.sinks import WebhookSink
from csx_live.state import LiveState, TickCounters
from csx_live.universe import Universe, UniverseWatcher

log = logging.getLogger(__name__)

UniverseListener = Callable[[tuple[str, ...]], None]


class LiveNetwork:
    """REST, universe, websocket shards and webhooks of one runner (see the module doc)."""

    def __init__(
        self,
        settings: LiveSettings,
        *,
        governor: RestGovernor,
        breaker: CircuitBreaker,
        ledger: GapLedger,
        link: LinkStats,
        counters: TickCounters,
        wall_ns: Callable[[], int] = time.time_ns,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.governor = governor
        self.breaker = breaker
        self.ledger = ledger
        self.link = link
        self._counters = counters
        self._wall_ns = wall_ns
        self._rand = rand
        self.shards: ShardManager | None = None
        self.universe: UniverseWatcher | None = None
        self.webhooks: WebhookSink | None = None

    # -- what the rest of the runner reads -------------------------------------------------
    def connected(self) -> bool:
        return self.shards is not None and self.shards.all_connected()

    @property
    def connected_count(self) -> int:
        return self.shards.connected_count if self.shards is not None else 0

    @property
    def shard_count(self) -> int:
        return self.shards.shard_count if self.shards is not None else 0

    def metric_sources(
        self,
        state: LiveState,
        queue: QueueSource,
        outcomes: OutcomesSource,
        *,
        parity: Callable[[], Mapping[str, Any] | None],
    ) -> MetricSources:
        """What ``/metrics`` reads: the runner's state, queue, outcomes and digest beside
        this network's links, ledger, shards, REST governor and breaker."""
        return MetricSources(
            state=state,
            fresh_s=self.settings.data_fresh_s,
            link=self.link,
            ledger=self.ledger,
            shards=self,
            queue=queue,
            governor=self.governor,
            breaker=self.breaker,
            outcomes=outcomes,
            parity=parity,
            wall_ns=self._wall_ns,
        )

    def offer(self, text: str) -> None:
        """An alert for the webhooks (the runner's ``webhooks``)."""
        if self.webhooks is not None:
            self.webhooks.offer(text)

    # -- lifecycle -------------------------------------------------------------------------
    async def run(
        self,
        session: aiohttp.ClientSession,
        *,
        on_frame: FrameHandler,
        on_universe: UniverseListener,
    ) -> None:
        """Connect and keep connected until cancelled; ``on_universe`` hears each new symbol
        set. Cancellation stops the streams and drains the webhooks for at most
        ``min(2 s, graceful_timeout_s / 2)``."""
        s = self.settings
        rest = RestClient(
            session,
            s.rest_url,
            governor=self.governor,
            breaker=self.breaker,
            timeout_s=s.rest_timeout_s,
            now_ns=self._wall_ns,
        )
        self.shards = shards = ShardManager(
            ws_base=s.ws_url,
            session=session,
            on_frame=on_frame,
            backoff_policy=BackoffPolicy(
                base_s=s.backoff_base_s,
                cap_s=s.backoff_cap_s,
                healthy_after_s=s.backoff_reset_after_s,
            ),
            timing=StreamTiming(
                stale_s=s.stale_stream_s,
                rollover_after_s=s.rollover_after_s,
                heartbeat_s=s.heartbeat_s or None,
            ),
            ledger=self.ledger,
            stats=self.link,
            rand=self._rand,
            wall_ns=self._wall_ns,
        )

        async def apply(universe: Universe) -> None:
            on_universe(universe.symbols)
            plans = plan_shards(
                streams_for(universe.symbols, s.channels),
                max_per_connection=s.max_streams_per_connection,
            )
            await shards.apply(plans)

        self.universe = UniverseWatcher(
            rest,
            quote_asset=s.quote_asset,
            override=s.symbols,
            refresh_s=s.universe_refresh_s,
            on_change=apply,
            shard=(s.shard_index, s.shard_count),
        )
        self.webhooks = webhooks = WebhookSink(
            session,
            [u.reveal() for u in s.webhook_urls],
            self._counters,
            timeout_s=s.webhook_timeout_s,
            max_pending=s.webhook_max_pending,
        )
        delivery = asyncio.create_task(webhooks.run(), name="webhooks")
        try:
            await self._first_universe(self.universe)
            await self.universe.run()
        finally:
            await shards.stop()
            if webhooks.pending:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(2.0, s.graceful_timeout_s / 2)):
                        await webhooks.drain()
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery

    async def _first_universe(self, universe: UniverseWatcher) -> None:
        """The first fetch, retried with jittered backoff until it succeeds."""
        s = self.settings
        loop = asyncio.get_running_loop()
        backoff = Backoff(
            BackoffPolicy(base_s=s.backoff_base_s, cap_s=s.backoff_cap_s),
            random.SystemRandom().random,
        )
        while True:
            try:
                await universe.refresh()
                return
            except Exception as exc:
                delay = backoff.failure(loop.time()) or s.backoff_cap_s
                log.warning("universe fetch failed, retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
