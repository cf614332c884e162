"""The runner's HTTP server: an aiohttp app factory with typed state and background tasks.

Routes: ``/metrics`` (Prometheus text from the injected registry), ``/healthz`` (process
alive, JSON), ``/readyz`` (200 only when connected, a model is loaded and data is fresh;
503 with the reasons), ``/api/ranks`` and ``/api/symbol/{symbol}`` (JSON from
:class:`LiveState`), ``/api/gaps`` (the gap ledger). Background work (the runner) is
attached through ``cleanup_ctx`` so it starts with the app and is cancelled and awaited
when the app shuts down.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from csx_live.state import LiveState

STATE: web.AppKey[LiveState] = web.AppKey("live_state", LiveState)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("metrics_registry", CollectorRegistry)
FRESH_S: web.AppKey[float] = web.AppKey("data_fresh_s", float)
WALL_NS: web.AppKey[Callable[[], int]] = web.AppKey("wall_ns")
STARTED_MONO: web.AppKey[float] = web.AppKey("started_monotonic", float)
GAPS: web.AppKey[Callable[[], list[dict[str, Any]]]] = web.AppKey("gap_ledger")

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(
        {
            "status": "alive",
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - app[STARTED_MONO], 3),
        }
    )


async def _readyz(request: web.Request) -> web.Response:
    app = request.app
    ready, reasons = app[STATE].readiness(app[WALL_NS](), app[FRESH_S])
    return web.json_response({"ready": ready, "reasons": reasons}, status=200 if ready else 503)


async def _ranks(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body: dict[str, Any] = {
        "ts": state.last_tick_ns,
        "model": state.model.to_dict() if state.model else None,
        "universe_size": len(state.universe),
        "ranks": state.ranks,
        "alerts": list(state.alerts)[-20:][::-1],
    }
    return web.json_response(body)


async def _symbol(request: web.Request) -> web.Response:
    state = request.app[STATE]
    symbol = request.match_info["symbol"].upper()
    entry = state.symbol_view(symbol)
    if entry is None:
        known = symbol in state.universe
        return web.json_response(
            {"symbol": symbol, "error": "no data yet" if known else "unknown symbol"},
            status=404,
        )
    return web.json_response({"symbol": symbol, "ts": state.last_tick_ns, **entry})


async def _gaps(request: web.Request) -> web.Response:
    return web.json_response({"gaps": request.app[GAPS]()})


def create_app(
    *,
    state: LiveState,
    registry: CollectorRegistry,
    data_fresh_s: float,
    background: Sequence[CleanupContext] = (),
    wall_ns: Callable[[], int] = time.time_ns,
    gaps: Callable[[], list[dict[str, Any]]] = list,
) -> web.Application:
    """Build the app; ``background`` contexts run for the app's lifetime (cleanup_ctx).
    ``gaps()`` lists the gap ledger for ``/api/gaps`` (the soak compares it with the outages
    it injected)."""
    app = web.Application()
    app[STATE] = state
    app[REGISTRY] = registry
    app[FRESH_S] = data_fresh_s
    app[WALL_NS] = wall_ns
    app[STARTED_MONO] = time.monotonic()
    app[GAPS] = gaps
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/api/ranks", _ranks)
    app.router.add_get("/api/symbol/{symbol}", _symbol)
    app.router.add_get("/api/gaps", _gaps)
    app.cleanup_ctx.extend(background)
    return app
