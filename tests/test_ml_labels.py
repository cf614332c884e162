"""Labels: exact excursions on hand-made paths, no look-ahead past H, dropped rows."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.ml.costs import CostModel
from csx_core.ml.frame import FEATURE_NAMES_KEY, FEATURE_VERSION_KEY, NS_PER_S
from csx_core.ml.labels import LabelConfig, forward_window_max, label_features

T0 = 1_700_000_000 * NS_PER_S


def make_table(
    mids: list[float] | np.ndarray,
    *,
    symbol: str = "AAAUSDT",
    ts: list[int] | None = None,
    gaps: list[bool] | None = None,
    highs: list[float] | np.ndarray | None = None,
    lows: list[float] | np.ndarray | None = None,
    spread_bps: float = 2.0,
) -> pa.Table:
    mid = np.asarray(mids, dtype=np.float64)
    n = len(mid)
    half = mid * spread_bps / 2e4
    times = [T0 + i * NS_PER_S for i in range(n)] if ts is None else ts
    table = pa.table(
        {
            "symbol": [symbol] * n,
            "ts": pa.array(times, pa.int64()),
            "warm": [True] * n,
            "gap": gaps or [False] * n,
            "px_bid": mid - half,
            "px_ask": mid + half,
            "px_mid": mid,
            "px_last": mid,
            "px_high": mid if highs is None else np.asarray(highs, dtype=np.float64),
            "px_low": mid if lows is None else np.asarray(lows, dtype=np.float64),
            "f1": np.arange(n, dtype=np.float64),
        }
    )
    meta = {FEATURE_NAMES_KEY: json.dumps(["f1"]).encode(), FEATURE_VERSION_KEY: b"t"}
    return table.replace_schema_metadata(meta)


FREE = CostModel(fee_tiers={"VIP0": 0.0}, impact_coef_bps=0.0)


def test_excursions_direction_and_threshold_on_a_known_path() -> None:
    mids = [100.0, 100.5, 99.0, 101.0, 100.0, 100.0]
    cfg = LabelConfig(horizon_s=3, threshold_bps=50.0)
    out = label_features(make_table(mids, spread_bps=0.0), FREE, cfg)
    assert out.column("ts").to_pylist() == [T0, T0 + NS_PER_S, T0 + 2 * NS_PER_S]
    row0 = {c: out.column(c)[0].as_py() for c in out.column_names}
    assert row0["mfe_long_bps"] == pytest.approx(100.0)
    assert row0["mae_long_bps"] == pytest.approx(100.0)
    assert row0["direction"] == 1
    assert row0["fwd_ret_bps"] == pytest.approx(100.0)
    assert row0["label_end_ts"] == T0 + 3 * NS_PER_S
    assert row0["in_play"] is True
    row2 = {c: out.column(c)[2].as_py() for c in out.column_names}
    assert row2["mfe_long_bps"] == pytest.approx((101.0 / 99.0 - 1) * 1e4)
    assert row2["net_best_bps"] == pytest.approx(row2["mfe_long_bps"])


def test_trade_extremes_count_and_costs_are_subtracted() -> None:
    mids = [100.0, 100.0, 100.0]
    lows = [100.0, 99.5, 100.0]
    cost = CostModel(impact_coef_bps=0.0)
    out = label_features(make_table(mids, lows=lows), cost, LabelConfig(horizon_s=2))
    assert out.num_rows == 1
    assert out.column("mfe_short_bps")[0].as_py() == pytest.approx(50.0)
    assert out.column("direction")[0].as_py() == -1
    assert out.column("cost_bps")[0].as_py() == pytest.approx(12.0)
    assert out.column("net_best_bps")[0].as_py() == pytest.approx(38.0)


def test_rows_whose_window_crosses_a_gap_or_missing_tick_are_dropped() -> None:
    mids = np.full(10, 100.0)
    gaps = [False] * 10
    gaps[5] = True
    out = label_features(make_table(mids, gaps=gaps), FREE, LabelConfig(horizon_s=2))
    kept = [(t - T0) // NS_PER_S for t in out.column("ts").to_pylist()]
    assert kept == [0, 1, 2, 5, 6, 7]
    ts = [T0 + i * NS_PER_S for i in (0, 1, 2, 4, 5, 6)]
    out = label_features(make_table(np.full(6, 100.0), ts=ts), FREE, LabelConfig(horizon_s=2))
    assert [(t - T0) // NS_PER_S for t in out.column("ts").to_pylist()] == [0, 4]


def test_windows_never_cross_symbols_and_input_is_untouched() -> None:
    a = make_table(np.full(4, 100.0), symbol="AAAUSDT")
    b = make_table(np.full(4, 50.0), symbol="BBBUSDT")
    table = pa.concat_tables([b, a])
    before = table.to_pydict()
    out = label_features(table, FREE, LabelConfig(horizon_s=2))
    assert out.column("symbol").to_pylist() == ["AAAUSDT"] * 2 + ["BBBUSDT"] * 2
    assert table.to_pydict() == before
    assert out.schema.metadata == table.schema.metadata


@given(values=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=60), n=st.integers(1, 12))
def test_forward_window_max_matches_brute_force(values: list[float], n: int) -> None:
    arr = np.asarray(values, dtype=np.float64)
    got = forward_window_max(arr, n)
    for i in range(len(arr)):
        window = arr[i + 1 : i + n + 1]
        expect = window.max() if i + n < len(arr) else -np.inf
        assert got[i] == expect


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(-30.0, 30.0), min_size=8, max_size=40),
    horizon=st.integers(1, 6),
    shock=st.floats(-500.0, 500.0),
    data=st.data(),
)
def test_labels_never_look_past_the_horizon(
    steps: list[float], horizon: int, shock: float, data: st.DataObject
) -> None:
    mids = 100.0 * np.exp(np.cumsum(steps) / 1e4)
    cfg = LabelConfig(horizon_s=horizon, threshold_bps=5.0)
    base = label_features(make_table(mids), FREE, cfg).to_pydict()
    if not base["ts"]:
        return
    row = data.draw(st.integers(0, len(base["ts"]) - 1))
    t_idx = (base["ts"][row] - T0) // NS_PER_S
    changed = mids.copy()
    changed[t_idx + horizon + 1 :] *= np.exp(shock / 1e4)
    after = label_features(make_table(changed), FREE, cfg).to_pydict()
    j = after["ts"].index(base["ts"][row])
    for name in ("mfe_long_bps", "mae_long_bps", "net_best_bps", "in_play", "fwd_ret_bps"):
        assert after[name][j] == pytest.approx(base[name][row]), name
    window = mids[t_idx + 1 : t_idx + horizon + 1]
    expect_mfe = max((window.max() / mids[t_idx] - 1) * 1e4, 0.0)
    assert base["mfe_long_bps"][row] == pytest.approx(expect_mfe, abs=1e-9)


def bar_only(table: pa.Table) -> pa.Table:
    """The same rows as bars alone give them: no book, prices from the bar."""
    nan = pa.array(np.full(table.num_rows, np.nan))
    for name in ("px_bid", "px_ask", "px_mid"):
        table = table.set_column(table.schema.get_field_index(name), name, nan)
    return table


def test_bars_without_a_book_are_labelled_only_with_an_assumed_spread() -> None:
    mids = [100.0, 100.0, 100.0]
    lows = [100.0, 99.5, 100.0]
    cost = CostModel(impact_coef_bps=0.0)
    bars = bar_only(make_table(mids, lows=lows))
    assert label_features(bars, cost, LabelConfig(horizon_s=2)).num_rows == 0
    assumed = LabelConfig(horizon_s=2, assumed_spread_bps=4.0)
    out = label_features(bars, cost, assumed)
    assert out.num_rows == 1
    assert out.column("mfe_short_bps")[0].as_py() == pytest.approx(50.0)
    assert out.column("cost_bps")[0].as_py() == pytest.approx(10.0 + 4.0)  # fees + spread
    assert out.column("net_best_bps")[0].as_py() == pytest.approx(36.0)


@pytest.mark.parametrize("spread", [-1.0, float("nan"), 1_000.0])
def test_an_assumed_spread_outside_0_to_1000_bps_is_refused(spread: float) -> None:
    with pytest.raises(ValueError, match="assumed_spread_bps"):
        LabelConfig(assumed_spread_bps=spread)
