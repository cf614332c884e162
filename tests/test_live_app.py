"""The composed live app end to end over loopback: a tiny exchange (REST exchangeInfo + routed
WS streams) → csx live's composition root → /readyz 200 after warm-up, ranks in /api/ranks,
/metrics counting, 503 when the feed stalls, graceful cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from csx_live.app import LiveComponents, build_live
from csx_live.config import LiveSettings, load_settings
from csx_live.model import LoadedModel, ModelUnavailableError
from csx_live.state import ModelInfo
from tests.test_live_runner import baseline, json_decode

WARMUP_S = 63 * 60  # the feature engine's 60-minute baselines, in whole minutes

SYMBOLS = ("AAAUSDT", "BBBUSDT", "BTCUSDT")


async def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@dataclass
class Exchange:
    paused: bool = False
    sockets: list[tuple[str, web.WebSocketResponse]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    n: int = 1_000_000  # live ids follow the history's

    def exchange_info(self) -> dict[str, object]:
        listed = [
            {"symbol": s, "contractType": "PERPETUAL", "status": "TRADING", "quoteAsset": "USDT",
             "baseAsset": s[:3], "filters": []}
            for s in SYMBOLS
        ]  # fmt: skip
        listed.append(dict(listed[0], symbol="OLDUSDT", status="SETTLING"))
        return {"symbols": listed}

    def history(self, route: str) -> list[str]:
        """An hour of coarse history ending now (one trade or book per symbol every 10 s),
        sent to each new connection first, as a feed that has been running would have: the
        symbols are warm once it has been read, so the runner ranks them."""
        now_ms = time.time_ns() // 1_000_000
        out = []
        for i, back_s in enumerate(range(WARMUP_S, 0, -10)):
            ms = now_ms - back_s * 1000
            for k, sym in enumerate(SYMBOLS):
                px = 100.0 * (k + 1) + (i % 50) * 0.01
                if route == "/market/stream":
                    data = {"e": "aggTrade", "E": ms, "T": ms, "a": 1 + i * 10 + k, "s": sym,
                            "p": f"{px:.2f}", "q": "2", "m": i % 2 == 0}  # fmt: skip
                    out.append(json.dumps({"stream": f"{sym.lower()}@aggTrade", "data": data}))
                else:
                    data = {"e": "bookTicker", "E": ms, "T": ms, "u": i * 10 + k, "s": sym,
                            "b": f"{px - 0.01:.2f}", "B": "4", "a": f"{px + 0.01:.2f}",
                            "A": "4"}  # fmt: skip
                    out.append(json.dumps({"stream": f"{sym.lower()}@bookTicker", "data": data}))
        return out

    async def produce(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            if self.paused:
                continue
            ms = time.time_ns() // 1_000_000
            for k, sym in enumerate(SYMBOLS):
                self.n += 1
                px = 100.0 * (k + 1) + (self.n % 50) * 0.01
                trade = {"e": "aggTrade", "E": ms, "T": ms, "a": self.n, "s": sym,
                         "p": f"{px:.2f}", "q": "2", "m": self.n % 2 == 0}  # fmt: skip
                book = {"e": "bookTicker", "E": ms, "T": ms, "u": self.n, "s": sym,
                        "b": f"{px - 0.01:.2f}", "B": "4", "a": f"{px + 0.01:.2f}",
                        "A": "4"}  # fmt: skip
                for route, ws in list(self.sockets):
                    if ws.closed:
                        continue
                    if route == "/market/stream":
                        payload = {"stream": f"{sym.lower()}@aggTrade", "data": trade}
                    else:
                        payload = {"stream": f"{sym.lower()}@bookTicker", "data": book}
                    await ws.send_str(json.dumps(payload))


@pytest.fixture
async def exchange() -> AsyncIterator[tuple[str, str, Exchange]]:
    ex = Exchange()

    async def info(_: web.Request) -> web.Response:
        return web.json_response(ex.exchange_info(), headers={"X-MBX-USED-WEIGHT-1M": "1"})

    async def stream(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        ex.paths.append(request.path_qs)
        for frame in ex.history(request.path):
            await ws.send_str(frame)
        entry = (request.path, ws)
        ex.sockets.append(entry)
        try:
            async for _ in ws:
                pass
        finally:
            ex.sockets.remove(entry)
        return ws

    app = web.Application()
    app.router.add_get("/fapi/v1/exchangeInfo", info)
    app.router.add_get("/public/stream", stream)
    app.router.add_get("/market/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    producer = asyncio.create_task(ex.produce())
    yield f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", ex
    producer.cancel()
    for _, ws in list(ex.sockets):
        await ws.close()
    await runner.cleanup()


def settings_for(rest: str, ws: str, tmp_path: Path) -> LiveSettings:
    return load_settings(
        env={"CSX_WEBHOOK_URLS": "https://hooks.slack.com/services/T/B/CANARY"},
        overrides={
            "rest_url": rest,
            "ws_url": ws,
            "channels": "bookTicker,aggTrade",
            "data_fresh_s": 1.0,
            "tick_fallback_s": 1.0,
            "top_k": 2,
            "sink_dir": str(tmp_path),
            "graceful_timeout_s": 5.0,
        },
    )


def baseline_loader(_: LiveSettings) -> LoadedModel:
    return LoadedModel(baseline(), ModelInfo(model_id="baseline-v1", verified=True), None)


@contextlib.asynccontextmanager
async def serving(parts: LiveComponents) -> AsyncIterator[Client]:
    runner = web.AppRunner(parts.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Client(http, f"http://127.0.0.1:{runner.addresses[0][1]}")
    finally:
        async with asyncio.timeout(parts.settings.graceful_timeout_s):
            await runner.cleanup()


@dataclass
class Client:
    http: aiohttp.ClientSession
    base: str

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def wait_ready(self, status: int, within_s: float = 10.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            got, body = await self.get("/readyz")
            if got == status:
                return body
            assert loop.time() < deadline, body
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_live_against_a_tiny_exchange(
    exchange: tuple[str, str, Exchange], tmp_path: Path
) -> None:
    rest, ws, ex = exchange
    parts = build_live(
        settings_for(rest, ws, tmp_path), decode=json_decode, model_loader=baseline_loader
    )
    async with serving(parts) as client:
        assert (await client.get("/healthz"))[0] == 200
        assert (await client.get("/readyz"))[0] == 503
        await client.wait_ready(200)
        assert parts.state.universe == SYMBOLS
        assert sorted(ex.paths) == [
            "/market/stream?streams=aaausdt@aggTrade/bbbusdt@aggTrade/btcusdt@aggTrade",
            "/public/stream?streams=aaausdt@bookTicker/bbbusdt@bookTicker/btcusdt@bookTicker",
        ]
        await eventually(lambda: len(parts.state.ranks) == 2)
        status, ranks = await client.get("/api/ranks")
        assert status == 200
        assert [r["rank"] for r in ranks["ranks"]] == [1, 2]
        status, sym = await client.get("/api/symbol/BTCUSDT")
        assert status == 200
        assert "features" in sym
        await eventually(lambda: parts.state.counters.ticks >= 2)
        status, page = await client.get("/")
        assert status == 200
        assert "<html" in page.lower()
        status, view = await client.get("/api/dashboard")
        assert status == 200
        assert len(view["ranks"]) == 2
        assert view["health"]["connections"] == 2
        assert view["health"]["model_version"] == "baseline-v1"
        _, text = await client.get("/metrics")
        assert "csx_ws_connections 2.0" in text
        assert "csx_ready 1.0" in text
        assert "CANARY" not in text

        ex.paused = True  # the feed stalls: data goes stale, readiness drops
        body = await client.wait_ready(503, within_s=5.0)
        assert any(r.startswith("data_stale") for r in body["reasons"])
        ex.paused = False
        await client.wait_ready(200)
    assert parts.shards is not None
    assert parts.shards.shard_count == 0, "cleanup stopped every shard"
    assert all(t.done() for t in parts.tasks)
    assert any(name.startswith("ranks-") for name in os.listdir(tmp_path))


async def test_without_a_model_it_never_becomes_ready(
    exchange: tuple[str, str, Exchange], tmp_path: Path
) -> None:
    rest, ws, _ = exchange

    def no_model(_: LiveSettings) -> LoadedModel:
        raise ModelUnavailableError("no model_source configured")

    parts = build_live(settings_for(rest, ws, tmp_path), decode=json_decode, model_loader=no_model)
    async with serving(parts) as client:
        await eventually(lambda: parts.state.counters.ticks >= 1)
        status, body = await client.get("/readyz")
        assert status == 503
        assert body["reasons"] == ["model_not_loaded: no model_source configured"]
        assert parts.state.ranks == []


async def test_the_batch_tick_kernels_load_in_a_thread_at_start(
    exchange: tuple[str, str, Exchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rest, ws, _ = exchange
    loaded_in: list[threading.Thread] = []
    monkeypatch.setattr(
        "csx_live.app.load_kernels", lambda: loaded_in.append(threading.current_thread())
    )

    def no_model(_: LiveSettings) -> LoadedModel:
        raise ModelUnavailableError("no model_source configured")

    parts = build_live(settings_for(rest, ws, tmp_path), decode=json_decode, model_loader=no_model)
    async with serving(parts):
        await eventually(lambda: bool(loaded_in))
    assert loaded_in[0] is not threading.main_thread(), "not in the event loop's thread"


def test_dev_fault_slow_consumer_pauses_the_tick_loop(tmp_path: Path) -> None:
    slow = load_settings(overrides={"faults": "slow_consumer", "sink_dir": str(tmp_path)})
    normal = load_settings(overrides={"sink_dir": str(tmp_path)})
    assert build_live(slow, decode=json_decode).runner.config.consumer_pause_s == 0.05
    assert build_live(normal, decode=json_decode).runner.config.consumer_pause_s == 0.0


@pytest.mark.slow
async def test_served_edges_are_the_packages_backtest_edge_table(
    exchange: tuple[str, str, Exchange], tmp_path: Path
) -> None:
    """Every edge /api/ranks shows (ranks and alerts) is the package's edge-table cell for
    the row's probability, direction and direction confidence, and "unknown" (null) where
    the table has none or no direction is called; the promise is the package's backtest."""
    import numpy as np

    from csx_core.ml.package import load_package
    from csx_core.ml.synthetic import noise_package

    rest, ws, _ = exchange
    package = load_package(noise_package(tmp_path / "pkg", rows=1200, with_edge=True))
    table = package.edge
    assert table is not None

    def loader(_: LiveSettings) -> LoadedModel:
        info = ModelInfo(model_id=package.model_id, verified=True)
        return LoadedModel(package, info, package.cost)

    settings = load_settings(
        overrides={
            "rest_url": rest,
            "ws_url": ws,
            "channels": "bookTicker,aggTrade",
            "data_fresh_s": 2.0,
            "top_k": 3,
            "alert_threshold": 0.01,
            "alert_cooldown_s": 1.0,
            "sink_dir": str(tmp_path / "live"),
            "graceful_timeout_s": 5.0,
        }
    )
    parts = build_live(settings, decode=json_decode, model_loader=loader)
    async with serving(parts) as client:
        await client.wait_ready(200, within_s=15.0)
        await eventually(lambda: len(parts.state.ranks) == 3 and len(parts.state.alerts) >= 3)
        status, body = await client.get("/api/ranks")
    assert status == 200
    assert body["promise"] == package.promise()
    rows = body["ranks"] + body["alerts"]
    assert len(rows) >= 6
    for row in rows:
        d = {"UP": 1, "DOWN": -1, "EITHER": 0}[row["direction"]]
        conf = row["direction_confidence"]
        expected = table.lookup(
            np.array([row["p_inplay"]]),
            np.array([d], dtype=np.int8),
            np.array([np.nan if conf is None else conf]),
        )[0]
        if np.isnan(expected):
            assert row["backtest_net_edge_bps"] is None, row
        else:
            assert row["backtest_net_edge_bps"] == expected, row
        if d == 0:
            assert row["backtest_net_edge_bps"] is None
    assert any(row["backtest_net_edge_bps"] is not None for row in rows), "a known edge is served"
