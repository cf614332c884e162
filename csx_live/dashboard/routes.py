"""aiohttp routes for the dashboard: the page, its assets, a snapshot and an SSE stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import msgspec
from aiohttp import web

from csx_live.dashboard.model import DashboardView
from csx_live.server import HTTP_GUARD

STATIC_DIR = Path(__file__).parent / "static"
ViewSource = Callable[[], DashboardView | None]
DASHBOARD_SOURCE: web.AppKey[ViewSource] = web.AppKey("dashboard_source")
_ENCODER = msgspec.json.Encoder()
# A heartbeat comment keeps proxies from closing an idle stream and lets the page notice a
# dead connection quickly.
HEARTBEAT_S = 15.0


def add_dashboard_routes(
    app: web.Application,
    source: ViewSource,
    *,
    push_interval_s: float = 1.0,
) -> None:
    """Serve the dashboard from ``app``; ``source()`` returns the latest view (None while the
    runner has not ticked yet)."""
    app[DASHBOARD_SOURCE] = source

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

    async def _stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
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
        return response

    app.router.add_get("/", page)
    app.router.add_get("/api/dashboard", snapshot)
    app.router.add_get("/api/stream", stream)
    app.router.add_static("/static/", STATIC_DIR, append_version=True)


_NO_CACHE = {"Cache-Control": "no-cache"}
