"""``csx_core.ahead``: an iterator run ahead in a thread keeps its order, its errors and
its memory bound, and a consumer that stops early does not leave the producer running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from csx_core.ahead import ahead


def test_items_come_in_order() -> None:
    assert list(ahead(iter(range(1000)), depth=3)) == list(range(1000))
    assert list(ahead([])) == []


def test_the_producer_runs_at_most_depth_items_ahead() -> None:
    produced: list[int] = []
    release = threading.Event()

    def items() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    consumer = ahead(items(), depth=2)
    assert next(consumer) == 0
    release.wait(0.3)  # time for the producer to run as far as it may
    # item 0 is consumed, 2 wait in the queue, 1 more is made and blocked on the full queue
    assert len(produced) <= 4
    assert list(consumer) == list(range(1, 10))


def test_an_error_in_the_producer_is_raised_where_the_consumer_reaches_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    consumer = ahead(items())
    assert [next(consumer), next(consumer)] == [1, 2]
    with pytest.raises(OSError, match="disk gone"):
        next(consumer)


def test_a_consumer_that_stops_early_releases_the_producer() -> None:
    consumer = ahead(iter(range(10**9)), depth=1)
    assert next(consumer) == 0
    consumer.close()  # joins the producer thread, which stops at its next offer
    assert not any(t.name == "csx-ahead" and t.is_alive() for t in threading.enumerate())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        next(ahead([1], depth=0))
