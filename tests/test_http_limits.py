"""HTTP server limits (issue 22): slow-header floods are timed out or evicted while
``/healthz`` keeps answering, the connection cap holds, and ``/api/stream`` admits at most
``max_sse_clients`` (the extra one gets a JSON 503). Real sockets on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from csx_live.config import ConfigError, LiveSettings
from csx_live.dashboard.routes import add_dashboard_routes
from csx_live.server import HTTP_GUARD, GuardedAppRunner, HttpGuard, HttpLimits, create_app
from csx_live.state import LiveState

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` with a deadline (no bare sleeps for synchronisation)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _serve(limits: HttpLimits) -> AsyncIterator[tuple[str, HttpGuard, CollectorRegistry]]:
    registry = CollectorRegistry()
    state = LiveState(connected=lambda: True, universe=("BTCUSDT",))
    app = create_app(state=state, registry=registry, data_fresh_s=5.0, http_limits=limits)
    add_dashboard_routes(app, lambda: None, push_interval_s=0.05)
    runner = GuardedAppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", app[HTTP_GUARD], registry
    finally:
        await runner.cleanup()


async def _open_slow(port: int, n: int) -> list[Stream]:
    streams: list[Stream] = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(PARTIAL)
        streams.append((reader, writer))
    await asyncio.gather(*(w.drain() for _, w in streams))
    return streams


async def _closed_by_server(reader: asyncio.StreamReader, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            return await reader.read(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


async def _close_all(streams: list[Stream]) -> None:
    for _, writer in streams:
        writer.close()
    for _, writer in streams:
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _get(url: str) -> tuple[int, float, dict[str, object]]:
    started = time.monotonic()
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=5.0)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.get(url) as response,
    ):
        body = await response.json(content_type=None)
        return response.status, time.monotonic() - started, body


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def test_slow_header_flood_is_evicted_and_healthz_still_answers() -> None:
    limits = HttpLimits(header_timeout_s=1.0, max_connections=50, max_sse_clients=2)
    async with _serve(limits) as (base, guard, registry):
        slow = await _open_slow(_port(base), 200)
        try:
            await _until(lambda: guard.open_connections <= limits.max_connections, 5.0, "cap")
            latencies = []
            for _ in range(5):
                status, latency, body = await _get(f"{base}/healthz")
                assert status == 200
                assert body["status"] == "alive"
                latencies.append(latency)
            print(f"healthz under a 200-socket slow flood: max {max(latencies) * 1000:.1f} ms")
            assert max(latencies) < 1.0, latencies
            assert guard.open_connections <= limits.max_connections + 1
            # Every slow socket is closed: evicted for newer ones, or by the header timeout.
            closed = await asyncio.gather(*(_closed_by_server(r, 5.0) for r, _ in slow))
            assert all(closed)
            await _until(lambda: guard.open_connections == 0, 5.0, "connections released")
            assert guard.closed["evicted"] >= 200 - limits.max_connections
            assert guard.closed["evicted"] + guard.closed["header_timeout"] >= 200
            text = generate_latest(registry).decode()
            assert 'csx_http_connections_closed_total{reason="evicted"}' in text
        finally:
            await _close_all(slow)


async def test_slow_sockets_are_closed_after_the_header_timeout_not_before() -> None:
    limits = HttpLimits(header_timeout_s=0.6, max_connections=1000)
    async with _serve(limits) as (base, guard, _):
        started = time.monotonic()
        slow = await _open_slow(_port(base), 30)
        try:
            status, _, _ = await _get(f"{base}/healthz")  # a complete request is not cut
            assert status == 200
            closed = await asyncio.gather(*(_closed_by_server(r, 5.0) for r, _ in slow))
            elapsed = time.monotonic() - started
            assert all(closed)
            assert limits.header_timeout_s * 0.9 <= elapsed < limits.header_timeout_s + 3.0
            assert guard.closed["header_timeout"] == 30
            assert guard.closed["evicted"] == guard.closed["over_limit"] == 0
        finally:
            await _close_all(slow)


async def test_over_the_cap_without_slow_connections_new_ones_are_closed() -> None:
    limits = HttpLimits(header_timeout_s=30.0, max_connections=3, max_sse_clients=10)
    async with _serve(limits) as (base, guard, _):
        async with aiohttp.ClientSession() as session:
            streams = [await session.get(f"{base}/api/stream") for _ in range(3)]
            try:
                for response in streams:
                    assert response.status == 200
                    assert await response.content.readline() == b"retry: 2000\n"
                with pytest.raises(aiohttp.ClientError):
                    await _get(f"{base}/healthz")
                assert guard.closed["over_limit"] >= 1
            finally:
                for response in streams:
                    response.close()
        await _until(lambda: guard.open_connections == 0, 5.0, "connections released")
        status, _, _ = await _get(f"{base}/healthz")
        assert status == 200


async def test_sse_beyond_the_limit_gets_503_with_a_reason() -> None:
    limits = HttpLimits(max_sse_clients=2)
    async with _serve(limits) as (base, guard, registry):
        async with aiohttp.ClientSession() as session:
            opened = []
            try:
                for _ in range(limits.max_sse_clients):
                    response = await session.get(f"{base}/api/stream")
                    opened.append(response)
                    assert response.status == 200
                    assert await response.content.readline() == b"retry: 2000\n"
                async with session.get(f"{base}/api/stream") as extra:
                    assert extra.status == 503
                    body = await extra.json()
                    assert body == {"error": "too many stream clients", "max_sse_clients": 2}
                assert guard.sse_rejected == 1
                assert "csx_sse_rejected_total 1.0" in generate_latest(registry).decode()
                # A client that leaves frees its slot.
                opened.pop().close()
                await _until(lambda: guard.sse_clients < 2, 5.0, "slot released")
                response = await session.get(f"{base}/api/stream")
                opened.append(response)
                assert response.status == 200
            finally:
                for response in opened:
                    response.close()
        await _until(lambda: guard.sse_clients == 0, 5.0, "all slots released")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("http_header_timeout_s", 0.0),
        ("http_keepalive_timeout_s", -1.0),
        ("http_max_connections", 0),
        ("http_max_sse_clients", 0),
    ],
)
def test_settings_reject_bad_http_limits(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        LiveSettings(**{field: value})  # type: ignore[arg-type]


def test_settings_defaults_are_safe() -> None:
    s = LiveSettings()
    assert s.http_header_timeout_s == 10.0
    assert s.http_max_connections >= 1000
    assert s.http_max_sse_clients >= 1
