"""aiohttp routes for the dashboard: the page, its assets, a snapshot, an SSE stream and,
when the source keeps history (:class:`DashboardHistory`), a symbol's drill-down
(``/api/dashboard/symbol/{symbol}?tf=1s|1m``) and the alert history
(``/api/dashboard/alerts``).

A client closing its stream is normal (a tab closed, a phone slept): the stream ends with a
debug line, never an error with a traceback that would trip log-based alerting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec
from aiohttp import web

from csx_live.dashboard.candles import TIMEFRAMES_S
from csx_live.dashboard.model import AlertHistory, DashboardView, SymbolDetail
from csx_live.server import HTTP_GUARD

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ViewSource = Callable[[], DashboardView | None]
DASHBOARD_SOURCE: web.AppKey[ViewSource] = web.AppKey("dashboard_source")
_ENCODER = msgspec.json.Encoder()
# A heartbeat comment keeps proxies from closing an idle stream and lets the page notice a
# dead connection quickly.
HEARTBEAT_S = 15.0


@runtime_checkable
class DashboardHistory(Protocol):
    """What the drill-down and the alert history read (``DashboardFeed`` provides it)."""

    def symbol_detail(self, symbol: str, timeframe: str) -> SymbolDetail | None: ...

    def alert_history(self) -> AlertHistory: ...


def add_dashboard_routes(
    app: web.Application,
    source: ViewSource,
    *,
    push_interval_s: float = 1.0,
    history: DashboardHistory | None = None,
) -> None:
    """Serve the dashboard from ``app``; ``source()`` returns the latest view (None while the
    runner has not ticked yet). ``history`` serves the drill-down and alert history; when
    omitted and ``source`` is a bound method of an object that keeps history (``feed.view``
    of a ``DashboardFeed``), that object serves them."""
    app[DASHBOARD_SOURCE] = source
    owner = getattr(source, "__self__", None)
    kept = history or (owner if isinstance(owner, DashboardHistory) else None)

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)

    async def snapshot(request: web.Request) -> web.Response:
        view = request.app[DASHBOARD_SOURCE]()
        if view is None:
            return web.json_response({"status": "starting"}, status=503)
        return web.Response(body=_ENCODER.encode(view), content_type="application/json")

    async def stream(request: web.Request) -> web.StreamResponse:
        guard = request.app.get(HTTP_GUARD)
        if guard is None:
            return await _stream(request)
        with guard.sse_slot() as admitted:
            if not admitted:
                return web.json_response(
                    {
                        "error": "too many stream clients",
                        "max_sse_clients": guard.limits.max_sse_clients,
                    },
                    status=503,
                    headers={"Retry-After": "5"},
                )
            return await _stream(request)

    async def symbol(request: web.Request) -> web.Response:
        name = request.match_info["symbol"].upper()
        timeframe = request.query.get("tf", "1s")
        if timeframe not in TIMEFRAMES_S:
            return web.json_response(
                {"error": "unknown timeframe", "timeframes": list(TIMEFRAMES_S)}, status=400
            )
        detail = kept.symbol_detail(name, timeframe) if kept else None
        if detail is None:
            return web.json_response({"symbol": name, "error": "no history"}, status=404)
        return web.Response(body=_ENCODER.encode(detail), content_type="application/json")

    async def alerts(_: web.Request) -> web.Response:
        if kept is None:
            return web.json_response({"error": "no alert history"}, status=404)
        return web.Response(
            body=_ENCODER.encode(kept.alert_history()), content_type="application/json"
        )

    async def favicon(_: web.Request) -> web.FileResponse:
        return web.FileResponse(
            STATIC_DIR / "favicon.svg", headers={"Content-Type": "image/svg+xml"}
        )

    async def _stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await _push(request, response)
        except ConnectionResetError:
            # aiohttp's ClientConnectionResetError is one: the client left mid-write.
            log.debug("dashboard stream client %s went away", request.remote)
        return response

    async def _push(request: web.Request, response: web.StreamResponse) -> None:
        await response.write(b"retry: 2000\n\n")
        last: DashboardView | None = None
        idle = 0.0
        get = request.app[DASHBOARD_SOURCE]
        # Stop when the client has gone, so its max_sse_clients slot frees at once rather
        # than at the next failed heartbeat write.
        while request.transport is not None and not request.transport.is_closing():
            view = get()
            if view is not None and view is not last:
                await response.write(b"event: view\ndata: " + _ENCODER.encode(view) + b"\n\n")
                last, idle = view, 0.0
            elif idle >= HEARTBEAT_S:
                await response.write(b": heartbeat\n\n")
                idle = 0.0
            await asyncio.sleep(push_interval_s)
            idle += push_interval_s

    app.router.add_get("/", page)
    app.router.add_get("/api/dashboard", snapshot)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/dashboard/symbol/{symbol}", symbol)
    app.router.add_get("/api/dashboard/alerts", alerts)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC_DIR, append_version=True)


_NO_CACHE = {"Cache-Control": "no-cache"}
