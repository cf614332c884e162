"""The tracker's bookkeeping: time in the top, sparkline sampling, bounded alert feed."""

from __future__ import annotations

from csx_core.contracts import (
    CostBreakdown,
    Direction,
    LLMExplainInput,
    LLMExplainOutput,
    PredictionSnapshot,
    ReasonCode,
)
from csx_core.explain import template_output
from csx_live.dashboard import HealthStrip, Promise, Realised
from csx_live.dashboard.tracker import DashboardTracker
from csx_live.dashboard_feed import promise_view, realised_view

S = 1_000_000_000
HEALTH = HealthStrip(
    ready=True, connections=1, frames_per_s=1.0, dropped_total=0, malformed_total=0, tick_p99_ms=1.0
)


def pred(
    symbol: str, p: float, ts: int, direction: Direction = Direction.UP, edge: float | None = 5.0
) -> PredictionSnapshot:
    return PredictionSnapshot(
        symbol=symbol,
        ts=ts,
        p_inplay=p,
        raw_score=p,
        direction=direction,
        backtest_net_edge_bps=edge,
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


def explained(prediction: PredictionSnapshot) -> LLMExplainOutput:
    return template_output(
        LLMExplainInput(
            symbol=prediction.symbol,
            ts=prediction.ts,
            p_inplay=prediction.p_inplay,
            direction=prediction.direction,
            backtest_net_edge_bps=prediction.backtest_net_edge_bps,
            reasons=(),
            costs=CostBreakdown(
                fee_bps=4, half_spread_bps=1, slippage_bps=0, funding_bps=0, total_bps=5
            ),
        )
    )


def test_an_explanation_is_the_rows_only_while_it_matches_it() -> None:
    tracker = DashboardTracker()
    written = pred("AAAUSDT", 0.43, 10 * S, Direction.DOWN, None)
    out = explained(written)
    same = tracker.update(
        12 * S,
        [pred("AAAUSDT", 0.4349, 12 * S, Direction.DOWN, None)],
        prices={},
        explanations={"AAAUSDT": out},
        health=HEALTH,
    ).ranks[0]
    assert same.explanation == out.text
    assert same.explanation_older is None
    assert same.explanation_for is not None
    assert (same.explanation_for.ts_ms, same.explanation_for.age_s) == (10_000, 2.0)
    assert same.explanation_for.current
    for moved in (
        pred("AAAUSDT", 0.82, 13 * S, Direction.DOWN, None),  # 82% vs the text's 43%
        pred("AAAUSDT", 0.43, 13 * S, Direction.UP, None),
        pred("AAAUSDT", 0.43, 13 * S, Direction.DOWN, 2.0),  # the edge became known
    ):
        row = tracker.update(
            13 * S, [moved], prices={}, explanations={"AAAUSDT": out}, health=HEALTH
        ).ranks[0]
        assert row.explanation is None, moved
        assert row.explanation_source is None
        assert row.explanation_older == out.text
        assert row.explanation_for is not None
        assert not row.explanation_for.current
        assert (row.explanation_for.p_inplay, row.explanation_for.direction) == (0.43, "DOWN")
        assert row.explanation_for.backtest_net_edge_bps is None
        assert row.explanation_for.age_s == 3.0


def test_rows_carry_the_backtest_edge_unknown_as_none_and_either_way() -> None:
    view = DashboardTracker().update(
        S,
        [pred("AAAUSDT", 0.5, S, Direction.EITHER, None), pred("BBBUSDT", 0.4, S, edge=-3.2)],
        prices={},
        new_alerts=[pred("AAAUSDT", 0.5, S, Direction.EITHER, None)],
        health=HEALTH,
    )
    assert [(r.direction, r.backtest_net_edge_bps) for r in view.ranks] == [
        ("EITHER", None),
        ("UP", -3.2),
    ]
    assert (view.alerts[0].direction, view.alerts[0].backtest_net_edge_bps) == ("EITHER", None)


def test_promise_and_realised_pieces_that_are_missing_read_as_unknown() -> None:
    assert promise_view(None) is None
    assert realised_view(None) is None
    full = {
        "hit_rate": 0.55,
        "hit_rate_ci": [0.5, 0.6],
        "net_bps": 1.5,
        "net_bps_ci": [-0.5, 3.0],
        "source": "backtest",
    }
    assert promise_view(full) == Promise(
        hit_rate=0.55,
        hit_rate_ci=(0.5, 0.6),
        net_bps=1.5,
        net_bps_ci=(-0.5, 3.0),
        source="backtest",
    )
    holes = {"hit_rate": float("nan"), "hit_rate_ci": None, "net_bps": None, "source": None}
    assert promise_view(holes) == Promise()
    assert realised_view({"n": 4, "hit_rate": 0.25, "net_bps": None, "diverged": True}) == (
        Realised(n=4, hit_rate=0.25, net_bps=None, diverged=True)
    )
