"""Invalid values are rejected with an error that names the field, on construction and on
decode alike."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from csx_core.contracts import (
    BookTop,
    ContractError,
    CostBreakdown,
    FeatureSnapshot,
    Kline,
    LLMExplainOutput,
    MarkPrice,
    PredictionSnapshot,
    RankEvent,
    Trade,
    market_event_from_json,
)

TRADE = {
    "symbol": "BTCUSDT",
    "ts_event": 1_700_000_000_000_000_000,
    "ts_recv": 1_700_000_000_001_000_000,
    "trade_id": 7,
    "price": 65000.5,
    "qty": 0.01,
    "buyer_is_maker": False,
}
BOOK = {
    "symbol": "BTCUSDT",
    "ts_event": 1,
    "ts_recv": 1,
    "update_id": 1,
    "bid_price": 100.0,
    "bid_qty": 1.0,
    "ask_price": 100.1,
    "ask_qty": 2.0,
}
KLINE = {
    "symbol": "ETHUSDT",
    "ts_event": 1,
    "ts_recv": 1,
    "interval": "1m",
    "open_time": 0,
    "close_time": 59_999_000_000,
    "open": 10.0,
    "high": 12.0,
    "low": 9.0,
    "close": 11.0,
    "volume": 100.0,
    "quote_volume": 1000.0,
    "trades": 10,
    "taker_buy_volume": 40.0,
    "taker_buy_quote_volume": 400.0,
    "closed": True,
}
PREDICTION = {
    "symbol": "SOLUSDT",
    "ts": 1,
    "p_inplay": 0.4,
    "raw_score": 1.2,
    "direction": "UP",
    "direction_confidence": 0.61,
    "backtest_net_edge_bps": -3.5,
    "model_id": "csx-inplay/3",
    "reason_codes": ["VOLUME_SURGE"],
}

CASES: list[tuple[type[Any], dict[str, Any], dict[str, Any], str]] = [
    (Trade, TRADE, {"qty": -1.0}, "qty"),
    (Trade, TRADE, {"qty": 0.0}, "qty"),
    (Trade, TRADE, {"price": math.nan}, "price"),
    (Trade, TRADE, {"price": math.inf}, "price"),
    (Trade, TRADE, {"symbol": "btc-usdt"}, "symbol"),
    (Trade, TRADE, {"ts_event": -5}, "ts_event"),
    (BookTop, BOOK, {"bid_price": 101.0}, "bid_price"),
    (BookTop, BOOK, {"ask_qty": -1.0}, "ask_qty"),
    (Kline, KLINE, {"high": 10.5}, "high"),
    (Kline, KLINE, {"close_time": -1}, "close_time"),
    (Kline, KLINE, {"taker_buy_volume": 101.0}, "taker_buy_volume"),
    (Kline, KLINE, {"trades": -1}, "trades"),
    (PredictionSnapshot, PREDICTION, {"p_inplay": 1.5}, "p_inplay"),
    (PredictionSnapshot, PREDICTION, {"p_inplay": math.nan}, "p_inplay"),
    (PredictionSnapshot, PREDICTION, {"direction_confidence": 1.2}, "direction_confidence"),
    (PredictionSnapshot, PREDICTION, {"reason_codes": ["VOLUME_SURGE"] * 2}, "reason_codes"),
]
# In JSON a NaN edge travels as null, which means "unknown" and is valid; built in Python, a
# NaN edge is a bug (unknown is None) and is refused.
CONSTRUCTION_ONLY = [
    (PredictionSnapshot, PREDICTION, {"backtest_net_edge_bps": math.nan}, "backtest_net_edge_bps"),
]


@pytest.mark.parametrize(("cls", "base", "change", "field"), CASES + CONSTRUCTION_ONLY)
def test_construction_rejects_and_names_the_field(
    cls: type[Any], base: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    values = {**base, **change}
    if cls is PredictionSnapshot:
        values = msgspec.convert(values, dict[str, Any])
        from csx_core.contracts import Direction, ReasonCode

        values["direction"] = Direction(values["direction"])
        values["reason_codes"] = tuple(ReasonCode(c) for c in values["reason_codes"])
    with pytest.raises(ContractError) as err:
        cls(**values)
    assert err.value.field == field
    assert field in str(err.value)


@pytest.mark.parametrize(("cls", "base", "change", "field"), CASES)
def test_json_decode_rejects_and_names_the_field(
    cls: type[Any], base: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    payload = msgspec.json.encode({**base, **change})
    with pytest.raises(ContractError) as err:
        cls.from_json(payload)
    assert err.value.field == field


def test_an_unknown_edge_travels_as_null() -> None:
    snapshot = PredictionSnapshot.from_json(
        msgspec.json.encode({**PREDICTION, "backtest_net_edge_bps": None, "direction": "EITHER"})
    )
    assert snapshot.backtest_net_edge_bps is None
    assert b'"backtest_net_edge_bps":null' in snapshot.to_json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"kind":"trade","symbol":"BTCUSDT"}', "$"),
        (b'{"kind":"nonsense"}', "kind"),
        (b"not json", "$"),
        (
            b'{"kind":"trade","symbol":"BTCUSDT","ts_event":1,"ts_recv":1,"trade_id":1,'
            b'"price":"1.0","qty":1.0,"buyer_is_maker":false}',
            "price",
        ),
    ],
)
def test_market_event_union_rejects_garbage(payload: bytes, field: str) -> None:
    with pytest.raises(ContractError) as err:
        market_event_from_json(payload)
    assert err.value.field == field


def test_unknown_enum_value_is_rejected_by_name() -> None:
    payload = msgspec.json.encode({**PREDICTION, "direction": "SIDEWAYS"})
    with pytest.raises(ContractError) as err:
        PredictionSnapshot.from_json(payload)
    assert err.value.field == "direction"
    bad_code = msgspec.json.encode({**PREDICTION, "reason_codes": ["MOON"]})
    with pytest.raises(ContractError) as err:
        PredictionSnapshot.from_json(bad_code)
    assert err.value.field.startswith("reason_codes")


def test_rank_event_rules() -> None:
    from csx_core.contracts import RankAction

    with pytest.raises(ContractError, match="prev_rank"):
        RankEvent(
            ts=1,
            symbol="X1",
            action=RankAction.ENTER,
            rank=1,
            prev_rank=2,
            p_inplay=0.5,
            reason_codes=(),
        )
    with pytest.raises(ContractError, match="MOVE must change"):
        RankEvent(
            ts=1,
            symbol="X1",
            action=RankAction.MOVE,
            rank=2,
            prev_rank=2,
            p_inplay=0.5,
            reason_codes=(),
        )


def test_feature_snapshot_rules() -> None:
    base = {"symbol": "BTCUSDT", "ts": 1, "feature_version": "fe-1", "warm": True, "gap": False}
    with pytest.raises(ContractError) as err:
        FeatureSnapshot(names=("a", "b"), values=(1.0,), **base)
    assert err.value.field == "values"
    with pytest.raises(ContractError) as err:
        FeatureSnapshot(names=("a", "a"), values=(1.0, 2.0), **base)
    assert err.value.field == "names"
    with pytest.raises(ContractError) as err:
        FeatureSnapshot(names=("a",), values=(math.inf,), **base)
    assert err.value.field == "values"
    ok = FeatureSnapshot(names=("a", "b"), values=(1.0, math.nan), **base)
    assert math.isnan(ok.value("b"))


def test_cost_breakdown_total_must_add_up() -> None:
    with pytest.raises(ContractError) as err:
        CostBreakdown(fee_bps=10, half_spread_bps=1, slippage_bps=1, funding_bps=0, total_bps=5)
    assert err.value.field == "total_bps"


def test_explanation_length_and_mark_price_optional_fields() -> None:
    from csx_core.contracts import Direction, ExplainSource, ExplainStatus

    with pytest.raises(ContractError) as err:
        LLMExplainOutput(
            symbol="BTCUSDT",
            ts=1,
            text="x" * 401,
            status=ExplainStatus.WATCH,
            source=ExplainSource.LLM,
            p_inplay=0.5,
            direction=Direction.UP,
            backtest_net_edge_bps=None,
        )
    assert err.value.field == "text"
    legacy = MarkPrice.from_json(
        b'{"symbol":"BTCUSDT","ts_event":1,"ts_recv":1,"mark_price":100.0,'
        b'"funding_rate":0.0001,"next_funding_time":5}'
    )
    assert legacy.index_price is None
