"""The fake exchange's composition root: the aiohttp app (WS + REST + admin on one port)
and ``FakeExchange``, which binds it, replays the source and stops cleanly.

Use from a test::

    async with FakeExchange(ListSource(events), ExchangeConfig(speed=None)) as ex:
        url = f"{ex.ws_url}/market/stream?streams=btcusdt@aggTrade"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from csx_live.exchange.admin import CONTROL_KEY, REPLAYER_KEY, FaultControl, add_admin_routes
from csx_live.exchange.config import Counters, ExchangeConfig, Faults
from csx_live.exchange.market import MarketState, SymbolSpec, infer_specs
from csx_live.exchange.replay import Clock, EventSource, Replayer
from csx_live.exchange.rest import LIMITER_KEY, REST_PATHS, RestLimiter, handle_rest
from csx_live.exchange.state import STATE_KEY, ExchangeState
from csx_live.exchange.ws import HUB_KEY, Hub, handle_ws

_SPEC_SAMPLE = 20_000
log = logging.getLogger(__name__)


def make_app(state: ExchangeState, replayer: Replayer, control: FaultControl) -> web.Application:
    """The app: WS routes, REST routes, admin routes, and the replay and periodic-drop tasks
    as ``cleanup_ctx`` (started on startup, cancelled and awaited on shutdown)."""
    app = web.Application()
    app[STATE_KEY] = state
    app[HUB_KEY] = control.hub
    app[LIMITER_KEY] = control.limiter
    app[REPLAYER_KEY] = replayer
    app[CONTROL_KEY] = control
    for prefix in ("/public", "/market", ""):
        app.router.add_get(prefix + "/{kind:ws}/{streams:.+}", handle_ws)
        app.router.add_get(prefix + "/{kind:ws}", handle_ws)
        app.router.add_get(prefix + "/{kind:stream}", handle_ws)
    for path in REST_PATHS:
        app.router.add_get(path, handle_rest)
    if state.config.admin:
        add_admin_routes(app)
    app.cleanup_ctx.append(_background(replayer.run))
    app.cleanup_ctx.append(_background(control.run_periodic_drops))
    return app


def _background(
    job: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(job())
        task.add_done_callback(_log_failure)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("fake exchange background task failed", exc_info=task.exception())


class FakeExchange:
    """A running fake Binance USD-M exchange on ``config.host:config.port`` (0 = ephemeral).

    ``specs`` overrides the tick/step sizes inferred from the first events of the source;
    ``clock`` paces the replay; ``wall`` (epoch seconds) drives REST minutes and bans.
    """

    def __init__(
        self,
        source: EventSource,
        config: ExchangeConfig | None = None,
        *,
        faults: Faults | None = None,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
        specs: dict[str, SymbolSpec] | None = None,
    ) -> None:
        self.config = config or ExchangeConfig()
        self.source = source
        self._faults = faults or Faults()
        self._faults.validate()
        self._clock = clock
        self._wall = wall
        self._specs = specs
        self._runner: web.AppRunner | None = None
        self.port = self.config.port
        self.state: ExchangeState | None = None
        self.control: FaultControl | None = None
        self.replayer: Replayer | None = None

    async def start(self) -> None:
        specs = self._specs
        if specs is None:
            symbols = await asyncio.to_thread(lambda: list(self.source.symbols()))
            sample = await asyncio.to_thread(
                lambda: list(itertools.islice(self.source.events(), _SPEC_SAMPLE))
            )
            specs = infer_specs(symbols, sample)
        state = ExchangeState(config=self.config, faults=self._faults, market=MarketState(specs),
                              counters=Counters(), wall=self._wall)  # fmt: skip
        hub = Hub(state)
        control = FaultControl(
            state, hub, RestLimiter(self.config.rest_weight_limit, self.config.ban_s)
        )
        replayer = Replayer(
            self.source, hub.publish, speed=self.config.speed, clock=self._clock,
            loop=self.config.loop, on_pass=self._on_pass,
            gate=lambda: hub.wait_for_listeners(self.config.await_clients),
            start_ns=(lambda: int(self._wall() * 1e9)) if self.config.rebase_time else None,
            fast_forward_s=self.config.fast_forward_s, on_paced=state.paced,
            drained=hub.wait_drained,
        )  # fmt: skip
        control.position_ns = lambda: replayer.position_ns
        self.state, self.control, self.replayer = state, control, replayer
        self._runner = web.AppRunner(make_app(state, replayer, control), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def _on_pass(self, n_pass: int) -> None:
        if self.state is not None:
            self.state.counters.replay_loops = n_pass + 1

    async def stop(self) -> None:
        if self._runner is not None:
            if self.control is not None:
                await self.control.hub.close_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeExchange:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def ws_url(self) -> str:
        """Base for WS paths, e.g. ``{ws_url}/market/ws/btcusdt@aggTrade``."""
        return f"ws://{self.config.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """Base for REST and admin paths, e.g. ``{rest_url}/fapi/v1/exchangeInfo``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def counters(self) -> Counters:
        assert self.state is not None, "not started"
        return self.state.counters

    @property
    def faults(self) -> Faults:
        return self._faults
