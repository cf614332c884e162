"""Gaps (declared and detected), warm-up, late events and the tick-time contract."""

from __future__ import annotations

import math

import pytest

from csx_core.features import FEATURE_NAMES, EngineConfig, FeatureEngine, TickFrame, drive_events
from csx_core.features.buckets import MAX_AHEAD_S
from tests.test_features import T0, S, trade


def col(frame: TickFrame, name: str) -> float:
    return float(frame.values[0, FEATURE_NAMES.index(name)])


def steady(seconds: int, *, every: int = 1, start: int = T0) -> list:
    return [
        trade("AAAUSDT", start + k, 100.0 + (k % 3), 1.0, taker_buy=k % 2 == 0)
        for k in range(0, seconds, every)
    ]


def frames_by_ts(engine: FeatureEngine, events: list) -> dict[int, TickFrame]:
    return {f.ts // S: f for f in drive_events(engine, events)}


def test_declared_gap_marks_every_overlapping_window_then_clears() -> None:
    engine = FeatureEngine()
    engine.mark_gap(None, (T0 + 100) * S, (T0 + 105) * S)
    frames = frames_by_ts(engine, steady(200))
    before, inside, after10, after70 = (frames[T0 + t] for t in (100, 103, 116, 170))
    assert not before.gap[0]
    assert math.isfinite(col(before, "qvol_10s"))
    assert inside.gap[0]
    assert math.isnan(col(inside, "qvol_10s"))
    assert math.isnan(col(inside, "ret_1m"))
    assert after10.gap[0]  # the 10 s window is clean again, the 1 min one is not
    assert math.isfinite(col(after10, "qvol_10s"))
    assert math.isnan(col(after10, "qvol_1m"))
    assert math.isfinite(col(after70, "qvol_1m"))
    assert math.isnan(col(after70, "qvol_5m"))
    assert after70.gap[0]
    assert math.isfinite(col(after70, "spread_bps")) is False  # no book at all: NaN, not gap


def test_gap_for_another_symbol_leaves_this_one_alone() -> None:
    engine = FeatureEngine()
    engine.mark_gap("BBBUSDT", (T0 + 10) * S, (T0 + 20) * S)
    frames = frames_by_ts(engine, steady(40))
    assert not any(f.gap[0] for f in frames.values())


def test_gap_marked_after_the_fact_reaches_rolled_seconds() -> None:
    engine = FeatureEngine()
    frames = list(drive_events(engine, steady(150)))
    assert not frames[-1].gap[0]
    engine.mark_gap("AAAUSDT", (T0 + 90) * S, (T0 + 95) * S)  # e.g. a reconnect found late
    frame = engine.tick(frames[-1].ts + S)
    assert frame.gap[0]
    assert math.isnan(col(frame, "qvol_1m"))
    assert math.isfinite(col(frame, "qvol_10s"))


def test_silence_longer_than_the_threshold_is_a_gap() -> None:
    config = EngineConfig(gap_after_s=30, stale_after_s=5)
    events = steady(20) + steady(20, start=T0 + 100)
    frames = frames_by_ts(FeatureEngine(config), events)
    quiet, stale = frames[T0 + 40], frames[T0 + 60]
    assert not quiet.gap[0]
    assert col(quiet, "stale") == 1.0
    assert col(quiet, "since_event_s") == 21
    assert stale.gap[0]
    assert math.isnan(col(stale, "qvol_10s"))


def test_warm_only_after_every_window_and_the_baseline_were_observed() -> None:
    frames = frames_by_ts(FeatureEngine(EngineConfig(cadence_s=60)), steady(3800, every=10))
    assert not frames[T0 + 3600].warm[0]
    assert frames[T0 + 3660].warm[0]
    assert math.isfinite(col(frames[T0 + 3660], "ret_1h"))
    assert col(frames[T0 + 3660], "qvol_z_15m") == pytest.approx(math.nan, nan_ok=True)  # sd 0
    assert col(frames[T0 + 3660], "rvol_1h") > 0


@pytest.mark.parametrize("offset_s", [0, 1, 30, 59])
def test_warm_up_s_bounds_the_history_a_symbol_needs(offset_s: int) -> None:
    config = EngineConfig(cadence_s=60)
    first = T0 + offset_s
    frames = frames_by_ts(FeatureEngine(config), steady(3900, every=10, start=first))
    warm_from = min(t for t, frame in frames.items() if frame.warm[0])
    assert all(frame.warm[0] for t, frame in frames.items() if t >= warm_from)
    assert first + config.warm_up_s - 120 < warm_from <= first + config.warm_up_s


def test_late_events_are_counted_and_folded_into_the_open_second() -> None:
    engine = FeatureEngine()
    engine.on_event(trade("AAAUSDT", T0, 100.0, 1.0, taker_buy=True))
    engine.tick((T0 + 5) * S)
    engine.on_event(trade("AAAUSDT", T0 + 1, 101.0, 1.0, taker_buy=True))
    assert engine.late_events == 1
    frame = engine.tick((T0 + 6) * S)
    assert col(frame, "count_10s") == 2


@pytest.mark.parametrize("ts", [(T0 + 5) * S + 1, (T0 + 4) * S, (T0 + 5) * S])
def test_tick_times_must_be_whole_increasing_seconds(ts: int) -> None:
    engine = FeatureEngine()
    engine.on_event(trade("AAAUSDT", T0, 100.0, 1.0, taker_buy=True))
    engine.tick((T0 + 5) * S)
    with pytest.raises(ValueError, match="tick"):
        engine.tick(ts)


def test_event_too_far_ahead_of_the_last_tick_is_refused() -> None:
    engine = FeatureEngine()
    engine.on_event(trade("AAAUSDT", T0, 100.0, 1.0, taker_buy=True))
    with pytest.raises(ValueError, match="on_tick first"):
        engine.on_event(trade("AAAUSDT", T0 + MAX_AHEAD_S + 10, 100.0, 1.0, taker_buy=True))


@pytest.mark.parametrize("cadence", [0, -60, 61, 90, 420, 7200])
def test_config_rejects_cadences_the_ring_cannot_hold(cadence: int) -> None:
    with pytest.raises(ValueError, match="cadence_s"):
        EngineConfig(cadence_s=cadence)


@pytest.mark.parametrize("cadence", [1, 60, 120, 300, 900, 1800, 3600])
def test_config_takes_fine_and_bar_cadences(cadence: int) -> None:
    assert EngineConfig(cadence_s=cadence).bar_cadence is (cadence > 60)


def test_tick_before_any_event_is_empty_and_later_events_start_there() -> None:
    engine = FeatureEngine()
    assert engine.on_tick(T0 * S) == []
    engine.on_event(trade("AAAUSDT", T0 - 3, 100.0, 1.0, taker_buy=True))  # before the tick
    assert engine.late_events == 1
    assert col(engine.tick((T0 + 1) * S), "count_10s") == 1
