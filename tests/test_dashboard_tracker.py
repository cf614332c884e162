"""The tracker's bookkeeping: time in the top, sparkline sampling, bounded alert feed."""

from __future__ import annotations

from csx_core.contracts import Direction, PredictionSnapshot, ReasonCode
from csx_live.dashboard import HealthStrip
from csx_live.dashboard.tracker import DashboardTracker

S = 1_000_000_000
HEALTH = HealthStrip(
    ready=True, connections=1, frames_per_s=1.0, dropped_total=0, malformed_total=0, tick_p99_ms=1.0
)


def pred(symbol: str, p: float, ts: int) -> PredictionSnapshot:
    return PredictionSnapshot(
        symbol=symbol,
        ts=ts,
        p_inplay=p,
        raw_score=p,
        direction=Direction.UP,
        expected_net_edge_bps=5.0,
        model_id="m1",
        reason_codes=(ReasonCode.VOLUME_SURGE,),
    )


def test_time_in_top_resets_when_a_symbol_leaves() -> None:
    tracker = DashboardTracker(spark_every_s=10)
    for t in range(0, 31):
        view = tracker.update(
            t * S, [pred("AAAUSDT", 0.5, t * S)], prices={"AAAUSDT": 1.0}, health=HEALTH
        )
    assert view.ranks[0].time_in_top_s == 30.0
    tracker.update(31 * S, [pred("BBBUSDT", 0.5, 31 * S)], prices={}, health=HEALTH)
    back = tracker.update(32 * S, [pred("AAAUSDT", 0.6, 32 * S)], prices={}, health=HEALTH)
    assert back.ranks[0].time_in_top_s == 0.0
    assert back.ranks[0].reasons[0].label == "Volume surge"


def test_sparkline_is_sampled_and_bounded() -> None:
    tracker = DashboardTracker(spark_window_s=50, spark_every_s=10)
    for t in range(0, 200):
        view = tracker.update(
            t * S, [pred("AAAUSDT", t / 200, t * S)], prices={"AAAUSDT": 100.0 + t}, health=HEALTH
        )
    row = view.ranks[0]
    assert len(row.spark_p) == 5
    assert row.spark_px == (250.0, 260.0, 270.0, 280.0, 290.0)


def test_alert_feed_keeps_the_newest() -> None:
    tracker = DashboardTracker(max_alerts=3)
    for t in range(5):
        view = tracker.update(
            t * S, [], prices={}, new_alerts=[pred(f"S{t}USDT", 0.9, t * S)], health=HEALTH
        )
    assert [a.symbol for a in view.alerts] == ["S2USDT", "S3USDT", "S4USDT"]
    assert view.alerts[-1].ts_ms == 4000
