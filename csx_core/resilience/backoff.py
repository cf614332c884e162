"""Capped exponential backoff with full jitter, as pure maths plus a tiny reset-aware state.

Full jitter (delay drawn uniformly from ``[0, min(cap, base * multiplier**attempt))``) spreads
reconnect storms across clients better than equal or decorrelated jitter and never exceeds
the cap. Randomness is injected (``rand() -> float in [0, 1)``, e.g. ``random.Random(7).random``)
so tests and replays are deterministic. All durations are **seconds** (float); ``now_s`` is a
monotonic clock reading in seconds (``loop.time()``, ``time.monotonic()``), never wall time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

RandomSource = Callable[[], float]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How fast retries back off and when a connection counts as healthy again.

    ``healthy_after_s``: a success that lasted at least this long before the next failure
    resets the attempt counter, so one flap after hours of uptime starts from ``base_s``.
    ``max_attempts``: bound on consecutive failures before giving up (``None``: unbounded,
    for reconnect loops that must keep trying at the cap).
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    multiplier: float = 2.0
    healthy_after_s: float = 60.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s > 0):
            raise ValueError(f"base_s must be > 0, got {self.base_s}")
        if not (math.isfinite(self.cap_s) and self.cap_s >= self.base_s):
            raise ValueError(f"cap_s must be >= base_s ({self.base_s}), got {self.cap_s}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1.0):
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        if not (math.isfinite(self.healthy_after_s) and self.healthy_after_s >= 0):
            raise ValueError(f"healthy_after_s must be >= 0, got {self.healthy_after_s}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 or None, got {self.max_attempts}")


def backoff_ceiling(attempt: int, policy: BackoffPolicy) -> float:
    """Upper bound of the delay before retry number ``attempt`` (0-based), in seconds.

    Computed in log space so huge attempt numbers cannot overflow.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if policy.multiplier == 1.0:
        return policy.base_s
    log_ceiling = math.log(policy.base_s) + attempt * math.log(policy.multiplier)
    if log_ceiling >= math.log(policy.cap_s):
        return policy.cap_s
    return math.exp(log_ceiling)


def full_jitter_delay(attempt: int, policy: BackoffPolicy, rand: RandomSource) -> float:
    """Seconds to wait before retry ``attempt``: uniform in ``[0, backoff_ceiling)``."""
    u = rand()
    if not 0.0 <= u < 1.0:
        raise ValueError(f"random source must return a float in [0, 1), got {u!r}")
    return u * backoff_ceiling(attempt, policy)


class Backoff:
    """Consecutive-failure counter around :func:`full_jitter_delay` (no I/O, no clock).

    Call :meth:`success` when a connection/call becomes healthy and :meth:`failure` when it
    fails; ``failure`` returns the delay to sleep, or ``None`` once ``max_attempts``
    consecutive failures have been used up.
    """

    __slots__ = ("_attempt", "_healthy_since", "_policy", "_rand")

    def __init__(self, policy: BackoffPolicy, rand: RandomSource) -> None:
        self._policy = policy
        self._rand = rand
        self._attempt = 0
        self._healthy_since: float | None = None

    @property
    def attempt(self) -> int:
        """Consecutive failures counted so far (0 after a reset)."""
        return self._attempt

    @property
    def policy(self) -> BackoffPolicy:
        return self._policy

    def success(self, now_s: float) -> None:
        """Mark the start of a healthy period (connected, or a call succeeded)."""
        if self._healthy_since is None:
            self._healthy_since = now_s

    def reset(self) -> None:
        self._attempt = 0
        self._healthy_since = None

    def failure(self, now_s: float) -> float | None:
        """Record a failure at ``now_s``; return the delay in seconds, or ``None`` if exhausted."""
        since = self._healthy_since
        if since is not None and now_s - since >= self._policy.healthy_after_s:
            self._attempt = 0
        self._healthy_since = None
        limit = self._policy.max_attempts
        if limit is not None and self._attempt >= limit:
            return None
        delay = full_jitter_delay(self._attempt, self._policy, self._rand)
        self._attempt += 1
        return delay
