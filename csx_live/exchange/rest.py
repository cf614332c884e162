"""REST market-data endpoints with Binance's request weights, 429 and 418 escalation.

Weights per endpoint as documented for USD-M (exchangeInfo 1; ticker/24hr 1 or 40; depth
2/5/10/20; klines 1/2/5/10), counted per client IP per wall-clock minute against
``rest_weight_limit``. A request over the limit gets 429 (code -1003) with ``Retry-After``
(seconds to the next minute); a request before that wait is over gets 418 and a ban of
``ban_s``. Every answer carries ``X-MBX-USED-WEIGHT-1M``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from csx_live.exchange.market import INTERVALS_MIN
from csx_live.exchange.state import STATE_KEY, ExchangeState

_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


@dataclass(frozen=True)
class Admission:
    status: int
    used: int
    retry_after_s: int = 0


class RestLimiter:
    """Per-IP weight accounting; a pure state machine of ``now`` (epoch seconds)."""

    def __init__(self, limit: int, ban_s: float) -> None:
        self.limit = limit
        self.ban_s = ban_s
        self.storm_until = 0.0
        self._used: dict[str, tuple[int, int]] = {}
        self._wait_until: dict[str, float] = {}
        self._banned_until: dict[str, float] = {}
        self._everyone_banned_until = 0.0

    def used(self, ip: str, now: float) -> int:
        minute, used = self._used.get(ip, (-1, 0))
        return used if minute == int(now // 60) else 0

    def ban_all(self, seconds: float, now: float) -> None:
        """Answer every client with 418 for ``seconds`` (the soak's forced ban)."""
        self._everyone_banned_until = now + seconds

    def admit(self, ip: str, weight: int, now: float) -> Admission:
        used = self.used(ip, now)
        banned = max(self._banned_until.get(ip, 0.0), self._everyone_banned_until)
        if banned > now:
            return Admission(418, used, math.ceil(banned - now))
        if self._wait_until.get(ip, 0.0) > now:
            self._banned_until[ip] = now + self.ban_s
            return Admission(418, used, math.ceil(self.ban_s))
        if self.storm_until > now or used + weight > self.limit:
            wait = self.storm_until - now if self.storm_until > now else 60 - now % 60
            retry = max(1, math.ceil(wait))
            self._wait_until[ip] = now + retry
            return Admission(429, used, retry)
        used += weight
        self._used[ip] = (int(now // 60), used)
        return Admission(200, used)


LIMITER_KEY = web.AppKey("csx_exchange_limiter", RestLimiter)


def _error(status: int, code: int, msg: str, used: int, retry: int = 0) -> web.Response:
    headers = {WEIGHT_HEADER: str(used)}
    if retry:
        headers["Retry-After"] = str(retry)
    body = json.dumps({"code": code, "msg": msg})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return int(raw)


class _BadRequestError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _symbol(request: web.Request, state: ExchangeState) -> str:
    symbol = request.query.get("symbol", "")
    if not symbol:
        raise _BadRequestError(
            -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    if symbol.upper() not in state.market.symbols:
        raise _BadRequestError(-1121, "Invalid symbol.")
    return symbol.upper()


def _depth_weight(limit: int) -> int:
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def _klines_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _weight(path: str, request: web.Request) -> int:
    try:
        if path.endswith("/depth"):
            return _depth_weight(_int_param(request, "limit", 500) or 500)
        if path.endswith("/klines"):
            return _klines_weight(_int_param(request, "limit", 500) or 500)
    except ValueError:
        return 1
    if path.endswith("/ticker/24hr"):
        return 1 if request.query.get("symbol") else 40
    return 1


def _exchange_info(state: ExchangeState) -> dict[str, Any]:
    from csx_live.exchange.symbols import exchange_info

    return exchange_info(state.market.specs, server_time_ms=int(state.wall() * 1000),
                         weight_limit=state.config.rest_weight_limit)  # fmt: skip


def _body(path: str, request: web.Request, state: ExchangeState) -> Any:
    market = state.market
    if path.endswith("/exchangeInfo"):
        return _exchange_info(state)
    if path.endswith("/depth"):
        symbol = _symbol(request, state)
        limit = _int_param(request, "limit", 500)
        if limit not in _DEPTH_LIMITS:
            raise _BadRequestError(-1130, "Data sent for parameter 'limit' is not valid.")
        return market.depth(symbol, limit)
    if path.endswith("/ticker/24hr"):
        if request.query.get("symbol"):
            return market.ticker(_symbol(request, state))
        return [market.ticker(s) for s in sorted(market.symbols)]
    symbol = _symbol(request, state)
    interval = request.query.get("interval", "")
    if interval not in INTERVALS_MIN:
        raise _BadRequestError(-1120, "Invalid interval.")
    limit = _int_param(request, "limit", 500)
    if limit is None or not 1 <= limit <= 1500:
        raise _BadRequestError(-1130, "Data sent for parameter 'limit' is not valid.")
    start = _int_param(request, "startTime", None)
    end = _int_param(request, "endTime", None)
    return market.klines(symbol, interval, limit, start, end)


async def handle_rest(request: web.Request) -> web.Response:
    """One handler for every market-data endpoint: faults, admission, then the body."""
    state = request.app[STATE_KEY]
    limiter = request.app[LIMITER_KEY]
    counters = state.counters
    counters.rest_requests += 1
    path = request.path
    now = state.wall()
    ip = request.remote or "?"
    if state.faults.rest_5xx_rate and state.rng.random() < state.faults.rest_5xx_rate:
        counters.rest_5xx += 1
        msg = "Internal error; unable to process your request. Please try again."
        return _error(503, -1001, msg, limiter.used(ip, now))
    admission = limiter.admit(ip, _weight(path, request), now)
    if admission.status == 418:
        counters.rest_418 += 1
        return _error(418, -1003, "Way too many requests; IP banned.", admission.used,
                      admission.retry_after_s)  # fmt: skip
    if admission.status == 429:
        counters.rest_429 += 1
        return _error(429, -1003, "Too many requests; please use the websocket for live updates.",
                      admission.used, admission.retry_after_s)  # fmt: skip
    try:
        body = _body(path, request, state)
    except _BadRequestError as exc:
        return _error(400, exc.code, exc.msg, admission.used)
    except ValueError:
        return _error(400, -1100, "Illegal characters found in a parameter.", admission.used)
    return web.json_response(body, headers={WEIGHT_HEADER: str(admission.used)})


REST_PATHS = ("/fapi/v1/exchangeInfo", "/fapi/v1/depth", "/fapi/v1/ticker/24hr", "/fapi/v1/klines")
