"""The REST client: an aiohttp shell around the pure RestGovernor and a circuit breaker.

Every call: takes a waiting slot (a full queue is rejected, counted), waits for the governor
to admit it (weight window, 429 ``Retry-After``, concurrency), asks the breaker, sends the
request with a total timeout, feeds the response back (``X-MBX-USED-WEIGHT-1M``,
``Retry-After``, success/failure) and returns parsed JSON or raises a typed
:class:`RestError`. A 418 ban turns every later call into :class:`RestBannedError` until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from csx_core.resilience.governor import NS_PER_S, RestGovernor, Verdict, request_weight


class Breaker(Protocol):
    """The part of a circuit breaker the client needs (``csx_core.resilience.breaker``'s
    CircuitBreaker: a pure state machine of monotonic seconds). ``allow`` reserves a slot
    that exactly one of the other three calls gives back."""

    def allow(self, now_s: float) -> bool: ...
    def record_success(self, now_s: float) -> None: ...
    def record_failure(self, now_s: float) -> None: ...
    def release(self) -> None: ...


class RestError(Exception):
    """Base of every REST failure the client raises."""


class RestQueueFullError(RestError):
    """Too many callers already waiting; the call was not attempted."""


class RestBannedError(RestError):
    """The IP is banned (418) until ``until_ns``; no REST call is sent before then."""

    def __init__(self, until_ns: int) -> None:
        super().__init__(f"REST banned until {until_ns} ns")
        self.until_ns = until_ns


class RestRateLimitedError(RestError):
    """The exchange answered 429; later calls wait ``retry_after_s``."""

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__(f"rate limited (429), retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class RestCircuitOpenError(RestError):
    """The breaker is open after repeated failures; the call was not sent."""


class RestTimeoutError(RestError):
    """No complete response within the client's timeout."""


class RestHttpError(RestError):
    """A non-2xx answer; ``code``/``msg`` come from Binance's error body when present."""

    def __init__(self, status: int, code: int | None, msg: str) -> None:
        super().__init__(f"HTTP {status} code={code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg


class RestConnectionError(RestError):
    """The connection failed (refused, reset, DNS)."""


class RestBadBodyError(RestError):
    """The body is not valid JSON."""


def _header_int(headers: Any, name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _header_float(headers: Any, name: str) -> float | None:
    """A non-negative finite number of seconds, or None: garbage (``nan``, ``inf``,
    ``1e400``, text) is treated as absent so the governor falls back to its default."""
    raw = headers.get(name)
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


class RestClient:
    """GET market data through the governor and breaker. Owns no session: pass one in."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        governor: RestGovernor,
        breaker: Breaker,
        timeout_s: float = 10.0,
        now_ns: Callable[[], int] = time.time_ns,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self.governor = governor
        self.breaker = breaker
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._now = now_ns
        self._mono = monotonic_s
        self._released = asyncio.Condition()
        self.timeouts = 0
        self.failures = 0

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET ``path`` and return its JSON body; raises a :class:`RestError` subclass."""
        weight = request_weight(path, params)
        entry = self.governor.enter_queue(self._now())
        if entry.verdict is Verdict.REJECT:
            if entry.reason == "banned" and entry.until_ns is not None:
                raise RestBannedError(entry.until_ns)
            raise RestQueueFullError(entry.reason)
        try:
            await self._wait_for_admission(weight)
        finally:
            self.governor.leave_queue()
        try:
            return await self._send(path, params)
        finally:
            self.governor.release()
            async with self._released:
                self._released.notify_all()

    async def _wait_for_admission(self, weight: int) -> None:
        while True:
            now = self._now()
            decision = self.governor.admit(weight, now)
            if decision.verdict is Verdict.ADMIT:
                return
            if decision.verdict is Verdict.REJECT:
                if decision.reason == "banned" and decision.until_ns is not None:
                    raise RestBannedError(decision.until_ns)
                raise RestError(f"request refused by the governor: {decision.reason}")
            wait_s = 1.0 if decision.until_ns is None else (decision.until_ns - now) / NS_PER_S
            async with self._released:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), timeout=max(0.001, wait_s))

    async def _send(self, path: str, params: dict[str, str] | None) -> Any:
        if not self.breaker.allow(self._mono()):
            raise RestCircuitOpenError(f"circuit open, {path} not sent")
        url = f"{self._base}{path}"
        try:
            return await self._send_admitted(url, path, params)
        except asyncio.CancelledError:
            self.breaker.release()
            raise

    async def _send_admitted(self, url: str, path: str, params: dict[str, str] | None) -> Any:
        try:
            async with self._session.get(url, params=params, timeout=self._timeout) as response:
                body = await response.read()
                status = response.status
                self.governor.on_response(
                    status,
                    self._now(),
                    used_weight_1m=_header_int(response.headers, "X-MBX-USED-WEIGHT-1M"),
                    retry_after_s=_header_float(response.headers, "Retry-After"),
                )
                retry_after = _header_float(response.headers, "Retry-After")
        except TimeoutError:
            self.timeouts += 1
            self.breaker.record_failure(self._mono())
            raise RestTimeoutError(f"{path} timed out") from None
        except aiohttp.ClientError as exc:
            self.failures += 1
            self.breaker.record_failure(self._mono())
            raise RestConnectionError(f"{path}: {type(exc).__name__}") from None
        if status >= 500 or status in (408, 429, 418):
            self.breaker.record_failure(self._mono())
        else:
            self.breaker.record_success(self._mono())
        if status == 418:
            raise RestBannedError(self.governor.banned_until_ns)
        if status == 429:
            raise RestRateLimitedError(retry_after)
        if status >= 400:
            code, msg = _error_body(body)
            raise RestHttpError(status, code, msg)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise RestBadBodyError(f"{path}: body is not JSON ({len(body)} bytes)") from None


def _error_body(body: bytes) -> tuple[int | None, str]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, body[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        code = data.get("code")
        return (code if isinstance(code, int) else None), str(data.get("msg", ""))[:200]
    return None, str(data)[:200]
