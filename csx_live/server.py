"""The runner's HTTP server: an aiohttp app factory with typed state and background tasks.

Routes: ``/metrics`` (Prometheus text from the injected registry), ``/healthz`` (process
alive, JSON), ``/readyz`` (200 only when connected, a model is loaded and data is fresh;
503 with the reasons), ``/api/ranks`` and ``/api/symbol/{symbol}`` (JSON from
:class:`LiveState`), ``/api/gaps`` (the gap ledger), ``/api/parity`` (the running feature
digest, to compare with ``csx replay`` of the session's recording: ``Runner.parity``),
``/api/outcomes`` (live outcome resolution) and the dashboard's routes: every route the
runner serves is added here, from the :class:`LiveViews` the composition root passes in.
Background work (the runner) is attached through ``cleanup_ctx`` so it starts with the app
and is cancelled and awaited when the app shuts down.

HTTP limits (:class:`HttpLimits`, issue 22): a connection that has not sent complete request
headers within ``header_timeout_s`` is closed; at ``max_connections`` open connections the
oldest one still waiting for its headers is evicted to make room (so ``/healthz`` answers
during a slow-client flood), and when none is, the new connection is closed at once;
``/api/stream`` admits at most ``max_sse_clients``. Serve through :class:`GuardedAppRunner`
to enforce the connection limits (``create_app`` installs the guard and its metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from csx_live.state import LiveState

if TYPE_CHECKING:
    from csx_live.dashboard.routes import ViewSource


@dataclass(frozen=True)
class LiveViews:
    """What the app serves beyond :class:`LiveState`, each read per request: a symbol's
    last features and score, the feature digest, the gap ledger, the outcome summary and
    the dashboard's view (None: that route is not served)."""

    symbol: Callable[[str], dict[str, Any] | None] = lambda symbol: None
    parity: Callable[[], dict[str, Any] | None] = lambda: None
    gaps: Callable[[], list[dict[str, Any]]] = list
    outcomes: Callable[[], dict[str, Any]] | None = None
    dashboard: ViewSource | None = None
    dashboard_push_s: float = 1.0


STATE: web.AppKey[LiveState] = web.AppKey("live_state", LiveState)
VIEWS: web.AppKey[LiveViews] = web.AppKey("live_views", LiveViews)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("metrics_registry", CollectorRegistry)
FRESH_S: web.AppKey[float] = web.AppKey("data_fresh_s", float)
WALL_NS: web.AppKey[Callable[[], int]] = web.AppKey("wall_ns")
STARTED_MONO: web.AppKey[float] = web.AppKey("started_monotonic", float)


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """Limits of the HTTP server; the defaults are safe for a public-facing runner."""

    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    max_connections: int = 4096
    max_sse_clients: int = 64


class HttpGuard:
    """Enforces :class:`HttpLimits` on an aiohttp low-level ``Server`` and counts what it
    refuses (plain ints, read by :class:`HttpCollector` at scrape time)."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.closed: dict[str, int] = {"header_timeout": 0, "evicted": 0, "over_limit": 0}
        self.sse_clients = 0
        self.sse_rejected = 0
        self._open = 0
        # Connections still waiting for complete headers, oldest first (insertion order).
        self._pending: dict[RequestHandler, asyncio.TimerHandle] = {}
        self._transports: dict[RequestHandler, asyncio.Transport] = {}

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def pending_headers(self) -> int:
        return len(self._pending)

    def install(self, server: Server) -> None:
        """Wrap ``server``'s connection hooks and request factory (instance attributes)."""
        made, lost, factory = server.connection_made, server.connection_lost, server.request_factory
        loop = asyncio.get_running_loop()

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            if self._open >= self.limits.max_connections:
                if self._pending:
                    self._close(next(iter(self._pending)), "evicted")
                else:
                    self.closed["over_limit"] += 1
                    transport.abort()
                    return
            self._open += 1
            self._transports[handler] = transport
            self._pending[handler] = loop.call_later(
                self.limits.header_timeout_s, self._close, handler, "header_timeout"
            )
            made(handler, transport)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            if self._transports.pop(handler, None) is not None:
                self._open -= 1
            timer = self._pending.pop(handler, None)
            if timer is not None:
                timer.cancel()
            lost(handler, exc)

        def request_factory(*args: Any) -> web.BaseRequest:
            # Called once a request's headers are parsed: the connection is no longer slow.
            timer = self._pending.pop(args[2], None)
            if timer is not None:
                timer.cancel()
            return factory(*args)

        setattr(server, "connection_made", connection_made)  # noqa: B010
        setattr(server, "connection_lost", connection_lost)  # noqa: B010
        server.request_factory = request_factory

    def _close(self, handler: RequestHandler, reason: str) -> None:
        timer = self._pending.pop(handler, None)
        if timer is not None:
            timer.cancel()
        transport = self._transports.get(handler)
        if transport is not None and not transport.is_closing():
            self.closed[reason] += 1
            handler.force_close()
            transport.abort()

    def sse_acquire(self) -> bool:
        if self.sse_clients >= self.limits.max_sse_clients:
            self.sse_rejected += 1
            return False
        self.sse_clients += 1
        return True

    def sse_release(self) -> None:
        self.sse_clients -= 1

    @contextlib.contextmanager
    def sse_slot(self) -> Iterator[bool]:
        """``with guard.sse_slot() as ok:`` — ``ok`` is False when the stream is full."""
        ok = self.sse_acquire()
        try:
            yield ok
        finally:
            if ok:
                self.sse_release()


class HttpCollector(Collector):
    """The HTTP guard's counters as Prometheus families, read at scrape time."""

    def __init__(self, guard: HttpGuard) -> None:
        self._guard = guard

    def collect(self) -> Iterator[Metric]:
        g = self._guard
        yield GaugeMetricFamily("csx_http_connections", "open HTTP connections", g.open_connections)
        closed = CounterMetricFamily(
            "csx_http_connections_closed", "HTTP connections closed by a limit", labels=["reason"]
        )
        for reason, count in g.closed.items():
            closed.add_metric([reason], count)
        yield closed
        yield GaugeMetricFamily("csx_sse_clients", "connected /api/stream clients", g.sse_clients)
        yield CounterMetricFamily(
            "csx_sse_rejected", "/api/stream clients refused (503)", g.sse_rejected
        )


HTTP_GUARD: web.AppKey[HttpGuard] = web.AppKey("http_guard", HttpGuard)


class GuardedAppRunner(web.AppRunner):
    """An ``AppRunner`` that enforces the app's :class:`HttpLimits` (connection count,
    header timeout, keep-alive timeout)."""

    __slots__ = ()

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        guard = app.get(HTTP_GUARD)
        if guard is not None:
            kwargs.setdefault("keepalive_timeout", guard.limits.keepalive_timeout_s)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        guard = self.app.get(HTTP_GUARD)
        if guard is not None:
            guard.install(server)
        return server


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
        "warm_symbols": state.warm_symbols,
        "scored_universe": state.scored_universe,
        "promise": state.promise,
        "realised": state.realised,
        "ranks": state.ranks,
        "alerts": list(state.alerts)[-20:][::-1],
    }
    return web.json_response(body)


async def _symbol(request: web.Request) -> web.Response:
    state = request.app[STATE]
    symbol = request.match_info["symbol"].upper()
    entry = request.app[VIEWS].symbol(symbol)
    if entry is None:
        known = symbol in state.universe
        return web.json_response(
            {"symbol": symbol, "error": "no data yet" if known else "unknown symbol"},
            status=404,
        )
    return web.json_response({"symbol": symbol, "ts": state.last_tick_ns, **entry})


async def _gaps(request: web.Request) -> web.Response:
    return web.json_response({"gaps": request.app[VIEWS].gaps()})


async def _outcomes(request: web.Request) -> web.Response:
    outcomes = request.app[VIEWS].outcomes
    assert outcomes is not None  # the route exists only with a source
    return web.json_response(outcomes())


async def _parity(request: web.Request) -> web.Response:
    view = request.app[VIEWS].parity()
    if view is None:
        return web.json_response({"error": "no runner"}, status=503)
    return web.json_response(view)


def create_app(
    *,
    state: LiveState,
    registry: CollectorRegistry,
    data_fresh_s: float,
    background: Sequence[CleanupContext] = (),
    wall_ns: Callable[[], int] = time.time_ns,
    views: LiveViews | None = None,
    http_limits: HttpLimits | None = None,
) -> web.Application:
    """Build the app; ``background`` contexts run for the app's lifetime (cleanup_ctx).
    ``views`` are the runner's read-outs (``/api/gaps`` lists the gap ledger the soak
    compares with the outages it injected). ``http_limits`` (defaults: :class:`HttpLimits`)
    is enforced when served through :class:`GuardedAppRunner`; its counters go to
    ``registry``."""
    views = views or LiveViews()
    app = web.Application()
    guard = HttpGuard(http_limits or HttpLimits())
    app[HTTP_GUARD] = guard
    registry.register(HttpCollector(guard))
    app[STATE] = state
    app[REGISTRY] = registry
    app[FRESH_S] = data_fresh_s
    app[WALL_NS] = wall_ns
    app[STARTED_MONO] = time.monotonic()
    app[VIEWS] = views
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/api/ranks", _ranks)
    app.router.add_get("/api/symbol/{symbol}", _symbol)
    app.router.add_get("/api/gaps", _gaps)
    app.router.add_get("/api/parity", _parity)
    if views.outcomes is not None:
        app.router.add_get("/api/outcomes", _outcomes)
    if views.dashboard is not None:
        from csx_live.dashboard.routes import add_dashboard_routes  # it needs HTTP_GUARD

        add_dashboard_routes(app, views.dashboard, push_interval_s=views.dashboard_push_s)
    app.cleanup_ctx.extend(background)
    return app
