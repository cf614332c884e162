"""Encoding: MarketEvent -> the exact Binance USD-M payload (the inverse of decoding).

Used by the simulator and the fake exchange so that the real parser is exercised.
Times are written as whole milliseconds (``ts_event // 1_000_000``; sub-ms parts are
dropped), prices and quantities as shortest round-trip decimal strings (``repr`` without
exponent), so ``decode_frame(encode_combined(e), e.ts_recv) == e`` whenever every time in
``e`` is a whole millisecond. Fields the contracts do not carry are filled neutrally:
aggTrade ``f``/``l`` = ``a`` and ``T`` = ``E``; bookTicker ``T`` = ``E``; kline ``f``/``L``
= -1 and ``B`` = "0"; forceOrder ``o`` LIMIT, ``f`` IOC, ``l`` = ``z``, ``T`` = ``E``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from csx_core.contracts import BookTop, Kline, MarketEvent, MarkPrice, Trade
from csx_core.wire.messages import (
    AggTradeMsg,
    BookTickerMsg,
    CombinedMsg,
    ForceOrderBody,
    ForceOrderMsg,
    KlineBody,
    KlineMsg,
    MarkPriceMsg,
    Payload,
)

_MS = 1_000_000
_ENCODER = msgspec.json.Encoder()


def decimal_str(value: float) -> str:
    """Shortest decimal string that parses back to exactly ``value`` (never exponent form)."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def _opt(value: float | None) -> str | None:
    return None if value is None else decimal_str(value)


def to_wire(event: MarketEvent) -> Payload:
    """The wire struct Binance would have sent for ``event``."""
    e_ms = event.ts_event // _MS
    if isinstance(event, Trade):
        return AggTradeMsg(
            event_time=e_ms,
            symbol=event.symbol,
            agg_id=event.trade_id,
            price=decimal_str(event.price),
            qty=decimal_str(event.qty),
            first_id=event.trade_id,
            last_id=event.trade_id,
            trade_time=e_ms,
            buyer_is_maker=event.buyer_is_maker,
        )
    if isinstance(event, BookTop):
        return BookTickerMsg(
            update_id=event.update_id,
            symbol=event.symbol,
            bid_price=decimal_str(event.bid_price),
            bid_qty=decimal_str(event.bid_qty),
            ask_price=decimal_str(event.ask_price),
            ask_qty=decimal_str(event.ask_qty),
            trade_time=e_ms,
            event_time=e_ms,
        )
    if isinstance(event, Kline):
        return KlineMsg(
            event_time=e_ms,
            symbol=event.symbol,
            kline=KlineBody(
                open_time=event.open_time // _MS,
                close_time=event.close_time // _MS,
                symbol=event.symbol,
                interval=event.interval,
                open=decimal_str(event.open),
                close=decimal_str(event.close),
                high=decimal_str(event.high),
                low=decimal_str(event.low),
                volume=decimal_str(event.volume),
                trades=event.trades,
                closed=event.closed,
                quote_volume=decimal_str(event.quote_volume),
                taker_buy_volume=decimal_str(event.taker_buy_volume),
                taker_buy_quote_volume=decimal_str(event.taker_buy_quote_volume),
            ),
        )
    if isinstance(event, MarkPrice):
        return MarkPriceMsg(
            event_time=e_ms,
            symbol=event.symbol,
            mark_price=decimal_str(event.mark_price),
            index_price=_opt(event.index_price),
            settle_price=_opt(event.estimated_settle_price),
            funding_rate=decimal_str(event.funding_rate),
            next_funding_time=event.next_funding_time // _MS,
        )
    return ForceOrderMsg(
        event_time=e_ms,
        order=ForceOrderBody(
            symbol=event.symbol,
            side=event.side.value,
            qty=decimal_str(event.qty),
            price=decimal_str(event.price),
            avg_price=decimal_str(event.avg_price),
            status=event.status,
            last_filled_qty=decimal_str(event.filled_qty),
            filled_qty=decimal_str(event.filled_qty),
            trade_time=e_ms,
        ),
    )


def encode_payload(event: MarketEvent) -> bytes:
    """The raw-stream frame (payload JSON only), as on ``/ws/<stream>``."""
    return _ENCODER.encode(to_wire(event))


def stream_name(event: MarketEvent) -> str:
    """Lowercase combined-stream name: ``btcusdt@aggTrade``, ``@bookTicker``,
    ``@kline_<interval>``, ``@markPrice@1s``, ``@forceOrder``."""
    symbol = event.symbol.lower()
    if isinstance(event, Trade):
        return f"{symbol}@aggTrade"
    if isinstance(event, BookTop):
        return f"{symbol}@bookTicker"
    if isinstance(event, Kline):
        return f"{symbol}@kline_{event.interval}"
    if isinstance(event, MarkPrice):
        return f"{symbol}@markPrice@1s"
    return f"{symbol}@forceOrder"


def encode_combined(event: MarketEvent) -> bytes:
    """The combined-stream frame ``{"stream": ..., "data": ...}``."""
    return _ENCODER.encode(CombinedMsg(stream=stream_name(event), data=to_wire(event)))
