"""RestGovernor: a pure state machine that keeps REST calls inside the exchange's limits.

Binance USD-M counts request *weight* per IP per minute (limit 2400, reported back in every
response as ``X-MBX-USED-WEIGHT-1M``). Exceeding it yields 429 with ``Retry-After``;
continuing after a 429 yields 418, an automatic IP ban (2 min to 3 days). The governor:

- budgets weight per one-minute window (``now_ns // 60 s``), trusting the server's header
  over its own estimate, and delays a call whose weight would exceed the budget until the
  next window;
- caps concurrent calls and the number of callers waiting (a full queue rejects, counted);
- after a 429 delays every call until ``Retry-After``; after a 418 refuses **all** REST
  until the ban ends (callers get a rejection, not a multi-hour wait).

Every method takes ``now_ns`` (integer nanoseconds); nothing reads a clock, so the async
shell (the live runtime's REST client) and tests drive it alike.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

NS_PER_S = 1_000_000_000
WINDOW_NS = 60 * NS_PER_S
DEFAULT_429_RETRY_S = 60
DEFAULT_418_RETRY_S = 120

# Documented request weights of the market-data endpoints we call (BINANCE.md).
ENDPOINT_WEIGHTS: dict[str, int] = {
    "/fapi/v1/exchangeInfo": 1,
    "/fapi/v1/ping": 1,
    "/fapi/v1/time": 1,
    "/fapi/v1/aggTrades": 20,
    "/fapi/v1/premiumIndex": 1,
}


def depth_weight(limit: int) -> int:
    """Weight of ``/fapi/v1/depth`` by ``limit``: 2/5/10/20 for ≤50/100/500/1000."""
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20


def klines_weight(limit: int) -> int:
    """Weight of ``/fapi/v1/klines`` by ``limit``: 1/2/5/10 for <100/<500/≤1000/>1000."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


def request_weight(path: str, params: dict[str, str] | None = None) -> int:
    """The documented weight of a GET ``path`` with ``params``."""
    params = params or {}
    if path == "/fapi/v1/depth":
        return depth_weight(int(params.get("limit", "500")))
    if path == "/fapi/v1/klines":
        return klines_weight(int(params.get("limit", "500")))
    if path == "/fapi/v1/ticker/24hr":
        return 1 if "symbol" in params else 40
    if path == "/fapi/v1/premiumIndex":
        return 1 if "symbol" in params else 10
    return ENDPOINT_WEIGHTS.get(path, 1)


class Verdict(enum.Enum):
    ADMIT = "admit"
    WAIT = "wait"
    REJECT = "reject"


@dataclass(frozen=True)
class Decision:
    """``ADMIT``: go now (call :meth:`RestGovernor.release` when done). ``WAIT``: retry at
    ``until_ns`` or when a slot frees (``until_ns`` is None). ``REJECT``: give up, ``reason``
    says why (``banned`` carries ``until_ns``)."""

    verdict: Verdict
    reason: str = ""
    until_ns: int | None = None


@dataclass
class GovernorCounters:
    admitted: int = 0
    delayed_weight: int = 0
    delayed_retry_after: int = 0
    rejected_queue_full: int = 0
    rejected_banned: int = 0
    rejected_too_heavy: int = 0
    responses_429: int = 0
    responses_418: int = 0


@dataclass
class RestGovernor:
    """Weight budget, concurrency cap, bounded wait queue, 429/418 handling."""

    weight_budget_1m: int = 2000
    max_concurrency: int = 4
    max_queue: int = 64
    in_flight: int = 0
    queued: int = 0
    window: int = -1
    used_weight: int = 0
    retry_after_until_ns: int = 0
    banned_until_ns: int = 0
    counters: GovernorCounters = field(default_factory=GovernorCounters)

    def __post_init__(self) -> None:
        if self.weight_budget_1m < 1 or self.max_concurrency < 1 or self.max_queue < 0:
            raise ValueError("budget and concurrency must be >= 1, queue >= 0")

    def _roll(self, now_ns: int) -> None:
        window = now_ns // WINDOW_NS
        if window != self.window:
            self.window = window
            self.used_weight = 0

    def banned(self, now_ns: int) -> bool:
        return now_ns < self.banned_until_ns

    def enter_queue(self, now_ns: int) -> Decision:
        """A caller wants to make a call: take a waiting slot or be rejected."""
        if self.banned(now_ns):
            self.counters.rejected_banned += 1
            return Decision(Verdict.REJECT, "banned", self.banned_until_ns)
        if self.queued >= self.max_queue:
            self.counters.rejected_queue_full += 1
            return Decision(Verdict.REJECT, "queue_full")
        self.queued += 1
        return Decision(Verdict.ADMIT)

    def leave_queue(self) -> None:
        self.queued = max(0, self.queued - 1)

    def admit(self, weight: int, now_ns: int) -> Decision:
        """May a queued caller send a request of ``weight`` now?"""
        self._roll(now_ns)
        if self.banned(now_ns):
            self.counters.rejected_banned += 1
            return Decision(Verdict.REJECT, "banned", self.banned_until_ns)
        if weight > self.weight_budget_1m:
            self.counters.rejected_too_heavy += 1
            return Decision(Verdict.REJECT, "too_heavy")
        if now_ns < self.retry_after_until_ns:
            self.counters.delayed_retry_after += 1
            return Decision(Verdict.WAIT, "retry_after", self.retry_after_until_ns)
        if self.used_weight + weight > self.weight_budget_1m:
            self.counters.delayed_weight += 1
            return Decision(Verdict.WAIT, "weight", (self.window + 1) * WINDOW_NS)
        if self.in_flight >= self.max_concurrency:
            return Decision(Verdict.WAIT, "concurrency", None)
        self.in_flight += 1
        self.used_weight += weight
        self.counters.admitted += 1
        return Decision(Verdict.ADMIT)

    def release(self) -> None:
        """An admitted call finished (whatever its outcome)."""
        self.in_flight = max(0, self.in_flight - 1)

    def on_response(
        self,
        status: int,
        now_ns: int,
        *,
        used_weight_1m: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        """Learn from a response: the server's weight count, and 429/418 back-off."""
        self._roll(now_ns)
        if used_weight_1m is not None and used_weight_1m >= 0:
            self.used_weight = max(self.used_weight, used_weight_1m)
        if status == 429:
            self.counters.responses_429 += 1
            wait = _sane_wait(retry_after_s, DEFAULT_429_RETRY_S)
            self.retry_after_until_ns = max(
                self.retry_after_until_ns, now_ns + int(wait * NS_PER_S)
            )
        elif status == 418:
            self.counters.responses_418 += 1
            wait = _sane_wait(retry_after_s, DEFAULT_418_RETRY_S)
            self.banned_until_ns = max(self.banned_until_ns, now_ns + int(wait * NS_PER_S))

    def weight_used(self, now_ns: int) -> int:
        self._roll(now_ns)
        return self.used_weight


# Binance bans last from 2 minutes to 3 days; a longer Retry-After is a broken header.
MAX_RETRY_AFTER_S = 3 * 86_400.0


def _sane_wait(retry_after_s: float | None, default_s: float) -> float:
    """The server's Retry-After when it is a usable number of seconds, else the default;
    capped so a garbage header cannot overflow the clock arithmetic."""
    if retry_after_s is None or not math.isfinite(retry_after_s) or retry_after_s < 0:
        return default_s
    return min(retry_after_s, MAX_RETRY_AFTER_S)
