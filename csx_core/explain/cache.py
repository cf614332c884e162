"""A bounded TTL cache for explanations keyed by (symbol, reason set); the clock is injected.

The key ignores the numbers on purpose: a cached output is reused only for a packet it still
matches (``csx_core.explain.binding``: the same direction, and the probability and edge as its
text renders them), which the caller checks on a hit; the output keeps the ``ts`` and the
numbers of the evidence it was written for, so a reader can tell how old it is.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Generic, TypeVar

from csx_core.contracts.explain import LLMExplainInput
from csx_core.contracts.reasons import ReasonCode

CacheKey = tuple[str, frozenset[ReasonCode]]
V = TypeVar("V")


def cache_key(evidence: LLMExplainInput) -> CacheKey:
    return evidence.symbol, frozenset(r.code for r in evidence.reasons)


class TTLCache(Generic[V]):
    """Entries live ``ttl_s`` seconds of the caller's monotonic clock; at most ``max_entries``
    (least recently stored evicted first)."""

    __slots__ = ("_entries", "_max", "_ttl")

    def __init__(self, *, ttl_s: float, max_entries: int = 4096) -> None:
        if not (math.isfinite(ttl_s) and ttl_s >= 0):
            raise ValueError(f"ttl_s must be >= 0, got {ttl_s}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[CacheKey, tuple[float, V]] = OrderedDict()

    def get(self, key: CacheKey, now_s: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if now_s - stored_at >= self._ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: CacheKey, value: V, now_s: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (now_s, value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
