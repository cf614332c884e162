"""Encoding events to Binance frames: exact payload shape, stream names, decode∘encode = id."""

from __future__ import annotations

import json

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.contracts import BookTop, Kline, Liquidation, MarketEvent, MarkPrice, Side, Trade
from csx_core.wire import (
    decimal_str,
    decode_frame,
    encode_combined,
    encode_payload,
    stream_name,
)
from tests.strategies import market_events

_MS = 1_000_000
_TIME_FIELDS = ("ts_event", "open_time", "close_time", "next_funding_time")


def _whole_ms(event: MarketEvent) -> MarketEvent:
    """The same event with every venue time truncated to a whole millisecond."""
    changes = {
        name: getattr(event, name) // _MS * _MS
        for name in _TIME_FIELDS
        if name in event.__struct_fields__
    }
    return msgspec.structs.replace(event, **changes)


@settings(deadline=None)
@given(market_events.map(_whole_ms))
def test_decode_of_encode_is_identity(event: MarketEvent) -> None:
    assert decode_frame(encode_combined(event), event.ts_recv) == event
    assert decode_frame(encode_payload(event), event.ts_recv) == event


@settings(deadline=None)
@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_decimal_str_round_trips_without_exponent(value: float) -> None:
    text = decimal_str(value)
    assert float(text) == value
    assert "e" not in text.lower()


TRADE = Trade(
    symbol="BTCUSDT",
    ts_event=1_723_161_256_322_000_000,
    ts_recv=1,
    trade_id=42,
    price=61800.3,
    qty=0.006,
    buyer_is_maker=True,
)


def test_agg_trade_payload_is_binance_shaped() -> None:
    assert json.loads(encode_payload(TRADE)) == {
        "e": "aggTrade",
        "E": 1723161256322,
        "s": "BTCUSDT",
        "a": 42,
        "p": "61800.3",
        "q": "0.006",
        "f": 42,
        "l": 42,
        "T": 1723161256322,
        "m": True,
    }
    frame = json.loads(encode_combined(TRADE))
    assert frame == {"stream": "btcusdt@aggTrade", "data": json.loads(encode_payload(TRADE))}


def test_book_ticker_payload_has_string_prices() -> None:
    book = BookTop(
        symbol="ETHUSDT",
        ts_event=5 * _MS,
        ts_recv=0,
        update_id=9,
        bid_price=3000.0,
        bid_qty=1e-8,
        ask_price=3000.1,
        ask_qty=25.0,
    )
    assert stream_name(book) == "ethusdt@bookTicker"
    assert json.loads(encode_payload(book)) == {
        "e": "bookTicker",
        "u": 9,
        "s": "ETHUSDT",
        "b": "3000",
        "B": "0.00000001",
        "a": "3000.1",
        "A": "25",
        "T": 5,
        "E": 5,
    }


def test_mark_price_omits_absent_optional_fields() -> None:
    mark = MarkPrice(
        symbol="BTCUSDT",
        ts_event=7 * _MS,
        ts_recv=0,
        mark_price=11794.15,
        funding_rate=-0.0001,
        next_funding_time=8 * _MS,
    )
    assert json.loads(encode_payload(mark)) == {
        "e": "markPriceUpdate",
        "E": 7,
        "s": "BTCUSDT",
        "p": "11794.15",
        "r": "-0.0001",
        "T": 8,
    }


def test_stream_names() -> None:
    kline = Kline(
        symbol="SOLUSDT",
        ts_event=0,
        ts_recv=0,
        interval="15m",
        open_time=0,
        close_time=1,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=0.0,
        quote_volume=0.0,
        trades=0,
        taker_buy_volume=0.0,
        taker_buy_quote_volume=0.0,
        closed=True,
    )
    liq = Liquidation(
        symbol="XRPUSDT",
        ts_event=0,
        ts_recv=0,
        side=Side.BUY,
        price=1.0,
        avg_price=1.0,
        qty=1.0,
        filled_qty=1.0,
        status="FILLED",
    )
    mark = MarkPrice(
        symbol="BTCUSDT",
        ts_event=0,
        ts_recv=0,
        mark_price=1.0,
        funding_rate=0.0,
        next_funding_time=0,
    )
    assert stream_name(TRADE) == "btcusdt@aggTrade"
    assert stream_name(kline) == "solusdt@kline_15m"
    assert stream_name(liq) == "xrpusdt@forceOrder"
    assert stream_name(mark) == "btcusdt@markPrice@1s"
    assert json.loads(encode_payload(kline))["k"]["i"] == "15m"
    assert json.loads(encode_payload(liq))["o"]["S"] == "BUY"
