"""Stream planning: which route serves a stream, combined-stream URLs, shards of ≤ N streams.

Since 2026 Binance USD-M serves streams on routed paths: ``/public`` for ``bookTicker`` and
``depth``, ``/market`` for ``aggTrade``, ``markPrice``, ``kline``, ``ticker``, ``forceOrder``.
The unrouted ``/stream`` silently delivers nothing for ``/market`` streams, so a stream on the
wrong route is an error here, not a silent gap. A connection carries at most 1024 streams;
200 is the safe default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from csx_core.contracts import EVENT_DESCRIPTORS

PUBLIC = "public"
MARKET = "market"

# each event kind's channels come from its descriptor; the rest carry no stored event
# (depth diffs feed no feature; tickers are decoded and ignored)
_OTHER_CHANNELS = {PUBLIC: ("depth",), MARKET: ("miniTicker", "ticker")}
_PUBLIC_PREFIXES = (
    *(c for d in EVENT_DESCRIPTORS if d.route == PUBLIC for c in d.channels),
    *_OTHER_CHANNELS[PUBLIC],
)
_MARKET_PREFIXES = (
    *(c for d in EVENT_DESCRIPTORS if d.route == MARKET for c in d.channels),
    *_OTHER_CHANNELS[MARKET],
)


class PlanError(ValueError):
    """A stream name no route serves, or an impossible shard size."""


def route_of(stream: str) -> str:
    """The routed path (``public``/``market``) that serves ``stream`` (``btcusdt@aggTrade``,
    ``!markPrice@arr@1s``)."""
    channel = stream.split("@", 1)[1] if "@" in stream else ""
    if stream.startswith("!"):
        channel = stream[1:]
    if channel.startswith(_PUBLIC_PREFIXES):
        return PUBLIC
    if channel.startswith(_MARKET_PREFIXES):
        return MARKET
    raise PlanError(f"no route serves stream {stream!r}")


def streams_for(symbols: Iterable[str], channels: Iterable[str]) -> list[str]:
    """``<symbol lowercase>@<channel>`` for every symbol × channel, sorted."""
    chans = list(channels)
    out = sorted(f"{s.lower()}@{c}" for s in symbols for c in chans)
    for stream in out[: len(chans)]:
        route_of(stream)
    return out


def combined_url(ws_base: str, route: str, streams: Sequence[str]) -> str:
    """``<base>/<route>/stream?streams=a/b/c`` (frames arrive as ``{"stream":…,"data":…}``)."""
    if not streams:
        raise PlanError("a connection needs at least one stream")
    return f"{ws_base.rstrip('/')}/{route}/stream?streams={'/'.join(streams)}"


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """One connection's streams. ``shard_id`` is stable for the same route and streams."""

    shard_id: str
    route: str
    streams: tuple[str, ...]

    def url(self, ws_base: str) -> str:
        return combined_url(ws_base, self.route, self.streams)


def plan_shards(streams: Iterable[str], *, max_per_connection: int = 200) -> list[ShardPlan]:
    """Group streams by route and cut each group into connections of at most
    ``max_per_connection`` streams, balanced (sizes differ by at most one)."""
    if not 1 <= max_per_connection <= 1024:
        raise PlanError(f"max_per_connection must be in 1..1024, got {max_per_connection}")
    by_route: dict[str, list[str]] = {}
    for stream in sorted(set(streams)):
        by_route.setdefault(route_of(stream), []).append(stream)
    plans: list[ShardPlan] = []
    for route in sorted(by_route):
        group = by_route[route]
        n = -(-len(group) // max_per_connection)
        size, extra = divmod(len(group), n)
        start = 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            chunk = tuple(group[start:end])
            digest = hashlib.sha256("/".join(chunk).encode()).hexdigest()[:8]
            plans.append(ShardPlan(f"{route}-{i}-{digest}", route, chunk))
            start = end
    return plans
