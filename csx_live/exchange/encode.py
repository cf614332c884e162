"""Frames for replayed events, and which stream names carry each event.

Payload bytes come from the project's wire encoder (``csx_core.wire.encode_payload``), so
what the fake exchange sends is exactly what the project's decoder reads back.
``stream_names`` lists every subscribable name that carries an event (``btcusdt@markPrice``
and ``btcusdt@markPrice@1s``, ``!bookTicker``, ...), the first being the wire encoder's
``stream_name``; a subscriber to any of them receives the event.
"""

from __future__ import annotations

from csx_core.contracts import BookTop, Kline, Liquidation, MarketEvent, MarkPrice, Trade
from csx_core.wire import decimal_str, encode_payload, stream_name

ENCODER = "csx_core.wire"
PUBLIC_CHANNELS = ("bookTicker", "depth")
"""Channel prefixes served on ``/public`` (and the unrouted paths); all others are ``/market``."""

__all__ = [
    "ENCODER",
    "PUBLIC_CHANNELS",
    "combined_frame",
    "decimal_str",
    "encode_payload",
    "route_of",
    "stream_names",
]


def route_of(stream: str) -> str:
    """``public`` or ``market``: the routed path that delivers ``stream``."""
    channel = stream[1:] if stream.startswith("!") else stream.partition("@")[2]
    return "public" if channel.startswith(PUBLIC_CHANNELS) else "market"


def stream_names(event: MarketEvent) -> tuple[str, ...]:
    """Every stream name whose subscribers receive ``event`` (lowercase symbol)."""
    primary = stream_name(event)
    s = event.symbol.lower()
    if isinstance(event, BookTop):
        return (primary, "!bookTicker")
    if isinstance(event, MarkPrice):
        return (primary, f"{s}@markPrice")
    if isinstance(event, Liquidation):
        return (primary, "!forceOrder@arr")
    if isinstance(event, Trade | Kline):
        return (primary,)
    raise TypeError(f"not a market event: {type(event).__name__}")


def combined_frame(stream: str, payload: bytes) -> bytes:
    """``{"stream":<name>,"data":<payload>}`` without re-encoding the payload."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
