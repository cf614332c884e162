"""Backoff maths and the circuit-breaker state machine (pure, time stepped by hand)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csx_core.resilience import (
    Backoff,
    BackoffPolicy,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    backoff_ceiling,
    full_jitter_delay,
)

policies = st.builds(
    BackoffPolicy,
    base_s=st.floats(1e-3, 5.0),
    cap_s=st.floats(5.0, 300.0),
    multiplier=st.floats(1.0, 4.0),
    healthy_after_s=st.floats(0.0, 120.0),
)
unit = st.floats(0.0, 1.0, exclude_max=True)


@given(policy=policies, attempt=st.integers(0, 10_000), u=unit)
def test_delay_never_exceeds_cap_and_is_non_negative(
    policy: BackoffPolicy, attempt: int, u: float
) -> None:
    delay = full_jitter_delay(attempt, policy, lambda: u)
    assert 0.0 <= delay <= policy.cap_s
    assert delay <= backoff_ceiling(attempt, policy)


@given(policy=policies, attempt=st.integers(0, 200))
def test_ceiling_is_monotone_in_attempt(policy: BackoffPolicy, attempt: int) -> None:
    assert backoff_ceiling(attempt, policy) <= backoff_ceiling(attempt + 1, policy)


def test_ceiling_doubles_then_caps() -> None:
    policy = BackoffPolicy(base_s=1.0, cap_s=10.0, multiplier=2.0)
    assert [backoff_ceiling(a, policy) for a in range(6)] == pytest.approx(
        [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    )


def test_full_jitter_uses_the_injected_source() -> None:
    policy = BackoffPolicy(base_s=1.0, cap_s=10.0)
    assert full_jitter_delay(2, policy, lambda: 0.5) == pytest.approx(2.0)
    a = [full_jitter_delay(3, policy, random.Random(7).random) for _ in range(3)]
    assert len(set(a)) == 1


def test_random_source_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        full_jitter_delay(0, BackoffPolicy(), lambda: 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": 0.0},
        {"base_s": 2.0, "cap_s": 1.0},
        {"multiplier": 0.5},
        {"healthy_after_s": -1.0},
        {"max_attempts": 0},
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]


def test_backoff_grows_while_flapping_and_resets_after_a_healthy_period() -> None:
    backoff = Backoff(BackoffPolicy(base_s=1.0, cap_s=60.0, healthy_after_s=30.0), lambda: 0.999)
    delays = []
    now = 0.0
    for _ in range(4):
        backoff.success(now)
        now += 5.0  # up only 5 s: a flap, not healthy
        delays.append(backoff.failure(now))
    assert delays == pytest.approx([0.999, 1.998, 3.996, 7.992])
    assert backoff.attempt == 4
    backoff.success(now)
    now += 30.0
    assert backoff.failure(now) == pytest.approx(0.999)
    assert backoff.attempt == 1


def test_backoff_without_success_keeps_growing() -> None:
    backoff = Backoff(BackoffPolicy(base_s=1.0, cap_s=4.0, healthy_after_s=0.0), lambda: 0.5)
    assert [backoff.failure(t) for t in (0.0, 100.0, 200.0, 300.0)] == pytest.approx(
        [0.5, 1.0, 2.0, 2.0]
    )


def test_backoff_is_bounded_by_max_attempts() -> None:
    backoff = Backoff(BackoffPolicy(max_attempts=2), lambda: 0.1)
    assert backoff.failure(0.0) is not None
    assert backoff.failure(0.0) is not None
    assert backoff.failure(0.0) is None
    backoff.reset()
    assert backoff.failure(0.0) is not None


@given(
    events=st.lists(st.tuples(st.booleans(), st.floats(0.0, 100.0)), max_size=60),
    u=unit,
)
def test_backoff_delays_stay_within_cap_for_any_history(
    events: list[tuple[bool, float]], u: float
) -> None:
    policy = BackoffPolicy(base_s=0.1, cap_s=3.0, healthy_after_s=10.0)
    backoff = Backoff(policy, lambda: u)
    now = 0.0
    for ok, dt in events:
        now += dt
        if ok:
            backoff.success(now)
        else:
            delay = backoff.failure(now)
            assert delay is not None
            assert 0.0 <= delay <= policy.cap_s


# -- circuit breaker -------------------------------------------------------------------------
@pytest.fixture
def breaker() -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(failure_threshold=3, open_s=10.0, success_threshold=1))


def _fail(breaker: CircuitBreaker, now: float, n: int) -> None:
    for _ in range(n):
        assert breaker.allow(now)
        breaker.record_failure(now)


def test_breaker_opens_after_consecutive_failures(breaker: CircuitBreaker) -> None:
    _fail(breaker, 0.0, 2)
    assert breaker.state(0.0) is BreakerState.CLOSED
    _fail(breaker, 1.0, 1)
    assert breaker.state(1.0) is BreakerState.OPEN
    assert not breaker.allow(5.0)
    assert breaker.retry_after_s(5.0) == pytest.approx(6.0)
    assert breaker.opened_count == 1


def test_success_resets_the_failure_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, 0.0, 2)
    assert breaker.allow(0.0)
    breaker.record_success(0.0)
    _fail(breaker, 0.0, 2)
    assert breaker.state(0.0) is BreakerState.CLOSED


def test_half_open_admits_one_probe_and_closes_on_success(breaker: CircuitBreaker) -> None:
    _fail(breaker, 0.0, 3)
    assert breaker.state(10.0) is BreakerState.HALF_OPEN
    assert breaker.allow(10.0)
    assert not breaker.allow(10.0), "only one probe in flight"
    breaker.record_success(10.5)
    assert breaker.state(10.5) is BreakerState.CLOSED
    assert [(t.old, t.new) for t in breaker.transitions] == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_half_open_failure_reopens_for_a_full_period(breaker: CircuitBreaker) -> None:
    _fail(breaker, 0.0, 3)
    assert breaker.allow(12.0)
    breaker.record_failure(12.0)
    assert breaker.state(12.0) is BreakerState.OPEN
    assert breaker.state(21.9) is BreakerState.OPEN
    assert breaker.state(22.0) is BreakerState.HALF_OPEN
    assert breaker.opened_count == 2


def test_released_probe_frees_the_slot(breaker: CircuitBreaker) -> None:
    _fail(breaker, 0.0, 3)
    assert breaker.allow(10.0)
    breaker.release()
    assert breaker.allow(10.0)


def test_gauge_values_are_stable() -> None:
    assert [s.gauge_value for s in BreakerState] == [0, 1, 2]


@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["ok", "fail", "release"]), st.floats(0.0, 8.0)), max_size=80
    )
)
def test_breaker_invariants_hold_for_any_sequence(ops: list[tuple[str, float]]) -> None:
    """OPEN never admits a call; half-open never has more probes than allowed; transitions
    only follow the legal edges."""
    policy = BreakerPolicy(failure_threshold=2, open_s=5.0, half_open_max_calls=2)
    breaker = CircuitBreaker(policy, history=1000)
    now = 0.0
    for op, dt in ops:
        now += dt
        state = breaker.state(now)
        allowed = breaker.allow(now)
        if state is BreakerState.OPEN:
            assert not allowed
        if not allowed:
            continue
        if op == "ok":
            breaker.record_success(now)
        elif op == "fail":
            breaker.record_failure(now)
        else:
            breaker.release()
    legal = {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    }
    assert {(t.old, t.new) for t in breaker.transitions} <= legal
    times = [t.at_s for t in breaker.transitions]
    assert times == sorted(times)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"open_s": -1.0},
        {"half_open_max_calls": 0},
        {"success_threshold": 0},
    ],
)
def test_invalid_breaker_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
