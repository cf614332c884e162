"""Wire structs: Binance USD-M payloads exactly as sent, before any normalisation.

Field names follow the venue (single-letter keys are renamed to readable attribute names
with ``msgspec.field(name=...)``). Prices and quantities stay strings here; conversion to
floats and to the domain contracts happens in :mod:`csx_core.wire.decode`. Unknown keys are
ignored by msgspec, so new optional fields (``nq``, ``ap`` ...) never break decoding.
Times in these structs are the venue's integer **milliseconds**.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, field

MAX_MS = (2**63 - 1) // 1_000_000
"""Largest millisecond time whose nanosecond value still fits an int64."""

Ms = Annotated[int, Meta(ge=0, le=MAX_MS)]
Id = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Level = tuple[str, str]


class AggTradeMsg(msgspec.Struct, tag_field="e", tag="aggTrade", frozen=True, kw_only=True):
    event_time: Ms = field(name="E")
    symbol: str = field(name="s")
    agg_id: Id = field(name="a")
    price: str = field(name="p")
    qty: str = field(name="q")
    first_id: int = field(name="f", default=-1)
    last_id: int = field(name="l", default=-1)
    trade_time: int = field(name="T", default=0)
    buyer_is_maker: bool = field(name="m")


class TradeMsg(msgspec.Struct, tag_field="e", tag="trade", frozen=True, kw_only=True):
    """Raw trade; ``kind`` (``X``) is MARKET, or INSURANCE_FUND for a liquidation fill."""

    event_time: Ms = field(name="E")
    trade_time: int = field(name="T", default=0)
    symbol: str = field(name="s")
    trade_id: Id = field(name="t")
    price: str = field(name="p")
    qty: str = field(name="q")
    kind: str = field(name="X", default="MARKET")
    buyer_is_maker: bool = field(name="m")


class BookTickerMsg(msgspec.Struct, tag_field="e", tag="bookTicker", frozen=True, kw_only=True):
    update_id: Id = field(name="u")
    symbol: str = field(name="s")
    bid_price: str = field(name="b")
    bid_qty: str = field(name="B")
    ask_price: str = field(name="a")
    ask_qty: str = field(name="A")
    trade_time: int = field(name="T", default=0)
    event_time: Ms = field(name="E")


class MarkPriceMsg(
    msgspec.Struct,
    tag_field="e",
    tag="markPriceUpdate",
    frozen=True,
    kw_only=True,
    omit_defaults=True,
):
    """``i`` (index) and ``P`` (estimated settle) are absent in older payloads; ``r`` is ``""``
    for delivery contracts, which have no funding."""

    event_time: Ms = field(name="E")
    symbol: str = field(name="s")
    mark_price: str = field(name="p")
    index_price: str | None = field(name="i", default=None)
    settle_price: str | None = field(name="P", default=None)
    funding_rate: str = field(name="r")
    next_funding_time: Ms = field(name="T")


class KlineBody(msgspec.Struct, frozen=True, kw_only=True):
    open_time: Ms = field(name="t")
    close_time: Ms = field(name="T")
    symbol: str = field(name="s")
    interval: str = field(name="i")
    first_id: int = field(name="f", default=-1)
    last_id: int = field(name="L", default=-1)
    open: str = field(name="o")
    close: str = field(name="c")
    high: str = field(name="h")
    low: str = field(name="l")
    volume: str = field(name="v")
    trades: Annotated[int, Meta(ge=0)] = field(name="n")
    closed: bool = field(name="x")
    quote_volume: str = field(name="q")
    taker_buy_volume: str = field(name="V")
    taker_buy_quote_volume: str = field(name="Q")
    ignore: str = field(name="B", default="0")


class KlineMsg(msgspec.Struct, tag_field="e", tag="kline", frozen=True, kw_only=True):
    event_time: Ms = field(name="E")
    symbol: str = field(name="s")
    kline: KlineBody = field(name="k")


class ForceOrderBody(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str = field(name="s")
    side: str = field(name="S")
    order_type: str = field(name="o", default="LIMIT")
    time_in_force: str = field(name="f", default="IOC")
    qty: str = field(name="q")
    price: str = field(name="p")
    avg_price: str = field(name="ap")
    status: str = field(name="X")
    last_filled_qty: str = field(name="l", default="0")
    filled_qty: str = field(name="z")
    trade_time: int = field(name="T", default=0)


class ForceOrderMsg(msgspec.Struct, tag_field="e", tag="forceOrder", frozen=True, kw_only=True):
    event_time: Ms = field(name="E")
    order: ForceOrderBody = field(name="o")


class DepthUpdateMsg(msgspec.Struct, tag_field="e", tag="depthUpdate", frozen=True, kw_only=True):
    """Diff depth (``@depth``) and partial depth (``@depth5/10/20``) share this payload."""

    event_time: Ms = field(name="E")
    trade_time: int = field(name="T", default=0)
    symbol: str = field(name="s")
    first_update_id: Id = field(name="U")
    final_update_id: Id = field(name="u")
    prev_final_update_id: int | None = field(name="pu", default=None)
    bids: list[Level] = field(name="b")
    asks: list[Level] = field(name="a")


class TickerMsg(msgspec.Struct, tag_field="e", tag="24hrTicker", frozen=True, kw_only=True):
    """24 h rolling ticker: a real stream with no project contract (decoded as ignored)."""

    event_time: Ms = field(name="E")
    symbol: str = field(name="s")


class MiniTickerMsg(msgspec.Struct, tag_field="e", tag="24hrMiniTicker", frozen=True, kw_only=True):
    event_time: Ms = field(name="E")
    symbol: str = field(name="s")


Payload = (
    AggTradeMsg
    | TradeMsg
    | BookTickerMsg
    | MarkPriceMsg
    | KlineMsg
    | ForceOrderMsg
    | DepthUpdateMsg
    | TickerMsg
    | MiniTickerMsg
)
"""Every payload the decoder understands, tagged by the venue's ``e`` key."""

PAYLOAD_TAGS: frozenset[str] = frozenset(
    str(t.__struct_config__.tag)
    for t in (
        AggTradeMsg,
        TradeMsg,
        BookTickerMsg,
        MarkPriceMsg,
        KlineMsg,
        ForceOrderMsg,
        DepthUpdateMsg,
        TickerMsg,
        MiniTickerMsg,
    )
)


class CombinedMsg(msgspec.Struct, frozen=True, kw_only=True):
    """The combined-stream wrapper ``{"stream": ..., "data": ...}``."""

    stream: str
    data: Payload


class DepthSnapshotMsg(msgspec.Struct, frozen=True, kw_only=True):
    """REST ``GET /fapi/v1/depth`` body; ``E``/``T`` are absent in older responses."""

    last_update_id: Id = field(name="lastUpdateId")
    event_time: Ms | None = field(name="E", default=None)
    trade_time: int | None = field(name="T", default=None)
    bids: list[Level] = field(name="bids")
    asks: list[Level] = field(name="asks")


class Control(msgspec.Struct, frozen=True, kw_only=True):
    """Subscription reply (``result``/``id``) or protocol error (``code``/``msg``)."""

    id: int | None = None
    result: Any = None
    code: int | None = None
    msg: str | None = None
