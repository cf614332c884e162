"""Fault actions and the admin HTTP endpoints a soak scripts them through.

``GET /_admin/faults`` → the switches; ``POST /_admin/faults`` with a JSON object of switches
(see ``Faults``) and/or one-shot actions (``drop_now``, ``stall_s``, ``rest_429_storm_s``,
``rest_ban_s``) → ``{"faults":…, "actions":[…]}`` (400 with ``{"error":…}`` if anything is
invalid; nothing is applied then); ``GET /_admin/stats`` → counters, outage log, open
connections, subscriptions, the encoder in use and the replay position.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from csx_live.exchange.encode import ENCODER
from csx_live.exchange.replay import Replayer
from csx_live.exchange.rest import LIMITER_KEY, RestLimiter
from csx_live.exchange.state import STATE_KEY, ExchangeState
from csx_live.exchange.ws import HUB_KEY, Hub

ACTIONS = ("drop_now", "stall_s", "rest_429_storm_s", "rest_ban_s")
REPLAYER_KEY = web.AppKey("csx_exchange_replayer", Replayer)


class FaultControl:
    """The one-shot fault actions, shared by the admin endpoint, the periodic dropper and
    ``FakeExchange``'s methods. Each one counts itself and logs an outage entry."""

    def __init__(self, state: ExchangeState, hub: Hub, limiter: RestLimiter) -> None:
        self.state, self.hub, self.limiter = state, hub, limiter
        self.position_ns: Any = lambda: None

    def _outage(self, kind: str, **extra: Any) -> None:
        entry = {"kind": kind, "wall_ns": time.time_ns(), "event_ns": self.position_ns(), **extra}
        self.state.counters.outages.append(entry)

    async def drop_now(self) -> int:
        n, streams = await self.hub.drop_all()
        self.state.counters.drops_injected += 1
        self.state.counters.connections_dropped += n
        self._outage("drop", connections=n, streams=streams)
        return n

    def stall(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.state.stall_until = max(self.state.stall_until, loop.time() + seconds)
        self.state.counters.stalls_injected += 1
        self._outage("stall", duration_s=seconds)

    def rest_429_storm(self, seconds: float) -> None:
        self.limiter.storm_until = self.state.wall() + seconds
        self.state.counters.rest_429_storms += 1

    def rest_ban(self, seconds: float) -> None:
        self.limiter.ban_all(seconds, self.state.wall())

    async def apply(self, body: dict[str, Any]) -> list[str]:
        """Validate everything, then set switches and run actions; returns actions run."""
        actions = {k: body[k] for k in ACTIONS if k in body}
        switches = {k: v for k, v in body.items() if k not in ACTIONS}
        for key in ("stall_s", "rest_429_storm_s", "rest_ban_s"):
            value = actions.get(key)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"{key} must be a positive number of seconds, got {value!r}")
        if not isinstance(actions.get("drop_now", False), bool):
            raise ValueError("drop_now must be a boolean")
        self.state.faults.update(switches)
        done = []
        if actions.get("drop_now"):
            await self.drop_now()
            done.append("drop_now")
        if actions.get("stall_s"):
            self.stall(float(actions["stall_s"]))
            done.append("stall_s")
        if actions.get("rest_429_storm_s"):
            self.rest_429_storm(float(actions["rest_429_storm_s"]))
            done.append("rest_429_storm_s")
        if actions.get("rest_ban_s"):
            self.rest_ban(float(actions["rest_ban_s"]))
            done.append("rest_ban_s")
        return done

    async def run_periodic_drops(self) -> None:
        """Drop every ``faults.drop_every_s`` seconds while that switch is set."""
        waited = 0.0
        while True:
            await asyncio.sleep(0.05)
            every = self.state.faults.drop_every_s
            waited = waited + 0.05 if every else 0.0
            if every and waited >= every:
                waited = 0.0
                await self.drop_now()


CONTROL_KEY = web.AppKey("csx_exchange_faults", FaultControl)


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].faults.to_dict())


async def post_faults(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        done = await request.app[CONTROL_KEY].apply(body)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"faults": request.app[STATE_KEY].faults.to_dict(), "actions": done})


async def get_stats(request: web.Request) -> web.Response:
    state, hub = request.app[STATE_KEY], request.app[HUB_KEY]
    replayer = request.app[REPLAYER_KEY]
    return web.json_response({
        "counters": state.counters.to_dict(),
        "connections": len(hub.connections),
        "subscriptions": sum(len(c.streams) for c in hub.connections),
        "encoder": ENCODER,
        "replay": {"position_ns": replayer.position_ns, "finished": replayer.finished.is_set()},
        "stalled": asyncio.get_running_loop().time() < state.stall_until,
        "faults": state.faults.to_dict(),
    })  # fmt: skip


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_admin/faults", get_faults)
    app.router.add_post("/_admin/faults", post_faults)
    app.router.add_get("/_admin/stats", get_stats)


__all__ = ["ACTIONS", "CONTROL_KEY", "LIMITER_KEY", "FaultControl", "add_admin_routes"]
