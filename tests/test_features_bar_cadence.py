"""Bar cadences (ticks 5 min .. 1 h apart): the engine rolls its rings between ticks
without computing, every path gives the same snapshots, and a tick's high/low covers its
whole interval (what a label over bars needs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.contracts import EVENT_KINDS, MarketEvent
from csx_core.contracts.events import Kline, event_kind
from csx_core.features import (
    FEATURE_NAMES,
    EngineConfig,
    FeatureEngine,
    TickFrame,
    digest_frames,
    drive_events,
    drive_tables,
)
from csx_core.features.buckets import MAX_AHEAD_S, R1
from tests.test_features import T0, S, trade
from tests.test_replay import tables_of
from tests.test_replay_batch import replay_both

HOUR = 3600


def sim_hours(hours: int) -> dict[str, pa.Table]:
    sim = pytest.importorskip("csx_core.sim")
    day = sim.simulate_day(sim.SimConfig(days=1, n_symbols=3, seed=1), 0)
    end = day["trade"]["ts_event"][0].as_py() + hours * HOUR * S
    return {k: t.filter(pc.less(t["ts_event"], end)) for k, t in day.items()}


def events_of(tables: dict[str, pa.Table]) -> list[MarketEvent]:
    order = {k: i for i, k in enumerate(EVENT_KINDS)}
    events: list[MarketEvent] = []
    for kind, table in tables.items():
        events += EVENT_KINDS[kind].from_arrow(table)
    events.sort(key=lambda e: (e.ts_event, order[event_kind(e)]))
    return events


@pytest.mark.parametrize("cadence", [300, 3600])
def test_bar_cadence_paths_agree_and_highs_cover_the_interval(tmp_path: Path, cadence: int) -> None:
    tables = sim_hours(3)
    tables.pop("kline")  # trades only, so the interval's high is exactly theirs
    config = EngineConfig(cadence_s=cadence, gap_after_s=2 * cadence)
    result, _ = replay_both(tmp_path, [tables], config=config)  # per tick == batches
    live = list(drive_events(FeatureEngine(config), events_of(tables)))
    offline = list(drive_tables(FeatureEngine(config), [tables]))
    assert digest_frames(live) == digest_frames(offline) == result.digest
    assert len(offline) >= 3 * HOUR // cadence - 1

    trades = tables["trade"]
    ts = trades["ts_event"].to_numpy()
    symbols = trades["symbol"].to_numpy(zero_copy_only=False)
    price = trades["price"].to_numpy()
    for frame in offline[1:]:
        for row, symbol in enumerate(frame.symbols):
            inside = (symbols == symbol) & (ts >= frame.ts - cadence * S) & (ts < frame.ts)
            high, low = frame.prices[row][4], frame.prices[row][5]
            assert high == price[inside].max()
            assert low == price[inside].min()


def hourly_bars(symbol: str, closes: list[float], start_s: int) -> list[Kline]:
    bars, prev = [], closes[0]
    for k, close in enumerate(closes):
        open_ns = (start_s + k * HOUR) * S
        close_ns = open_ns + HOUR * S - 1_000_000
        bars.append(
            Kline(
                symbol=symbol,
                ts_event=close_ns,
                ts_recv=close_ns,
                interval="1h",
                open_time=open_ns,
                close_time=close_ns,
                open=prev,
                high=max(prev, close) * 1.01,
                low=min(prev, close) * 0.99,
                close=close,
                volume=10.0,
                quote_volume=10.0 * close,
                trades=100,
                taker_buy_volume=6.0,
                taker_buy_quote_volume=6.0 * close,
                closed=True,
            )
        )
        prev = close
    return bars


def col(frame: TickFrame, row: int, name: str) -> float:
    return float(frame.values[row][FEATURE_NAMES.index(name)])


def test_hourly_bars_alone_give_one_row_per_bar_with_its_high_low_and_return() -> None:
    start = (T0 // HOUR + 1) * HOUR
    closes = [100.0 * (1.0 + 0.01 * math.sin(k)) for k in range(12)]
    events: list[MarketEvent] = list(hourly_bars("AAAUSDT", closes, start))
    config = EngineConfig(cadence_s=HOUR, gap_after_s=2 * HOUR, stale_after_s=2 * HOUR)
    frames = list(drive_events(FeatureEngine(config), events))
    assert [f.ts for f in frames] == [(start + k * HOUR) * S for k in range(1, 12)]
    offline = list(drive_tables(FeatureEngine(config), [tables_of(events)]))
    assert digest_frames(frames) == digest_frames(offline)
    for k, frame in enumerate(frames, start=1):
        bar = events[k - 1]
        assert isinstance(bar, Kline)
        assert frame.prices[0][3] == bar.close  # px_last: the bar's close
        assert (frame.prices[0][4], frame.prices[0][5]) == (bar.high, bar.low)
        assert not frame.gap[0]
        if k >= 2:
            assert col(frame, 0, "ret_1h") == pytest.approx(math.log(closes[k - 1] / closes[k - 2]))
            assert col(frame, 0, "count_1h") == 100.0
            assert col(frame, 0, "imb_1h") == pytest.approx(0.2)


def test_hourly_bars_are_gaps_when_the_gap_rule_is_shorter_than_a_bar() -> None:
    start = (T0 // HOUR + 1) * HOUR
    events: list[MarketEvent] = list(hourly_bars("AAAUSDT", [100.0] * 6, start))
    frames = list(drive_events(FeatureEngine(EngineConfig(cadence_s=HOUR)), events))
    assert frames
    assert all(bool(f.gap[0]) for f in frames[1:])


def test_rolling_between_ticks_may_not_pass_the_next_tick() -> None:
    engine = FeatureEngine(EngineConfig(cadence_s=HOUR))
    engine.on_event(trade("AAAUSDT", T0, 100.0, 1.0, taker_buy=True))
    first_tick = (T0 // HOUR + 1) * HOUR
    beyond_the_ring = first_tick + MAX_AHEAD_S + 80  # before the tick after first_tick
    engine.advance(first_tick * S)  # up to the boundary is fine
    with pytest.raises(ValueError, match="on_tick first"):
        engine.advance((first_tick + 1) * S)
    with pytest.raises(ValueError, match="on_tick first"):
        engine.on_event(trade("AAAUSDT", beyond_the_ring, 100.0, 1.0, taker_buy=True))
    engine.tick(first_tick * S)
    engine.on_event(trade("AAAUSDT", beyond_the_ring, 101.0, 1.0, taker_buy=True))
    frame = engine.tick((first_tick + HOUR) * S)
    assert frame.prices[0][4] == 101.0
    assert np.isfinite(frame.values[0]).any()


STATE = ("isum", "fmax", "flast", "dsec", "cum", "mcum", "mfmax", "mdsec", "ff")
STATE += ("last_event", "last_trade", "last_book", "first")


@pytest.mark.parametrize(
    "silence", [1, 59, 119, 137, 255, 256, 300, MAX_AHEAD_S, R1 - 1, R1, R1 + 1, 3_500]
)
@pytest.mark.parametrize("with_gap", [False, True])
def test_rolling_a_silence_at_once_equals_rolling_it_second_by_second(
    silence: int, with_gap: bool
) -> None:
    """``advance`` rolls the seconds that hold events, then the silence in closed form; the
    rings, the minute aggregates and the bookkeeping must equal ``_roll_second``'s."""
    config = EngineConfig(cadence_s=HOUR, gap_after_s=90)
    fast, slow = FeatureEngine(config), FeatureEngine(config)
    start = (T0 // HOUR) * HOUR + 7  # mid-minute: the first minute closed is partial
    events: list[MarketEvent] = [
        trade("AAAUSDT", start + k, 100.0 + 0.1 * k, 1.0, taker_buy=k % 2 == 0) for k in range(40)
    ]
    events += list(hourly_bars("BBBUSDT", [50.0], start - HOUR + 30))
    for engine in (fast, slow):
        for event in sorted(events, key=lambda e: e.ts_event):
            engine.on_event(event)
        engine.mark_gap("CCCUSDT", start * S, (start + 5) * S)  # a symbol never seen
        if with_gap:
            engine.mark_gap("AAAUSDT", (start + 60) * S, (start + 60 + silence // 2) * S)
    target = start + 40 + silence
    fast.advance(target * S)
    slow._b.roll_to(target)
    for name in STATE:
        assert np.array_equal(getattr(fast._b, name), getattr(slow._b, name), equal_nan=True), name
    assert fast._b.version == slow._b.version
    assert fast._b.gaps == slow._b.gaps
    assert fast._b.closed == slow._b.closed == target


@pytest.mark.parametrize(
    ("text", "seconds"), [("1", 1), ("60", 60), ("30s", 30), ("5m", 300), ("1h", 3600)]
)
def test_cadences_parse_from_seconds_or_units(text: str, seconds: int) -> None:
    from csx_core.features.config import parse_cadence

    assert parse_cadence(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1.5m", "2h", "7m", "0", "-1"])
def test_what_is_not_a_cadence_is_refused_by_name(text: str) -> None:
    from csx_core.features.config import parse_cadence

    with pytest.raises(ValueError, match=r"cadence|duration"):
        parse_cadence(text)
