"""A bounded asyncio queue with a drop-oldest overflow policy and counters.

Market data goes stale fast: when the consumer falls behind, the oldest items are worth the
least, so a full queue drops from the head (counted in ``dropped``) instead of blocking the
socket reader, which would make the exchange disconnect us. Items are moved in batches
(``put_many``/``get_batch``) because each event-loop wakeup costs tens of microseconds here.
Single event loop only; not thread-safe.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """``maxsize`` items at most; ``put``/``put_many`` never block."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self.put_count = 0
        self.got_count = 0
        self.dropped = 0
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        self.put_many((item,))

    def put_many(self, items: Iterable[T]) -> None:
        queue = self._items
        before = len(queue)
        queue.extend(items)
        added = len(queue) - before
        self.put_count += added
        overflow = len(queue) - self.maxsize
        if overflow > 0:
            for _ in range(overflow):
                queue.popleft()
            self.dropped += overflow
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        if queue:
            self._ready.set()

    def get_nowait_batch(self, max_items: int) -> list[T]:
        """Up to ``max_items`` oldest items, possibly none."""
        queue = self._items
        n = min(max_items, len(queue))
        batch = [queue.popleft() for _ in range(n)]
        self.got_count += n
        if not queue:
            self._ready.clear()
        return batch

    async def get_batch(self, max_items: int) -> list[T]:
        """Wait until at least one item is queued, then take up to ``max_items``."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait_batch(max_items)
