"""Run an iterator a few items ahead of its consumer, on a second core.

Bulk offline work alternates two kinds of steps that both release the GIL for most of
their time: producing the next batch (numpy random draws, Parquet decoding) and consuming
the last one (Parquet encoding, SHA-256, fsync; or the engine's numpy). ``ahead`` runs the
producer in a thread so the two overlap, holding at most ``depth`` finished items besides
the one the consumer has: memory stays a few batches, order and values are the iterator's
own, and an exception in the producer is raised in the consumer at the same point.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced in a background thread up to ``depth`` items ahead."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer, re-raised there
            offer(_Failure(error))
            return
        offer(_DONE)

    worker = threading.Thread(target=produce, name="csx-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield cast(T, item)
    finally:
        stop.set()  # a consumer that stops early releases the producer
        worker.join()
