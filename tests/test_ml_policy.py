"""The label policy, the trading backtest built on it, the direction call and the edge table:
hand-made paths with known answers, and models that lose money are reported as losing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from csx_core.ml.backtest import BacktestConfig, EvalInputs, Prediction, evaluate
from csx_core.ml.direction import THRESHOLD_GRID, fit_direction_call
from csx_core.ml.edge import EdgeTable, EdgeTableConfig, fit_edge_table
from csx_core.ml.labels import LabelConfig, label_features
from tests.test_ml_labels import FREE, NS_PER_S, make_table

H = 3


def labelled(mids: list[float], **cfg: float) -> dict[str, list[float]]:
    config = LabelConfig(horizon_s=H, threshold_bps=cfg.pop("threshold_bps", 50.0), **cfg)  # type: ignore[arg-type]
    out = label_features(make_table(mids, spread_bps=0.0), FREE, config)
    return {name: out.column(name).to_pylist() for name in out.column_names}


def test_the_barrier_pays_the_threshold_and_otherwise_the_trade_exits_at_h() -> None:
    # Row 0: +100 bps inside H clears cost (0) + threshold (50): the long exits at +50; the
    # short never reaches the barrier and exits at t+H, down 0 bps... -(+0) = 0.
    rows = labelled([100.0, 101.0, 100.0, 100.0, 100.0, 100.0])
    assert rows["policy_long_bps"][0] == pytest.approx(50.0)
    assert rows["policy_short_bps"][0] == pytest.approx(0.0)
    # Row 1 starts at 101 and falls to 100 (−99 bps): the short's barrier is touched.
    assert rows["policy_short_bps"][1] == pytest.approx(50.0)
    assert rows["policy_long_bps"][1] == pytest.approx((100.0 - 101.0) / 101.0 * 1e4)
    # The policy is "right" exactly where the label's in-play side is.
    for i, in_play in enumerate(rows["in_play"]):
        best = max(rows["policy_long_bps"][i], rows["policy_short_bps"][i])
        assert (best == pytest.approx(50.0)) == in_play


def test_costs_come_off_every_exit_that_is_not_the_barrier() -> None:
    cost = 12.0  # a flat 6 bps per side fee, nothing else
    from csx_core.ml.costs import CostModel

    model = CostModel(fee_tiers={"VIP0": cost / 2}, impact_coef_bps=0.0)
    table = make_table([100.0, 100.1, 100.2, 100.3, 100.3], spread_bps=0.0)
    out = label_features(table, model, LabelConfig(horizon_s=H, threshold_bps=50.0))
    fwd = out.column("fwd_ret_bps").to_pylist()
    assert out.column("policy_long_bps").to_pylist()[0] == pytest.approx(fwd[0] - cost)
    assert out.column("policy_short_bps").to_pylist()[0] == pytest.approx(-fwd[0] - cost)


def test_a_stop_closes_first_and_a_tick_touching_both_counts_as_the_stop() -> None:
    # Long from 100: first −40 bps (the 30 bps stop), then +100 bps: the stop came first.
    rows = labelled([100.0, 99.6, 101.0, 101.0, 101.0, 101.0], stop_bps=30.0)
    assert rows["policy_long_bps"][0] == pytest.approx(-30.0)
    # One tick whose low and high touch both: conservative, the stop.
    table = make_table(
        [100.0, 100.0, 100.0, 100.0, 100.0],
        highs=[100.0, 101.0, 100.0, 100.0, 100.0],
        lows=[100.0, 99.0, 100.0, 100.0, 100.0],
        spread_bps=0.0,
    )
    out = label_features(table, FREE, LabelConfig(horizon_s=H, threshold_bps=50.0, stop_bps=30.0))
    assert out.column("policy_long_bps").to_pylist()[0] == pytest.approx(-30.0)
    assert out.column("policy_short_bps").to_pylist()[0] == pytest.approx(-30.0)
    with pytest.raises(ValueError, match="stop_bps"):
        LabelConfig(stop_bps=0.0)


# -- the trading backtest ----------------------------------------------------------------------


def market(n_ticks: int = 400, n_sym: int = 8, seed: int = 5) -> EvalInputs:
    """Rows at decision ticks one horizon apart; half the rows move +/-30 bps after costs."""
    rng = np.random.default_rng(seed)
    n = n_ticks * n_sym
    ts = np.repeat(np.arange(n_ticks, dtype=np.int64) * 60 * NS_PER_S, n_sym)
    y = rng.random(n) < 0.3
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    cost = np.full(n, 15.0)
    fwd = np.where(y, side * 40.0, rng.normal(0, 5, n))
    long_ = np.where(y & (side > 0), 25.0, fwd - cost)
    short = np.where(y & (side < 0), 25.0, -fwd - cost)
    return EvalInputs(
        ts=ts,
        y=y,
        fwd_ret_bps=fwd,
        cost_bps=cost,
        horizon_ns=60 * NS_PER_S,
        policy_long_bps=long_,
        policy_short_bps=short,
        label_direction=side,
        policy={"threshold_bps": 25.0, "stop_bps": None, "horizon_s": 60},
    )


CFG = BacktestConfig(k=2, n_boot=60, n_blocks=20)


def test_a_model_that_ranks_well_but_calls_the_wrong_side_is_reported_as_losing() -> None:
    data = market()
    wrong = Prediction(data.y + 0.01 * np.arange(len(data.y)) / len(data.y), -data.label_direction)
    right = Prediction(wrong.p, data.label_direction)
    report = evaluate(data, wrong, right, CFG)
    m, b = report.metrics["model"], report.metrics["baseline"]
    assert m["roc_auc"] > 0.99
    assert m["precision_at_k"] > 0.8
    assert m["direction_accuracy"] == 0.0
    assert b["direction_accuracy"] == 1.0
    assert m["policy_net_bps"] < -15.0 < 0.0 < b["policy_net_bps"]
    assert report.deltas["policy_net_bps"]["ci_high"] < 0
    assert report.intervals["model"]["policy_net_bps"]["ci_high"] < 0
    assert m["policy_trades"] == m["policy_trades_up"] + m["policy_trades_down"] == 400 * 2
    assert "net bps per trade (label policy)" in report.to_markdown()


def test_abstaining_rows_are_not_trades_and_random_picks_are_seeded() -> None:
    data = market()
    p = data.y.astype(float)
    half = np.where(np.arange(len(p)) % 2 == 0, data.label_direction, 0).astype(np.int8)
    report = evaluate(data, Prediction(p, half), Prediction(p, data.label_direction), CFG)
    m = report.metrics["model"]
    assert m["direction_coverage"] == pytest.approx(0.5, abs=0.05)
    assert m["direction_accuracy"] == 1.0
    assert 0 < m["policy_trades"] < report.metrics["baseline"]["policy_trades"]
    again = evaluate(data, Prediction(p, half), Prediction(p, data.label_direction), CFG)
    assert str(again.metrics["random"]) == str(report.metrics["random"])  # NaN-safe
    assert report.metrics["random"]["direction_accuracy"] == pytest.approx(0.5, abs=0.08)
    nothing = evaluate(data, Prediction(p, np.zeros_like(half)), Prediction(p, half), CFG)
    assert nothing.metrics["model"]["policy_trades"] == 0
    assert math.isnan(nothing.metrics["model"]["policy_net_bps"])


# -- the direction call ------------------------------------------------------------------------


def test_direction_abstains_without_information_and_calls_with_it() -> None:
    rng = np.random.default_rng(3)
    margin = rng.normal(size=4000)
    coin = rng.random(4000) < 0.5
    assert fit_direction_call(margin, coin).threshold is None
    direction, conf = fit_direction_call(margin, coin).apply(margin)
    assert (direction == 0).all()
    assert (conf >= 0.5).all()
    informed = rng.random(4000) < 1 / (1 + np.exp(-2 * margin))
    call = fit_direction_call(margin, informed)
    assert call.threshold is not None
    assert call.threshold in THRESHOLD_GRID
    direction, conf = call.apply(margin)
    called = direction != 0
    assert called.mean() > 0.5
    assert ((direction[called] > 0) == informed[called]).mean() > 0.7
    assert (conf[called] >= call.threshold).all()
    assert fit_direction_call(margin[:0], informed[:0]).calibrator is None


def test_a_day_trend_is_not_a_direction_call() -> None:
    """A model that calls the slice's majority side (a trend of the day) is right 65 % of
    the time there, but no better than always calling that side: it must abstain."""
    rng = np.random.default_rng(4)
    n = 6000
    up = rng.random(n) < 0.65
    margin = rng.normal(1.0, 0.3, n)  # confident "up" everywhere, unrelated to the row
    call = fit_direction_call(margin, up, np.arange(n, dtype=np.int64))
    assert call.threshold is None
    assert "best constant side" in call.calibration["reason"]


# -- the edge table ----------------------------------------------------------------------------


def test_edge_table_reports_each_bucket_and_unknown_where_nothing_backs_it() -> None:
    rng = np.random.default_rng(1)
    n = 6000
    p = rng.random(n)
    outcome = np.where(rng.random(n) < p, 25.0, -15.0)  # higher p, better trades
    outcome[rng.random(n) < 0.1] = np.nan  # abstentions: no trade
    table = fit_edge_table(
        p=p,
        outcome_bps=outcome,
        conf=None,
        row_block=(np.arange(n) * 20) // n,
        n_blocks=20,
        n_boot=50,
        seed=0,
        ci=0.95,
        config=EdgeTableConfig(p_bins=4, conf_bins=1, min_trades=30),
    )
    means = [row[0] for row in table.mean_bps]
    assert all(m is not None for m in means)
    assert means == sorted(means)  # type: ignore[type-var]
    d = np.ones(4, dtype=np.int8)
    probe = np.array([0.01, 0.3, 0.6, 0.99])
    edge = table.lookup(probe, d)
    assert edge[0] < 0 < edge[-1]
    low, high = table.lookup_ci(probe, d)
    assert (low <= edge).all()
    assert (edge <= high).all()
    assert np.isnan(table.lookup(probe, np.zeros(4, dtype=np.int8))).all()
    again = EdgeTable.from_dict(table.to_dict())
    assert np.array_equal(again.lookup(probe, d), edge)
    sparse = fit_edge_table(
        p=p[:40],
        outcome_bps=outcome[:40],
        conf=None,
        row_block=np.zeros(40, dtype=np.int64),
        n_blocks=1,
        n_boot=10,
        seed=0,
        ci=0.95,
        config=EdgeTableConfig(min_trades=100),
    )
    assert np.isnan(sparse.lookup(probe, d)).all(), "too few trades: unknown, not a guess"
