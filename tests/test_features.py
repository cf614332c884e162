"""FeatureEngine: each feature against a hand-computed value on tiny event lists."""

from __future__ import annotations

import math

import pytest

from csx_core.contracts import BookTop, Kline, Liquidation, MarketEvent, MarkPrice, Side, Trade
from csx_core.features import (
    FEATURE_NAMES,
    PRICE_COLUMNS,
    EngineConfig,
    FeatureEngine,
    TickFrame,
    drive_events,
)

S = 1_000_000_000
T0 = 1_699_999_980  # a whole minute (s)


def trade(sym: str, sec: float, price: float, qty: float, *, taker_buy: bool) -> Trade:
    ts = int(sec * S)
    return Trade(
        symbol=sym,
        ts_event=ts,
        ts_recv=ts,
        trade_id=ts,
        price=price,
        qty=qty,
        buyer_is_maker=not taker_buy,
    )


def book(sym: str, sec: float, bid: float, bid_qty: float, ask: float, ask_qty: float) -> BookTop:
    ts = int(sec * S)
    return BookTop(
        symbol=sym,
        ts_event=ts,
        ts_recv=ts,
        update_id=ts,
        bid_price=bid,
        bid_qty=bid_qty,
        ask_price=ask,
        ask_qty=ask_qty,
    )


def value(frame: TickFrame, symbol: str, name: str) -> float:
    row = frame.symbols.index(symbol)
    if name in PRICE_COLUMNS:
        return float(frame.prices[row, PRICE_COLUMNS.index(name)])
    return float(frame.values[row, FEATURE_NAMES.index(name)])


@pytest.fixture
def tiny() -> TickFrame:
    events: list[MarketEvent] = [
        trade("AAAUSDT", T0 - 20, 98.0, 1.0, taker_buy=True),
        trade("AAAUSDT", T0 + 1, 100.0, 1.0, taker_buy=True),
        book("AAAUSDT", T0 + 1.5, 99.9, 3.0, 100.1, 1.0),
        trade("AAAUSDT", T0 + 2, 101.0, 2.0, taker_buy=False),
        MarkPrice(
            symbol="AAAUSDT",
            ts_event=(T0 + 2) * S,
            ts_recv=(T0 + 2) * S,
            mark_price=100.5,
            index_price=100.0,
            funding_rate=0.0001,
            next_funding_time=0,
        ),
        trade("AAAUSDT", T0 + 3, 99.0, 0.5, taker_buy=True),
        Liquidation(
            symbol="AAAUSDT",
            ts_event=(T0 + 3) * S,
            ts_recv=(T0 + 3) * S,
            side=Side.SELL,
            price=99.0,
            avg_price=98.0,
            qty=2.0,
            filled_qty=1.0,
            status="FILLED",
        ),
    ]
    engine = FeatureEngine()
    for event in events:
        engine.on_event(event)
    engine.tick((T0 + 4) * S)
    snapshots = engine.on_tick((T0 + 5) * S)
    assert [s.symbol for s in snapshots] == ["AAAUSDT"]
    assert snapshots[0].names == FEATURE_NAMES
    frame = engine.tick((T0 + 6) * S)
    assert snapshots[0].values != tuple(frame.values[0])  # time moved on: since_* changed
    engine2 = FeatureEngine()
    for event in events:
        engine2.on_event(event)
    engine2.tick((T0 + 4) * S)
    return engine2.tick((T0 + 5) * S)


def test_window_sums_and_prices_match_hand_computation(tiny: TickFrame) -> None:
    f = tiny
    qvol = 100.0 + 202.0 + 49.5
    assert value(f, "AAAUSDT", "count_10s") == 3
    assert value(f, "AAAUSDT", "qvol_10s") == pytest.approx(qvol)
    assert value(f, "AAAUSDT", "count_1m") == 4
    assert value(f, "AAAUSDT", "qvol_1m") == pytest.approx(qvol + 98.0)
    assert value(f, "AAAUSDT", "imb_10s") == pytest.approx((149.5 - 202.0) / qvol)
    assert value(f, "AAAUSDT", "maxshare_10s") == pytest.approx(202.0 / qvol)
    assert value(f, "AAAUSDT", "vwapd_10s") == pytest.approx(math.log(99.0 / (qvol / 3.5)))
    assert value(f, "AAAUSDT", "range_10s") == pytest.approx(math.log(101.0 / 99.0))
    assert value(f, "AAAUSDT", "range_1m") == pytest.approx(math.log(101.0 / 98.0))
    assert value(f, "AAAUSDT", "ret_10s") == pytest.approx(math.log(99.0 / 98.0))
    rets = [math.log(100 / 98), math.log(101 / 100), math.log(99 / 101)]
    assert value(f, "AAAUSDT", "rvol_10s") == pytest.approx(math.sqrt(sum(r * r for r in rets)))
    assert value(f, "AAAUSDT", "liq_10s") == pytest.approx(98.0)
    assert math.isnan(value(f, "AAAUSDT", "ret_1m"))  # no price known 61 s ago
    assert math.isnan(value(f, "AAAUSDT", "midchg_10s"))  # no book 11 s ago


def test_instant_features_and_price_columns(tiny: TickFrame) -> None:
    f = tiny
    assert value(f, "AAAUSDT", "spread_bps") == pytest.approx(20.0)
    assert value(f, "AAAUSDT", "book_imb") == pytest.approx(0.5)
    assert value(f, "AAAUSDT", "funding_rate") == pytest.approx(1e-4)
    assert value(f, "AAAUSDT", "basis_bps") == pytest.approx(50.0)
    assert value(f, "AAAUSDT", "since_trade_s") == 2
    assert value(f, "AAAUSDT", "since_book_s") == 4
    assert value(f, "AAAUSDT", "since_event_s") == 2
    assert value(f, "AAAUSDT", "stale") == 0.0
    assert value(f, "AAAUSDT", "px_bid") == 99.9
    assert value(f, "AAAUSDT", "px_ask") == 100.1
    assert value(f, "AAAUSDT", "px_mid") == pytest.approx(100.0)
    assert value(f, "AAAUSDT", "px_last") == 99.0
    assert math.isnan(value(f, "AAAUSDT", "px_high"))  # no trade in [T0+4, T0+5)
    assert not f.warm[0]
    assert not f.gap[0]


def test_tick_sees_only_events_before_its_time() -> None:
    engine = FeatureEngine()
    engine.on_event(trade("AAAUSDT", T0 + 0.5, 10.0, 1.0, taker_buy=True))
    engine.on_event(trade("AAAUSDT", T0 + 1.0, 12.0, 1.0, taker_buy=True))  # exactly at tick
    frame = engine.tick((T0 + 1) * S)
    assert value(frame, "AAAUSDT", "count_10s") == 1
    assert value(frame, "AAAUSDT", "px_last") == 10.0
    later = engine.tick((T0 + 2) * S)
    assert value(later, "AAAUSDT", "count_10s") == 2
    assert value(later, "AAAUSDT", "px_high") == 12.0
    assert value(later, "AAAUSDT", "px_low") == 12.0


def test_window_empties_to_exact_zero_without_residue() -> None:
    engine = FeatureEngine()
    engine.on_event(trade("AAAUSDT", T0, 0.1, 0.3, taker_buy=True))
    engine.on_event(trade("AAAUSDT", T0 + 0.2, 1e5, 7.77, taker_buy=False))
    for k in range(1, 12):
        frame = engine.tick((T0 + k) * S)
    assert value(frame, "AAAUSDT", "qvol_10s") == 0.0
    assert value(frame, "AAAUSDT", "count_10s") == 0.0
    assert value(frame, "AAAUSDT", "rvol_10s") == 0.0
    assert math.isnan(value(frame, "AAAUSDT", "imb_10s"))
    assert value(frame, "AAAUSDT", "qvol_1m") == pytest.approx(0.03 + 777_000.0)


def test_cross_sectional_ranks_z_scores_and_beta() -> None:
    """Three symbols; BBB moves twice BTC every minute, CCC is flat."""
    events: list[MarketEvent] = []
    for m in range(70):
        sec = T0 + 60 * m + 1
        step = 0.001 * (1 if m % 2 else -1) * (1 + m % 3)
        btc = 100.0 * math.exp(step * ((m + 1) // 2))
        events.append(trade("BTCUSDT", sec, 100.0 * math.exp(step), 1.0, taker_buy=True))
        events.append(trade("BBBUSDT", sec, 50.0 * math.exp(2 * step), 1.0, taker_buy=True))
        events.append(trade("CCCUSDT", sec, 20.0, 1.0 + m % 5, taker_buy=True))
        assert btc > 0
    frames = list(drive_events(FeatureEngine(EngineConfig(cadence_s=60)), events))
    last = frames[-1]
    assert last.symbols == ["BBBUSDT", "BTCUSDT", "CCCUSDT"]
    assert value(last, "BBBUSDT", "beta_btc") == pytest.approx(2.0, rel=1e-6)
    assert value(last, "BTCUSDT", "beta_btc") == pytest.approx(1.0)
    assert value(last, "BTCUSDT", "relret_1m") == pytest.approx(0.0, abs=1e-12)
    assert value(last, "BBBUSDT", "relret_5m") == pytest.approx(0.0, abs=1e-9)
    rets = {s: value(last, s, "ret_1m") for s in last.symbols}
    order = sorted(rets, key=rets.__getitem__)
    assert [value(last, s, "xs_ret_rank_1m") for s in order] == [0.0, 0.5, 1.0]
    zs = [value(last, s, "xs_ret_z_1m") for s in last.symbols]
    assert sum(zs) == pytest.approx(0.0, abs=1e-9)
    assert sum(z * z for z in zs) / 3 == pytest.approx(1.0)


def test_volume_z_score_against_the_baseline_minutes() -> None:
    """One trade of quote q_m per minute for 61 minutes, then a burst."""
    events: list[MarketEvent] = []
    quotes = [10.0 + (m % 4) for m in range(61)]
    for m, q in enumerate(quotes):
        events.append(trade("AAAUSDT", T0 + 60 * m + 30, 1.0, q, taker_buy=True))
    burst = T0 + 61 * 60 + 5
    events.append(trade("AAAUSDT", burst, 1.0, 100.0, taker_buy=True))
    events.append(trade("AAAUSDT", burst + 10, 1.0, 1.0, taker_buy=True))  # releases the tick
    frames = list(drive_events(FeatureEngine(), events))
    frame = next(f for f in frames if f.ts == (burst + 1) * S)
    base = quotes[1:61]
    mu = sum(base) / 60
    sd = math.sqrt(sum((x - mu) ** 2 for x in base) / 60)
    in_last_minute = 100.0 + quotes[60]  # the 1m window [T-60, T) also holds minute 60's trade
    assert value(frame, "AAAUSDT", "qvol_z_1m") == pytest.approx((in_last_minute - mu) / sd)
    k = 10 / 60
    assert value(frame, "AAAUSDT", "qvol_z_10s") == pytest.approx((100.0 - k * mu) / (k**0.5 * sd))
    assert value(frame, "AAAUSDT", "count_z_1m") == pytest.approx(math.nan, nan_ok=True)  # sd 0


def test_kline_only_input_yields_what_bars_can_give() -> None:
    h0 = 1_700_002_800  # a whole hour (s)
    bars = [
        (100.0, 104.0, 99.0, 102.0, 5000.0, 50, 2000.0),
        (102.0, 103.0, 97.0, 98.0, 8000.0, 80, 5000.0),
    ]
    events: list[MarketEvent] = []
    for k, (o, h, lo, c, qv, n, tbq) in enumerate(bars, start=1):
        ts = (h0 + 3600 * k - 1) * S
        events.append(
            Kline(
                symbol="AAAUSDT",
                ts_event=ts,
                ts_recv=ts,
                interval="1h",
                open_time=ts - 3599 * S,
                close_time=ts,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=qv / c,
                quote_volume=qv,
                trades=n,
                taker_buy_volume=tbq / c,
                taker_buy_quote_volume=tbq,
                closed=True,
            )
        )
    events.append(trade("ZZZUSDT", h0 + 3 * 3600, 1.0, 1.0, taker_buy=True))  # releases ticks
    config = EngineConfig(cadence_s=60, gap_after_s=7200, stale_after_s=7200)
    frames = list(drive_events(FeatureEngine(config), events))
    frame = next(f for f in frames if f.ts == (h0 + 7200) * S)
    assert value(frame, "AAAUSDT", "ret_1h") == pytest.approx(math.log(98.0 / 102.0))
    assert value(frame, "AAAUSDT", "qvol_1h") == pytest.approx(8000.0)
    assert value(frame, "AAAUSDT", "count_1h") == 80
    assert value(frame, "AAAUSDT", "imb_1h") == pytest.approx((5000.0 - 3000.0) / 8000.0)
    assert value(frame, "AAAUSDT", "range_1h") == pytest.approx(math.log(103.0 / 97.0))
    # volume 8000/98 base units is stored to 0.001 (QTY_SCALE): VWAP within 1e-5
    assert value(frame, "AAAUSDT", "vwapd_1h") == pytest.approx(0.0, abs=1e-5)
    assert math.isnan(value(frame, "AAAUSDT", "maxshare_1h"))
    assert math.isnan(value(frame, "AAAUSDT", "spread_bps"))
    assert math.isnan(value(frame, "AAAUSDT", "since_book_s"))
    assert not frame.gap[frame.symbols.index("AAAUSDT")]


def test_open_klines_are_ignored() -> None:
    ts = T0 * S
    engine = FeatureEngine()
    engine.on_event(
        Kline(
            symbol="AAAUSDT",
            ts_event=ts,
            ts_recv=ts,
            interval="1m",
            open_time=ts,
            close_time=ts + 59 * S,
            open=1.0,
            high=1.0,
            low=1.0,
            close=1.0,
            volume=1.0,
            quote_volume=1.0,
            trades=1,
            taker_buy_volume=0.0,
            taker_buy_quote_volume=0.0,
            closed=False,
        )
    )
    assert len(engine.tick((T0 + 1) * S)) == 0
