"""Decoding Binance frames: each stream, control replies, every error kind, the counters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from csx_core.contracts import BookTop, Kline, Liquidation, MarkPrice, Side, Trade
from csx_core.wire import (
    Control,
    DepthSnapshot,
    DepthUpdate,
    FrameDecoder,
    Ignored,
    WireError,
    WireErrorKind,
    decode_depth_snapshot,
    decode_frame,
    partial_depth_top,
)

AGG: dict[str, Any] = {
    "e": "aggTrade",
    "E": 1626992741575,
    "a": 16599292,
    "s": "CTKUSDT",
    "p": "1.01100",
    "q": "10",
    "f": 23961322,
    "l": 23961322,
    "T": 1626992741421,
    "m": True,
}
BOOK: dict[str, Any] = {
    "e": "bookTicker",
    "u": 400900217,
    "E": 1568014460893,
    "T": 1568014460891,
    "s": "BNBUSDT",
    "b": "25.35190000",
    "B": "31.21000000",
    "a": "25.36520000",
    "A": "40.66000000",
}
TRADE: dict[str, Any] = {
    "e": "trade",
    "E": 1723161256322,
    "T": 1723161256322,
    "s": "BTCUSDT",
    "t": 5266583935,
    "p": "61800.30",
    "q": "0.006",
    "X": "INSURANCE_FUND",
    "m": False,
}
MARK: dict[str, Any] = {
    "e": "markPriceUpdate",
    "E": 1562305380000,
    "s": "BTCUSDT",
    "p": "11794.15000000",
    "ap": "11794.10000000",
    "i": "11784.62659091",
    "P": "11784.25641265",
    "r": "0.00038167",
    "T": 1562306400000,
}
KLINE: dict[str, Any] = {
    "e": "kline",
    "E": 1638747660000,
    "s": "BTCUSDT",
    "k": {
        "t": 1638747660000,
        "T": 1638747719999,
        "s": "BTCUSDT",
        "i": "1m",
        "f": 100,
        "L": 200,
        "o": "0.0010",
        "c": "0.0020",
        "h": "0.0025",
        "l": "0.0009",
        "v": "1000",
        "n": 100,
        "x": False,
        "q": "1.0000",
        "V": "500",
        "Q": "0.500",
        "B": "123456",
    },
}
FORCE: dict[str, Any] = {
    "e": "forceOrder",
    "E": 1568014460893,
    "o": {
        "s": "BTCUSDT",
        "S": "SELL",
        "o": "LIMIT",
        "f": "IOC",
        "q": "0.014",
        "p": "9910",
        "ap": "9910",
        "X": "FILLED",
        "l": "0.014",
        "z": "0.014",
        "T": 1568014460893,
    },
}
DEPTH: dict[str, Any] = {
    "e": "depthUpdate",
    "E": 1723161256299,
    "T": 1723161256298,
    "s": "BTCUSDT",
    "U": 157,
    "u": 160,
    "pu": 149,
    "b": [["0.0024", "10"], ["0.0023", "0"]],
    "a": [["0.0026", "100"]],
}
TS = 1_700_000_000_123_456_789


def raw(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def combined(payload: dict[str, Any], stream: str = "x@y") -> bytes:
    return raw({"stream": stream, "data": payload})


def test_agg_trade() -> None:
    assert decode_frame(combined(AGG), TS) == Trade(
        symbol="CTKUSDT",
        ts_event=1626992741575_000_000,
        ts_recv=TS,
        trade_id=16599292,
        price=1.011,
        qty=10.0,
        buyer_is_maker=True,
    )


def test_book_ticker() -> None:
    assert decode_frame(combined(BOOK), TS) == BookTop(
        symbol="BNBUSDT",
        ts_event=1568014460893_000_000,
        ts_recv=TS,
        update_id=400900217,
        bid_price=25.3519,
        bid_qty=31.21,
        ask_price=25.3652,
        ask_qty=40.66,
    )


def test_trade_insurance_fund_is_a_trade() -> None:
    out = decode_frame(combined(TRADE), TS)
    assert isinstance(out, Trade)
    assert (out.trade_id, out.price, out.qty) == (5266583935, 61800.3, 0.006)


def test_mark_price_with_and_without_optional_fields() -> None:
    full = decode_frame(combined(MARK), TS)
    assert full == MarkPrice(
        symbol="BTCUSDT",
        ts_event=1562305380000_000_000,
        ts_recv=TS,
        mark_price=11794.15,
        index_price=11784.62659091,
        estimated_settle_price=11784.25641265,
        funding_rate=0.00038167,
        next_funding_time=1562306400000_000_000,
    )
    legacy = {k: v for k, v in MARK.items() if k not in ("ap", "i", "P")}
    out = decode_frame(combined(legacy), TS)
    assert isinstance(out, MarkPrice)
    assert out.index_price is None
    assert out.estimated_settle_price is None


def test_mark_price_of_delivery_contract_has_zero_funding() -> None:
    out = decode_frame(combined({**MARK, "r": "", "T": 0}), TS)
    assert isinstance(out, MarkPrice)
    assert out.funding_rate == 0.0


def test_kline() -> None:
    out = decode_frame(combined(KLINE), TS)
    assert isinstance(out, Kline)
    assert out.interval == "1m"
    assert out.open_time == 1638747660000_000_000
    assert out.close_time == 1638747719999_000_000
    assert (out.open, out.high, out.low, out.close) == (0.001, 0.0025, 0.0009, 0.002)
    assert (out.volume, out.taker_buy_volume, out.trades, out.closed) == (1000.0, 500.0, 100, False)


def test_force_order() -> None:
    assert decode_frame(combined(FORCE), TS) == Liquidation(
        symbol="BTCUSDT",
        ts_event=1568014460893_000_000,
        ts_recv=TS,
        side=Side.SELL,
        price=9910.0,
        avg_price=9910.0,
        qty=0.014,
        filled_qty=0.014,
        status="FILLED",
    )


def test_depth_update_keeps_ids_and_levels() -> None:
    out = decode_frame(combined(DEPTH, "btcusdt@depth@100ms"), TS)
    assert out == DepthUpdate(
        symbol="BTCUSDT",
        ts_event=1723161256299_000_000,
        ts_recv=TS,
        stream="btcusdt@depth@100ms",
        first_update_id=157,
        final_update_id=160,
        prev_final_update_id=149,
        bids=((0.0024, 10.0), (0.0023, 0.0)),
        asks=((0.0026, 100.0),),
    )


@pytest.mark.parametrize("payload", [AGG, BOOK, TRADE, MARK, KLINE, FORCE, DEPTH])
def test_raw_reordered_str_and_extra_fields_decode_the_same(payload: dict[str, Any]) -> None:
    expected = decode_frame(combined(payload), TS)
    assert not isinstance(expected, WireError)
    reordered = dict(reversed(list(payload.items())))
    with_new = {**payload, "nq": "10.11", "zz": [1, {"a": None}]}
    wrapped_backwards = raw({"data": payload, "stream": "x@y"})
    assert decode_frame(raw(payload), TS) == _restream(expected, "")
    assert decode_frame(raw(reordered), TS) == _restream(expected, "")
    assert decode_frame(combined(with_new), TS) == expected
    assert decode_frame(combined(payload).decode(), TS) == expected
    assert decode_frame(wrapped_backwards, TS) == expected


def _restream(out: object, stream: str) -> object:
    if isinstance(out, DepthUpdate):
        return DepthUpdate(
            **{**{f: getattr(out, f) for f in out.__struct_fields__}, "stream": stream}
        )
    return out


@pytest.mark.parametrize(
    "frame",
    [
        b'{"result":null,"id":1}',
        b'{"result":["btcusdt@aggTrade"],"id":3}',
        b'{"id":7,"result":true}',
        b'{"code":0,"msg":"Unknown property"}',
        b'{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1","id":2}',
    ],
)
def test_control_messages(frame: bytes) -> None:
    out = decode_frame(frame, TS)
    assert isinstance(out, Control)
    assert out.id is not None or out.code is not None


def test_unmodelled_ticker_is_ignored_not_an_error() -> None:
    out = decode_frame(combined({"e": "24hrTicker", "E": 1, "s": "BTCUSDT", "c": "1"}), TS)
    assert out == Ignored("24hrTicker", "BTCUSDT")


def _without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != key}


BAD_FRAMES: list[tuple[str, bytes | str, WireErrorKind]] = [
    ("truncated", combined(AGG)[:-5], WireErrorKind.BAD_JSON),
    ("not json", b"hello", WireErrorKind.BAD_JSON),
    ("empty", b"", WireErrorKind.BAD_JSON),
    ("invalid utf-8", b'{"stream":"a","data":{"e":"\xff\xfe"}}', WireErrorKind.BAD_JSON),
    ("array", b"[1,2]", WireErrorKind.NOT_A_FRAME),
    ("number", b"42", WireErrorKind.NOT_A_FRAME),
    ("array payload", raw({"stream": "!markPrice@arr", "data": [MARK]}), WireErrorKind.NOT_A_FRAME),
    ("unknown keys", b'{"foo":1}', WireErrorKind.NOT_A_FRAME),
    ("unknown event", combined({**AGG, "e": "fooUpdate"}), WireErrorKind.UNKNOWN_EVENT),
    ("unknown raw event", raw({**AGG, "e": "fooUpdate"}), WireErrorKind.UNKNOWN_EVENT),
    ("no event type", combined(_without(AGG, "e")), WireErrorKind.MISSING_FIELD),
    ("missing price", combined(_without(AGG, "p")), WireErrorKind.MISSING_FIELD),
    ("missing E", combined(_without(BOOK, "E")), WireErrorKind.MISSING_FIELD),
    ("missing kline body", combined(_without(KLINE, "k")), WireErrorKind.MISSING_FIELD),
    ("price is number", combined({**AGG, "p": 1.0}), WireErrorKind.WRONG_TYPE),
    ("E is string", combined({**AGG, "E": "1626992741575"}), WireErrorKind.WRONG_TYPE),
    ("m is string", combined({**AGG, "m": "true"}), WireErrorKind.WRONG_TYPE),
    ("e is number", combined({**AGG, "e": 5}), WireErrorKind.WRONG_TYPE),
    ("stream is number", raw({"stream": 1, "data": AGG}), WireErrorKind.WRONG_TYPE),
    ("levels not pairs", combined({**DEPTH, "b": [["1"]]}), WireErrorKind.WRONG_TYPE),
    ("nan price", combined({**AGG, "p": "NaN"}), WireErrorKind.INVALID_VALUE),
    ("inf qty", combined({**AGG, "q": "inf"}), WireErrorKind.INVALID_VALUE),
    ("negative price", combined({**AGG, "p": "-1.0"}), WireErrorKind.INVALID_VALUE),
    ("price not a number", combined({**AGG, "p": "1.0.0"}), WireErrorKind.INVALID_VALUE),
    ("zero qty", combined({**AGG, "q": "0"}), WireErrorKind.INVALID_VALUE),
    ("bid above ask", combined({**BOOK, "b": "30", "a": "29"}), WireErrorKind.INVALID_VALUE),
    ("negative E", combined({**AGG, "E": -1}), WireErrorKind.INVALID_VALUE),
    ("huge E", combined({**AGG, "E": 10**20}), WireErrorKind.INVALID_VALUE),
    ("huge id", combined({**AGG, "a": 10**30}), WireErrorKind.INVALID_VALUE),
    ("lower-case symbol", combined({**AGG, "s": "btcusdt"}), WireErrorKind.INVALID_VALUE),
    ("bad side", combined({**FORCE, "o": {**FORCE["o"], "S": "UP"}}), WireErrorKind.INVALID_VALUE),
    ("negative level", combined({**DEPTH, "a": [["-1", "1"]]}), WireErrorKind.INVALID_VALUE),
    ("U after u", combined({**DEPTH, "U": 200}), WireErrorKind.INVALID_VALUE),
    (
        "high below close",
        combined({**KLINE, "k": {**KLINE["k"], "h": "0.0011"}}),
        WireErrorKind.INVALID_VALUE,
    ),
    ("oversized", b'{"stream":"a","data":"' + b"x" * (10 << 20) + b'"}', WireErrorKind.OVERSIZED),
]


@pytest.mark.parametrize(
    ("frame", "kind"), [b[1:] for b in BAD_FRAMES], ids=[b[0] for b in BAD_FRAMES]
)
def test_bad_frame_is_a_counted_error_of_the_right_kind(frame: bytes, kind: WireErrorKind) -> None:
    decoder = FrameDecoder()
    out = decoder.decode(frame, TS)
    assert isinstance(out, WireError)
    assert out.kind is kind, out.detail
    assert decoder.errors[kind] == 1
    assert decoder.total == decoder.total_errors == 1


def test_max_frame_size_is_configurable_and_checked_before_parsing() -> None:
    frame = combined(AGG)
    assert isinstance(decode_frame(frame, TS, max_frame_bytes=len(frame)), Trade)
    small = FrameDecoder(max_frame_bytes=len(frame) - 1)
    assert small.decode(frame, TS).kind is WireErrorKind.OVERSIZED  # type: ignore[union-attr]
    garbage = b"\x00" * (len(frame) + 1)  # would be BAD_JSON if it were parsed
    assert small.decode(garbage, TS).kind is WireErrorKind.OVERSIZED  # type: ignore[union-attr]


def test_frame_decoder_counts_every_outcome() -> None:
    decoder = FrameDecoder()
    frames = [
        combined(AGG),
        combined(TRADE),
        raw(BOOK),
        combined(KLINE),
        combined(MARK),
        combined(FORCE),
        combined(DEPTH),
        b'{"result":null,"id":1}',
        combined({"e": "24hrMiniTicker", "E": 1, "s": "BTCUSDT"}),
        b"{",
        combined({**AGG, "p": "nan"}),
    ]
    for frame in frames:
        decoder.decode(frame, TS)
    assert decoder.decoded == {
        "trade": 2,
        "book_top": 1,
        "kline": 1,
        "mark_price": 1,
        "liquidation": 1,
        "depth": 1,
        "control": 1,
        "ignored": 1,
    }
    assert decoder.control == 1
    assert decoder.errors[WireErrorKind.BAD_JSON] == 1
    assert decoder.errors[WireErrorKind.INVALID_VALUE] == 1
    assert decoder.total == len(frames)
    stats = decoder.stats()
    assert stats["decoded.trade"] == 2
    assert stats["errors.bad_json"] == 1


def test_depth_snapshot() -> None:
    body = (
        b'{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,'
        b'"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}'
    )
    assert decode_depth_snapshot(body) == DepthSnapshot(
        last_update_id=1027024,
        ts_event=1589436922972_000_000,
        bids=((4.0, 431.0),),
        asks=((4.000002, 12.0),),
    )
    old = decode_depth_snapshot(b'{"lastUpdateId":5,"bids":[],"asks":[]}')
    assert old == DepthSnapshot(last_update_id=5, ts_event=None, bids=(), asks=())


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"lastUpdateId":1,"bids":[["x","1"]],"asks":[]}', WireErrorKind.INVALID_VALUE),
        (b'{"bids":[],"asks":[]}', WireErrorKind.MISSING_FIELD),
        (b'{"lastUpdateId":"1","bids":[],"asks":[]}', WireErrorKind.WRONG_TYPE),
        (b'{"code":-1121,"msg":"Invalid symbol."}', WireErrorKind.MISSING_FIELD),
        (b"<html>", WireErrorKind.BAD_JSON),
    ],
)
def test_bad_depth_snapshot(body: bytes, kind: WireErrorKind) -> None:
    out = decode_depth_snapshot(body)
    assert isinstance(out, WireError)
    assert out.kind is kind
    assert decode_depth_snapshot(b" " * 100, max_bytes=10).kind is WireErrorKind.OVERSIZED  # type: ignore[union-attr]


def _depth(bids: list[list[str]], asks: list[list[str]]) -> DepthUpdate:
    out = decode_frame(combined({**DEPTH, "b": bids, "a": asks}, "btcusdt@depth5"), TS)
    assert isinstance(out, DepthUpdate)
    return out


def test_partial_depth_top_and_imbalance() -> None:
    update = _depth(
        [["100.0", "1"], ["99.5", "3"], ["99.0", "0"], ["98.0", "100"]],
        [["100.5", "2"], ["101.0", "2"], ["102.0", "50"]],
    )
    top = partial_depth_top(update, levels=2)
    assert not isinstance(top, WireError)
    assert top.book == BookTop(
        symbol="BTCUSDT",
        ts_event=update.ts_event,
        ts_recv=TS,
        update_id=160,
        bid_price=100.0,
        bid_qty=1.0,
        ask_price=100.5,
        ask_qty=2.0,
    )
    assert top.imbalance == pytest.approx((4 - 4) / 8)
    wide = partial_depth_top(update, levels=5)
    assert not isinstance(wide, WireError)
    assert wide.imbalance == pytest.approx((104 - 54) / 158)


@pytest.mark.parametrize(
    ("bids", "asks"),
    [([], [["1", "1"]]), ([["1", "0"]], [["2", "1"]]), ([["3", "1"]], [["2", "1"]])],
    ids=["empty bids", "only zero bids", "crossed"],
)
def test_partial_depth_top_rejects_unusable_books(
    bids: list[list[str]], asks: list[list[str]]
) -> None:
    out = partial_depth_top(_depth(bids, asks))
    assert isinstance(out, WireError)
    assert out.kind is WireErrorKind.INVALID_VALUE
