"""A circuit breaker as a pure state machine: CLOSED → OPEN → HALF_OPEN → CLOSED.

Driven entirely by an injected ``now_s`` (monotonic seconds, float: ``loop.time()`` or
``time.monotonic()``), so the async shells (REST client, LLM service) own the clock and tests
step time by hand. Not thread-safe; use it from one event loop.

- CLOSED: calls flow; ``failure_threshold`` consecutive failures open the circuit.
- OPEN: calls are refused until ``open_s`` seconds have passed since opening.
- HALF_OPEN: at most ``half_open_max_calls`` probe calls in flight; ``success_threshold``
  successes close the circuit, any failure re-opens it for another ``open_s``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class BreakerState(enum.StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"

    @property
    def gauge_value(self) -> int:
        """Stable number for a Prometheus gauge: 0 closed, 1 open, 2 half-open."""
        return _GAUGE[self]


_GAUGE = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_s: float = 30.0
    half_open_max_calls: int = 1
    success_threshold: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {self.failure_threshold}")
        if not (math.isfinite(self.open_s) and self.open_s >= 0):
            raise ValueError(f"open_s must be >= 0, got {self.open_s}")
        if self.half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {self.half_open_max_calls}")
        if self.success_threshold < 1:
            raise ValueError(f"success_threshold must be >= 1, got {self.success_threshold}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for logs and counters."""

    at_s: float
    old: BreakerState
    new: BreakerState


class CircuitBreaker:
    """See the module docstring. Every method takes the current monotonic time in seconds."""

    __slots__ = (
        "_failures",
        "_history",
        "_in_flight",
        "_opened_at",
        "_policy",
        "_state",
        "_successes",
        "opened_count",
        "transitions",
    )

    def __init__(self, policy: BreakerPolicy | None = None, *, history: int = 32) -> None:
        self._policy = policy or BreakerPolicy()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._successes = 0
        self._in_flight = 0
        self._opened_at = 0.0
        self.opened_count = 0
        """How many times the circuit has opened (monotonic; feeds a counter)."""
        self.transitions: list[Transition] = []
        """The most recent transitions, newest last (bounded by ``history``)."""
        self._history = history

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    def state(self, now_s: float) -> BreakerState:
        """Current state; an OPEN circuit whose wait has elapsed reports (and becomes) HALF_OPEN."""
        if self._state is BreakerState.OPEN and now_s - self._opened_at >= self._policy.open_s:
            self._move(BreakerState.HALF_OPEN, now_s)
        return self._state

    def retry_after_s(self, now_s: float) -> float:
        """Seconds until an OPEN circuit lets a probe through (0 when not OPEN)."""
        if self.state(now_s) is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._policy.open_s - now_s)

    def allow(self, now_s: float) -> bool:
        """Ask to make one call. ``True`` reserves a slot: report it with exactly one of
        :meth:`record_success`, :meth:`record_failure` or :meth:`release`."""
        state = self.state(now_s)
        if state is BreakerState.OPEN:
            return False
        if state is BreakerState.HALF_OPEN and self._in_flight >= self._policy.half_open_max_calls:
            return False
        self._in_flight += 1
        return True

    def record_success(self, now_s: float) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        state = self.state(now_s)
        if state is BreakerState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self._policy.success_threshold:
                self._move(BreakerState.CLOSED, now_s)
        elif state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self, now_s: float) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        state = self.state(now_s)
        if state is BreakerState.HALF_OPEN:
            self._open(now_s)
        elif state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self._policy.failure_threshold:
                self._open(now_s)

    def release(self) -> None:
        """Give back a slot whose outcome says nothing about the remote's health
        (the caller was cancelled, or the failure was the caller's own)."""
        self._in_flight = max(0, self._in_flight - 1)

    def _open(self, now_s: float) -> None:
        self._opened_at = now_s
        self.opened_count += 1
        self._move(BreakerState.OPEN, now_s)

    def _move(self, new: BreakerState, now_s: float) -> None:
        old = self._state
        self._state = new
        self._failures = 0
        self._successes = 0
        if new is BreakerState.OPEN:
            self._in_flight = 0
        self.transitions.append(Transition(now_s, old, new))
        del self.transitions[: -self._history]
