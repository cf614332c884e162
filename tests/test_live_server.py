"""The HTTP server over a real socket: metrics (names, no per-symbol labels), health,
readiness transitions, the JSON API, background tasks via cleanup_ctx."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from csx_core.resilience.breaker import CircuitBreaker
from csx_core.resilience.governor import RestGovernor
from csx_live.connectors import GapLedger, LinkStats
from csx_live.metrics import LiveMetrics, MetricSources
from csx_live.queue import DropOldestQueue
from csx_live.server import LiveViews, create_app
from csx_live.state import NS_PER_S, LiveState, ModelInfo

DOC_TABLE = re.compile(r"^\| ``(csx_[a-z0-9_]+)(?:\{[a-z]+\})?`` \|", re.MULTILINE)


@dataclass
class Clock:
    ns: int = 1_700_000_000 * NS_PER_S

    def __call__(self) -> int:
        return self.ns


@dataclass
class Shards:
    shard_count: int = 2
    connected_count: int = 2


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state() -> LiveState:
    return LiveState(connected=lambda: True, universe=("BTCUSDT", "ETHUSDT"))


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


SYMBOL_VIEWS: dict[str, dict[str, object]] = {}
"""What ``/api/symbol`` serves in the ``served`` app (the runner's ``symbol_view``)."""


@pytest.fixture
async def served(
    state: LiveState, clock: Clock
) -> AsyncIterator[tuple[str, aiohttp.ClientSession, LiveMetrics]]:
    registry = CollectorRegistry()
    queue: DropOldestQueue[int] = DropOldestQueue(5)
    queue.put_many(range(8))
    metrics = LiveMetrics(
        registry,
        MetricSources(
            state=state,
            fresh_s=5.0,
            link=LinkStats(frames_in=10, reconnects=1),
            ledger=GapLedger(),
            shards=Shards(),
            queue=queue,
            governor=RestGovernor(),
            breaker=CircuitBreaker(),
            wall_ns=clock,
        ),
    )
    views = LiveViews(symbol=SYMBOL_VIEWS.get)
    app = create_app(state=state, registry=registry, data_fresh_s=5.0, wall_ns=clock, views=views)
    async for base in _serve(app):
        async with aiohttp.ClientSession() as session:
            yield base, session, metrics


async def test_metrics_expose_the_documented_names_without_symbol_labels(
    served: tuple[str, aiohttp.ClientSession, LiveMetrics],
) -> None:
    base, session, metrics = served
    metrics.tick_duration.observe(0.002)
    async with session.get(f"{base}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    import csx_live.metrics as module

    documented = set(DOC_TABLE.findall(module.__doc__ or ""))
    assert len(documented) >= 18
    exposed = {
        line.split(" ")[2]
        for line in text.splitlines()
        if line.startswith("# TYPE ") and not line.split(" ")[2].endswith("_created")
    }
    assert documented == exposed, documented ^ exposed
    assert "csx_queue_dropped_total 3.0" in text
    assert "csx_ws_reconnects_total 1.0" in text
    assert 'csx_model_info{alias="",' in text
    assert "csx_tick_duration_seconds_count 1.0" in text
    assert "BTCUSDT" not in text, "no per-symbol labels"


async def test_readiness_transitions(
    served: tuple[str, aiohttp.ClientSession, LiveMetrics], state: LiveState, clock: Clock
) -> None:
    base, session, _ = served

    async def ready() -> tuple[int, list[str]]:
        async with session.get(f"{base}/readyz") as response:
            body = await response.json()
            return response.status, body["reasons"]

    status, reasons = await ready()
    assert status == 503
    assert reasons[0].startswith("model_not_loaded")
    assert "no_data_yet" in reasons
    state.model = ModelInfo(model_id="baseline-1", verified=True)
    state.last_event_wall_ns = clock.ns
    state.last_tick_ns = clock.ns
    assert await ready() == (200, [])
    clock.ns += 6 * NS_PER_S  # feed stalls beyond data_fresh_s
    status, reasons = await ready()
    assert status == 503
    assert reasons == ["data_stale: 6.0 s > 5.0 s"]
    state.last_event_wall_ns = clock.ns
    state.connected = lambda: False
    assert await ready() == (503, ["not_connected"])


async def test_prod_needs_a_verified_champion(state: LiveState, clock: Clock) -> None:
    state.prod_requires_verified = True
    state.model = ModelInfo(model_id="baseline", fallback=True)
    state.last_event_wall_ns = state.last_tick_ns = clock.ns
    assert state.readiness(clock.ns, 5.0) == (False, ["model_not_verified"])


async def test_health_and_api(
    served: tuple[str, aiohttp.ClientSession, LiveMetrics], state: LiveState
) -> None:
    base, session, _ = served
    async with session.get(f"{base}/healthz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "alive"
    state.ranks = [{"rank": 1, "symbol": "BTCUSDT", "p_inplay": 0.8}]
    SYMBOL_VIEWS["BTCUSDT"] = {"p_inplay": 0.8, "features": {"spread_bps": 1.0}}
    state.last_tick_ns = 42
    async with session.get(f"{base}/api/ranks") as response:
        body = await response.json()
    assert body["ranks"] == state.ranks
    assert body["ts"] == 42
    async with session.get(f"{base}/api/symbol/btcusdt") as response:
        assert (await response.json())["features"] == {"spread_bps": 1.0}
    async with session.get(f"{base}/api/symbol/ETHUSDT") as response:
        assert (response.status, (await response.json())["error"]) == (404, "no data yet")
    async with session.get(f"{base}/api/symbol/NOPE") as response:
        assert (response.status, (await response.json())["error"]) == (404, "unknown symbol")


async def test_background_tasks_start_and_are_cancelled_on_cleanup(state: LiveState) -> None:
    events: list[str] = []

    async def worker(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            events.append("started")
            try:
                await asyncio.Event().wait()
            finally:
                events.append("cancelled")

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app = create_app(
        state=state, registry=CollectorRegistry(), data_fresh_s=5.0, background=[worker]
    )
    async for _ in _serve(app):
        await asyncio.sleep(0)  # let the worker task take its first step
    assert events == ["started", "cancelled"]
