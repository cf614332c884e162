"""Frame decoding: one WebSocket text frame in, exactly one typed outcome out, never raises.

``ts_event`` is the payload's event time ``E`` (ms) × 1_000_000, i.e. ns since the epoch;
``ts_recv`` (ns) is supplied by the caller, who owns the clock. Outcomes:

- a MarketEvent (Trade, BookTop, Kline, MarkPrice, Liquidation) or a DepthUpdate;
- :class:`Control` for subscription replies and protocol errors (not a failure);
- :class:`Ignored` for real streams without a project contract (24 h tickers);
- :class:`WireError` (kind + detail) for everything malformed.

The hot path decodes the combined wrapper (or a raw payload) straight into tagged wire
structs in C, then builds the contract, whose ``__post_init__`` validates values (NaN,
negative, crossed book). Only frames that fail the hot path are parsed a second time,
generically, to classify them precisely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from csx_core.contracts import BookTop, Kline, Liquidation, MarketEvent, MarkPrice, Side, Trade
from csx_core.wire.depth import (
    DepthUpdate,
    WireError,
    WireErrorKind,
    depth_update_from_msg,
    validation_error,
)
from csx_core.wire.messages import (
    PAYLOAD_TAGS,
    AggTradeMsg,
    BookTickerMsg,
    CombinedMsg,
    Control,
    DepthUpdateMsg,
    ForceOrderMsg,
    KlineMsg,
    MarkPriceMsg,
    MiniTickerMsg,
    Payload,
    TickerMsg,
    TradeMsg,
)

DEFAULT_MAX_FRAME_BYTES = 1 << 20
"""Frames longer than this are rejected before parsing (a full 1000-level depth is ~60 kB)."""


class Ignored(msgspec.Struct, frozen=True):
    """A well-formed payload of a stream the project does not model (``24hrTicker``)."""

    event_type: str
    symbol: str


Decoded = MarketEvent | DepthUpdate | Control | Ignored | WireError
"""Everything :func:`decode_frame` can return."""

_MS = 1_000_000


def _agg_trade(m: AggTradeMsg, stream: str, ts_recv: int) -> Trade:
    return Trade(
        symbol=m.symbol,
        ts_event=m.event_time * _MS,
        ts_recv=ts_recv,
        trade_id=m.agg_id,
        price=float(m.price),
        qty=float(m.qty),
        buyer_is_maker=m.buyer_is_maker,
    )


def _trade(m: TradeMsg, stream: str, ts_recv: int) -> Trade:
    return Trade(
        symbol=m.symbol,
        ts_event=m.event_time * _MS,
        ts_recv=ts_recv,
        trade_id=m.trade_id,
        price=float(m.price),
        qty=float(m.qty),
        buyer_is_maker=m.buyer_is_maker,
    )


def _book_ticker(m: BookTickerMsg, stream: str, ts_recv: int) -> BookTop:
    return BookTop(
        symbol=m.symbol,
        ts_event=m.event_time * _MS,
        ts_recv=ts_recv,
        update_id=m.update_id,
        bid_price=float(m.bid_price),
        bid_qty=float(m.bid_qty),
        ask_price=float(m.ask_price),
        ask_qty=float(m.ask_qty),
    )


def _optional_price(value: str | None) -> float | None:
    return float(value) if value else None


def _mark_price(m: MarkPriceMsg, stream: str, ts_recv: int) -> MarkPrice:
    return MarkPrice(
        symbol=m.symbol,
        ts_event=m.event_time * _MS,
        ts_recv=ts_recv,
        mark_price=float(m.mark_price),
        index_price=_optional_price(m.index_price),
        estimated_settle_price=_optional_price(m.settle_price),
        funding_rate=float(m.funding_rate) if m.funding_rate else 0.0,
        next_funding_time=m.next_funding_time * _MS,
    )


def _kline(m: KlineMsg, stream: str, ts_recv: int) -> Kline:
    k = m.kline
    return Kline(
        symbol=m.symbol,
        ts_event=m.event_time * _MS,
        ts_recv=ts_recv,
        interval=k.interval,
        open_time=k.open_time * _MS,
        close_time=k.close_time * _MS,
        open=float(k.open),
        high=float(k.high),
        low=float(k.low),
        close=float(k.close),
        volume=float(k.volume),
        quote_volume=float(k.quote_volume),
        trades=k.trades,
        taker_buy_volume=float(k.taker_buy_volume),
        taker_buy_quote_volume=float(k.taker_buy_quote_volume),
        closed=k.closed,
    )


def _force_order(m: ForceOrderMsg, stream: str, ts_recv: int) -> Liquidation:
    o = m.order
    return Liquidation(
        symbol=o.symbol,
        ts_event=m.event_time * _MS,
        ts_recv=ts_recv,
        side=Side(o.side),
        price=float(o.price),
        avg_price=float(o.avg_price),
        qty=float(o.qty),
        filled_qty=float(o.filled_qty),
        status=o.status,
    )


def _ticker(m: TickerMsg | MiniTickerMsg, stream: str, ts_recv: int) -> Ignored:
    return Ignored(str(type(m).__struct_config__.tag), m.symbol)


_CONVERTERS: dict[type, Callable[[Any, str, int], Decoded]] = {
    AggTradeMsg: _agg_trade,
    TradeMsg: _trade,
    BookTickerMsg: _book_ticker,
    MarkPriceMsg: _mark_price,
    KlineMsg: _kline,
    ForceOrderMsg: _force_order,
    DepthUpdateMsg: depth_update_from_msg,
    TickerMsg: _ticker,
    MiniTickerMsg: _ticker,
}

_COMBINED = msgspec.json.Decoder(CombinedMsg)
_RAW: msgspec.json.Decoder[Payload] = msgspec.json.Decoder(Payload)


def _convert(msg: Payload, stream: str, ts_recv: int) -> Decoded:
    """Wire struct -> outcome; a value the contract rejects becomes INVALID_VALUE."""
    try:
        return _CONVERTERS[type(msg)](msg, stream, ts_recv)
    except (ValueError, OverflowError) as exc:  # ContractError is a ValueError
        return WireError(WireErrorKind.INVALID_VALUE, str(exc))


def decode_frame(
    frame: bytes | str, ts_recv: int, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> Decoded:
    """Decode one combined (``{"stream","data"}``) or raw frame; never raises."""
    if len(frame) > max_frame_bytes:
        return WireError(WireErrorKind.OVERSIZED, f"{len(frame)} bytes > {max_frame_bytes}")
    try:
        if (
            frame.startswith('{"stream"')
            if isinstance(frame, str)
            else frame.startswith(b'{"stream"')
        ):
            combined = _COMBINED.decode(frame)
            msg, stream = combined.data, combined.stream
        else:
            msg, stream = _RAW.decode(frame), ""
    except (msgspec.DecodeError, UnicodeDecodeError):
        return _classify(frame, ts_recv)
    except RecursionError:
        return WireError(WireErrorKind.BAD_JSON, "nesting too deep")
    return _convert(msg, stream, ts_recv)


def _classify(frame: bytes | str, ts_recv: int) -> Decoded:
    """Slow path for frames the typed decoders refused: parse generically and say why."""
    try:
        obj = msgspec.json.decode(frame)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return WireError(WireErrorKind.BAD_JSON, str(exc))
    except RecursionError:
        return WireError(WireErrorKind.BAD_JSON, "nesting too deep")
    if not isinstance(obj, dict):
        return WireError(WireErrorKind.NOT_A_FRAME, f"top level is {type(obj).__name__}")
    if "data" in obj and "stream" in obj:
        stream, payload = obj["stream"], obj["data"]
        if not isinstance(stream, str):
            return WireError(WireErrorKind.WRONG_TYPE, "stream is not a string")
    elif "e" in obj:
        stream, payload = "", obj
    elif ("result" in obj and "id" in obj) or ("code" in obj and "msg" in obj):
        try:
            return msgspec.convert(obj, Control)
        except msgspec.ValidationError as exc:
            return validation_error(exc)
        except RecursionError:
            return WireError(WireErrorKind.BAD_JSON, "nesting too deep")
    else:
        return WireError(
            WireErrorKind.NOT_A_FRAME, f"unrecognised keys {[k[:32] for k in sorted(obj)[:8]]}"
        )
    if not isinstance(payload, dict):
        return WireError(
            WireErrorKind.NOT_A_FRAME, f"payload is {type(payload).__name__}, not an object"
        )
    event_type = payload.get("e")
    if event_type is None:
        return WireError(WireErrorKind.MISSING_FIELD, "payload has no event type `e`")
    if not isinstance(event_type, str):
        return WireError(WireErrorKind.WRONG_TYPE, "event type `e` is not a string")
    if event_type not in PAYLOAD_TAGS:
        return WireError(WireErrorKind.UNKNOWN_EVENT, f"unknown event type {event_type[:64]!r}")
    try:
        msg = msgspec.convert(payload, Payload)
    except msgspec.ValidationError as exc:
        return validation_error(exc)
    except RecursionError:
        return WireError(WireErrorKind.BAD_JSON, "nesting too deep")
    return _convert(msg, stream, ts_recv)
