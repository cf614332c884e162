"""RestGovernor: weight windows, concurrency, bounded queue, 429 back-off, 418 ban."""

from __future__ import annotations

import pytest

from csx_core.resilience.governor import (
    NS_PER_S,
    WINDOW_NS,
    RestGovernor,
    Verdict,
    depth_weight,
    klines_weight,
    request_weight,
)

T0 = 1_700_000_000 * NS_PER_S // WINDOW_NS * WINDOW_NS  # start of a minute window


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        ("/fapi/v1/exchangeInfo", None, 1),
        ("/fapi/v1/depth", {"limit": "1000"}, 20),
        ("/fapi/v1/depth", {"limit": "50"}, 2),
        ("/fapi/v1/klines", {"limit": "1500"}, 10),
        ("/fapi/v1/ticker/24hr", None, 40),
        ("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}, 1),
        ("/fapi/v1/aggTrades", {"symbol": "BTCUSDT"}, 20),
    ],
)
def test_documented_weights(path: str, params: dict[str, str] | None, weight: int) -> None:
    assert request_weight(path, params) == weight


def test_weight_steps() -> None:
    assert [depth_weight(n) for n in (5, 100, 500, 1000)] == [2, 5, 10, 20]
    assert [klines_weight(n) for n in (99, 499, 1000, 1500)] == [1, 2, 5, 10]


def test_weight_budget_delays_to_next_window_and_trusts_the_header() -> None:
    gov = RestGovernor(weight_budget_1m=30, max_concurrency=10)
    assert gov.admit(20, T0).verdict is Verdict.ADMIT
    gov.release()
    wait = gov.admit(20, T0 + NS_PER_S)
    assert (wait.verdict, wait.reason, wait.until_ns) == (Verdict.WAIT, "weight", T0 + WINDOW_NS)
    assert gov.admit(20, T0 + WINDOW_NS).verdict is Verdict.ADMIT
    gov.on_response(200, T0 + WINDOW_NS, used_weight_1m=29)
    assert gov.weight_used(T0 + WINDOW_NS) == 29
    assert gov.admit(2, T0 + WINDOW_NS).verdict is Verdict.WAIT
    assert gov.counters.delayed_weight == 2


def test_concurrency_cap_and_queue_full_is_counted() -> None:
    gov = RestGovernor(max_concurrency=1, max_queue=2)
    assert gov.enter_queue(T0).verdict is Verdict.ADMIT
    assert gov.enter_queue(T0).verdict is Verdict.ADMIT
    full = gov.enter_queue(T0)
    assert (full.verdict, full.reason) == (Verdict.REJECT, "queue_full")
    assert gov.counters.rejected_queue_full == 1
    assert gov.admit(1, T0).verdict is Verdict.ADMIT
    blocked = gov.admit(1, T0)
    assert (blocked.verdict, blocked.reason, blocked.until_ns) == (
        Verdict.WAIT,
        "concurrency",
        None,
    )
    gov.release()
    assert gov.admit(1, T0).verdict is Verdict.ADMIT


def test_429_delays_until_retry_after_then_418_rejects_everything_until_ban_ends() -> None:
    gov = RestGovernor()
    gov.on_response(429, T0, retry_after_s=5)
    wait = gov.admit(1, T0 + NS_PER_S)
    assert (wait.verdict, wait.reason, wait.until_ns) == (
        Verdict.WAIT,
        "retry_after",
        T0 + 5 * NS_PER_S,
    )
    assert gov.admit(1, T0 + 5 * NS_PER_S).verdict is Verdict.ADMIT
    gov.release()
    gov.on_response(418, T0 + 6 * NS_PER_S, retry_after_s=120)
    for decision in (gov.admit(1, T0 + 7 * NS_PER_S), gov.enter_queue(T0 + 100 * NS_PER_S)):
        assert (decision.verdict, decision.reason) == (Verdict.REJECT, "banned")
        assert decision.until_ns == T0 + 126 * NS_PER_S
    assert gov.admit(1, T0 + 126 * NS_PER_S).verdict is Verdict.ADMIT
    assert (gov.counters.responses_429, gov.counters.responses_418) == (1, 1)
    assert gov.counters.rejected_banned == 2


def test_missing_retry_after_uses_conservative_defaults() -> None:
    gov = RestGovernor()
    gov.on_response(418, T0)
    assert gov.banned_until_ns == T0 + 120 * NS_PER_S


def test_a_call_heavier_than_the_budget_is_rejected() -> None:
    gov = RestGovernor(weight_budget_1m=10)
    assert gov.admit(20, T0).reason == "too_heavy"
