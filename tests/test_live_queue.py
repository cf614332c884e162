"""DropOldestQueue: bounded, drops the oldest on overflow, counts it, wakes consumers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csx_live.queue import DropOldestQueue


async def test_overflow_drops_oldest_and_counts() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    queue.put_many(range(5))
    queue.put(5)
    assert len(queue) == 3
    assert queue.dropped == 3
    assert queue.high_water == 3
    assert await queue.get_batch(10) == [3, 4, 5]
    assert (queue.put_count, queue.got_count) == (6, 3)


async def test_consumer_wakes_on_put() -> None:
    queue: DropOldestQueue[str] = DropOldestQueue(10)
    consumer = asyncio.create_task(queue.get_batch(5))
    await asyncio.sleep(0)  # the consumer must be parked on the empty queue first
    assert not consumer.done()
    queue.put_many(["a", "b"])
    assert await asyncio.wait_for(consumer, 1.0) == ["a", "b"]


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        DropOldestQueue[int](0)


@given(st.integers(1, 20), st.lists(st.lists(st.integers(), max_size=30), max_size=10))
def test_accounting_invariant(maxsize: int, batches: list[list[int]]) -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(maxsize)
    for batch in batches:
        queue.put_many(batch)
        assert len(queue) <= maxsize
    flat = [x for b in batches for x in b]
    assert queue.put_count == len(flat)
    assert queue.dropped == max(0, len(flat) - maxsize)
    kept = len(queue)
    assert queue.get_nowait_batch(maxsize + 1) == flat[len(flat) - kept :]
