"""ShardManager: runs one StreamManager per shard plan and re-plans when the universe changes.

Shards whose stream set is unchanged keep their connection; only added/removed shards are
started/stopped, so a universe refresh that adds one symbol does not reconnect everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import aiohttp

from csx_core.resilience.backoff import Backoff, BackoffPolicy
from csx_live.connectors.gaps import GapLedger
from csx_live.connectors.plan import ShardPlan
from csx_live.connectors.stream import FrameHandler, LinkStats, StreamManager, StreamTiming

log = logging.getLogger(__name__)


class ShardManager:
    """Owns the StreamManagers and their tasks; :meth:`stop` cancels and awaits them."""

    def __init__(
        self,
        *,
        ws_base: str,
        session: aiohttp.ClientSession,
        on_frame: FrameHandler,
        backoff_policy: BackoffPolicy,
        timing: StreamTiming,
        ledger: GapLedger | None = None,
        stats: LinkStats | None = None,
        rand: Callable[[], float] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._ws_base = ws_base
        self._session = session
        self._on_frame = on_frame
        self._policy = backoff_policy
        self._timing = timing
        self.ledger = ledger or GapLedger()
        self.stats = stats or LinkStats()
        self._rand = rand or random.SystemRandom().random
        self._wall_ns = wall_ns
        self.managers: dict[str, StreamManager] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def shard_count(self) -> int:
        return len(self.managers)

    @property
    def connected_count(self) -> int:
        return sum(m.connected for m in self.managers.values())

    def all_connected(self) -> bool:
        return bool(self.managers) and self.connected_count == len(self.managers)

    async def apply(self, plans: list[ShardPlan]) -> None:
        """Make the running shards equal to ``plans``."""
        wanted = {p.shard_id: p for p in plans}
        for shard_id in [s for s in self.managers if s not in wanted]:
            await self._stop_one(shard_id)
        for shard_id, plan in wanted.items():
            if shard_id in self.managers:
                continue
            manager = StreamManager(
                plan,
                ws_base=self._ws_base,
                session=self._session,
                on_frame=self._on_frame,
                ledger=self.ledger,
                stats=self.stats,
                backoff=Backoff(self._policy, self._rand),
                timing=self._timing,
                wall_ns=self._wall_ns,
            )
            self.managers[shard_id] = manager
            self._tasks[shard_id] = asyncio.create_task(manager.run(), name=f"shard-{shard_id}")
        log.info("shards applied", extra={"shards": len(plans)})

    async def _stop_one(self, shard_id: str) -> None:
        self.managers.pop(shard_id, None)
        task = self._tasks.pop(shard_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        for shard_id in list(self.managers):
            await self._stop_one(shard_id)

    def failed(self) -> list[str]:
        """Shards whose manager task ended with an error (gave up)."""
        return [
            s
            for s, t in self._tasks.items()
            if t.done() and not t.cancelled() and t.exception() is not None
        ]
