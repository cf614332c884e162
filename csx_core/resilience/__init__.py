"""Pure retry maths and failure-isolation state machines; the async shells live above the core."""

from csx_core.resilience.backoff import (
    Backoff,
    BackoffPolicy,
    RandomSource,
    backoff_ceiling,
    full_jitter_delay,
)
from csx_core.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker, Transition

__all__ = [
    "Backoff",
    "BackoffPolicy",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "RandomSource",
    "Transition",
    "backoff_ceiling",
    "full_jitter_delay",
]
