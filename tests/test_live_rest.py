"""RestClient against a real aiohttp server on 127.0.0.1: 429 then 418, timeouts, breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from csx_core.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from csx_core.resilience.governor import NS_PER_S, RestGovernor
from csx_live.rest import (
    RestBannedError,
    RestCircuitOpenError,
    RestClient,
    RestHttpError,
    RestQueueFullError,
    RestRateLimitedError,
    RestTimeoutError,
)


@dataclass
class Script:
    """What the server answers, in order; then 200."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    hits: int = 0
    delay_s: float = 0.0


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Script]]:
    script = Script()

    async def handle(request: web.Request) -> web.Response:
        script.hits += 1
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.answers:
            status, headers, body = script.answers.pop(0)
            return web.Response(status=status, headers=headers, body=body)
        return web.json_response({"ok": True}, headers={"X-MBX-USED-WEIGHT-1M": "7"})

    app = web.Application()
    app.router.add_get("/fapi/v1/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", script
    await runner.cleanup()


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000 * NS_PER_S

    def __call__(self) -> int:
        return self.ns


async def test_429_then_418_stops_all_rest(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [
        (429, {"Retry-After": "0.2"}, b'{"code":-1003,"msg":"Too many requests"}'),
        (418, {"Retry-After": "120"}, b'{"code":-1003,"msg":"banned"}'),
    ]
    clock = Clock()
    gov = RestGovernor()
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, base, governor=gov, breaker=CircuitBreaker(), now_ns=clock)
        with pytest.raises(RestRateLimitedError) as limited:
            await client.get_json("/fapi/v1/exchangeInfo")
        assert limited.value.retry_after_s == pytest.approx(0.2)
        clock.ns += NS_PER_S  # past Retry-After: the next call goes out and gets the ban
        with pytest.raises(RestBannedError) as banned:
            await client.get_json("/fapi/v1/exchangeInfo")
        assert banned.value.until_ns == clock.ns + 120 * NS_PER_S
        hits = script.hits
        clock.ns += 60 * NS_PER_S
        with pytest.raises(RestBannedError):
            await client.get_json("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "1000"})
        assert script.hits == hits, "nothing may be sent during a 418 ban"
        clock.ns += 61 * NS_PER_S
        assert await client.get_json("/fapi/v1/exchangeInfo") == {"ok": True}
    assert gov.counters.responses_429 == 1
    assert gov.counters.responses_418 == 1
    assert gov.weight_used(clock.ns) == 7


async def test_429_makes_the_next_call_wait_for_retry_after(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [(429, {"Retry-After": "0.3"}, b"{}")]
    gov = RestGovernor()
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, base, governor=gov, breaker=CircuitBreaker())
        with pytest.raises(RestRateLimitedError):
            await client.get_json("/fapi/v1/exchangeInfo")
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await client.get_json("/fapi/v1/exchangeInfo") == {"ok": True}
        assert loop.time() - start >= 0.2
    assert gov.counters.delayed_retry_after >= 1


async def test_timeouts_and_5xx_open_the_breaker_then_a_probe_closes_it(
    server: tuple[str, Script],
) -> None:
    base, script = server
    mono = [100.0]
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=2, open_s=30.0))
    async with aiohttp.ClientSession() as session:
        client = RestClient(
            session,
            base,
            governor=RestGovernor(),
            breaker=breaker,
            timeout_s=0.1,
            monotonic_s=lambda: mono[0],
        )
        script.delay_s = 0.5
        with pytest.raises(RestTimeoutError):
            await client.get_json("/fapi/v1/exchangeInfo")
        script.delay_s = 0.0
        script.answers = [(503, {}, b'{"code":-1001,"msg":"busy"}')]
        with pytest.raises(RestHttpError) as http:
            await client.get_json("/fapi/v1/exchangeInfo")
        assert (http.value.status, http.value.code) == (503, -1001)
        assert breaker.state(mono[0]) is BreakerState.OPEN
        hits = script.hits
        with pytest.raises(RestCircuitOpenError):
            await client.get_json("/fapi/v1/exchangeInfo")
        assert script.hits == hits, "an open circuit sends nothing"
        mono[0] += 30.0
        assert breaker.state(mono[0]) is BreakerState.HALF_OPEN
        assert await client.get_json("/fapi/v1/exchangeInfo") == {"ok": True}
        assert breaker.state(mono[0]) is BreakerState.CLOSED
    assert [t.new for t in breaker.transitions] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


async def test_4xx_is_typed_and_not_a_breaker_failure(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [(400, {}, b'{"code":-1121,"msg":"Invalid symbol."}')]
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1))
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, base, governor=RestGovernor(), breaker=breaker)
        with pytest.raises(RestHttpError, match="Invalid symbol"):
            await client.get_json("/fapi/v1/depth", {"symbol": "NOPE"})
    assert breaker.state(0.0) is BreakerState.CLOSED


async def test_full_queue_rejects_and_counts(server: tuple[str, Script]) -> None:
    base, script = server
    script.delay_s = 0.3
    gov = RestGovernor(max_concurrency=1, max_queue=1)
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, base, governor=gov, breaker=CircuitBreaker())
        first = asyncio.create_task(client.get_json("/fapi/v1/exchangeInfo"))
        await eventually(lambda: gov.in_flight == 1)
        second = asyncio.create_task(client.get_json("/fapi/v1/exchangeInfo"))
        await eventually(lambda: gov.queued == 1)
        with pytest.raises(RestQueueFullError):
            await client.get_json("/fapi/v1/exchangeInfo")
        assert await first == {"ok": True}
        assert await second == {"ok": True}
    assert gov.counters.rejected_queue_full == 1
