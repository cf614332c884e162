"""Calibration, metrics, the baseline heuristic and the reason-code table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.contracts import ReasonCode
from csx_core.ml import metrics as m
from csx_core.ml.baseline import BaselineScorer, fit_baseline
from csx_core.ml.calibration import Calibrator, fit_calibrator, sigmoid
from csx_core.ml.frame import feature_names, matrix
from csx_core.ml.scorer import score_table
from csx_core.ml.synthetic import synthetic_feature_table
from csx_core.ranking.reasons import ReasonMapper, match_rule


def miscalibrated(n: int = 20_000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores whose sigmoid is badly overconfident and biased."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = rng.random(n) < sigmoid(z - 1.0)
    return 3.0 * z + 1.0, y


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_improves_ece_on_a_miscalibrated_score(method: str) -> None:
    raw, y = miscalibrated()
    before = m.ece(y, sigmoid(raw))
    cal = fit_calibrator(raw[:10_000], y[:10_000], method)
    after = m.ece(y[10_000:], cal.apply(raw[10_000:]))
    assert before > 0.1
    assert after < 0.03
    assert Calibrator.from_dict(cal.to_dict()) == cal


def test_platt_recovers_the_true_mapping() -> None:
    raw, y = miscalibrated(100_000)
    cal = fit_calibrator(raw, y, "platt")
    assert cal.a == pytest.approx(1 / 3, abs=0.03)
    assert cal.b == pytest.approx(-4 / 3, abs=0.06)


def test_platt_survives_a_perfectly_separable_fold() -> None:
    raw = np.linspace(-5, 5, 200)
    cal = fit_calibrator(raw, raw > 0, "platt")
    p = cal.apply(raw)
    assert np.isfinite(cal.a)
    assert np.isfinite(cal.b)
    assert 0 < p.min() < 0.1
    assert 0.9 < p.max() < 1


def test_platt_refuses_a_single_class() -> None:
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator(np.zeros(10), np.zeros(10, dtype=bool))


@settings(max_examples=50, deadline=None)
@given(
    y=st.lists(st.booleans(), min_size=2, max_size=80),
    seed=st.integers(0, 100),
)
def test_numpy_metrics_match_scikit_learn(y: list[bool], seed: int) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    yy = np.array(y)
    if yy.all() or not yy.any():
        assert np.isnan(m.roc_auc(yy, np.zeros(len(yy))))
        return
    score = np.round(np.random.default_rng(seed).random(len(yy)), 1)
    assert m.roc_auc(yy, score) == pytest.approx(roc_auc_score(yy, score))
    assert m.average_precision(yy, score) == pytest.approx(average_precision_score(yy, score))


def test_top_k_per_group_and_ece_bins() -> None:
    group = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.1, 0.9, 0.5, 0.3, 0.3, 0.2])
    assert m.top_k_per_group(group, score, 2).tolist() == [False, True, True, True, True, False]
    p = np.array([0.1] * 50 + [0.9] * 50)
    y = np.array([False] * 45 + [True] * 5 + [True] * 45 + [False] * 5)
    assert m.ece(y, p, n_bins=2) == pytest.approx(0.0)
    assert m.ece(~y, p, n_bins=2) == pytest.approx(0.8)


def test_ranks_in_group_give_every_top_k() -> None:
    rng = np.random.default_rng(3)
    group = np.sort(rng.integers(0, 30, 600))
    score = np.round(rng.random(600), 2)  # ties: broken by row order
    rank = m.rank_in_group(group, score)
    for k in (1, 2, 5, 40):
        top = m.top_k_per_group(group, score, k)
        assert np.array_equal(rank < k, top)
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            best = rows[np.lexsort((rows, -score[rows]))][:k]
            assert set(np.flatnonzero(top & (group == g))) == set(best)


def test_level_sums_are_exact_for_bootstrap_counts() -> None:
    rng = np.random.default_rng(4)
    y = rng.random(5000) < 0.2
    ss = m.SortedScores(y, np.round(rng.random(5000), 3))
    ws = ss.weights(rng.integers(0, 40, 5000).astype(np.float64))
    levels = ss.level_sums(ws)
    assert np.array_equal(levels.pos, np.add.reduceat(ws.w * ss.y, ss.starts))
    assert np.array_equal(levels.cnt, np.add.reduceat(ws.w, ss.starts))
    assert np.array_equal(levels.cum_pos, np.cumsum(levels.pos))
    assert np.array_equal(levels.cum_cnt, np.cumsum(levels.cnt))


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("vol_z_60s", 3.0, ReasonCode.VOLUME_SURGE),
        ("quote_vol_60s", 1e6, ReasonCode.VOLUME_SURGE),
        ("trade_rate_z", 2.0, ReasonCode.TRADE_RATE_SURGE),
        ("ret_60s", 12.0, ReasonCode.PRICE_BREAKOUT_UP),
        ("ret_60s", -12.0, ReasonCode.PRICE_BREAKOUT_DOWN),
        ("taker_imb_30s", -0.4, ReasonCode.TAKER_SELL_PRESSURE),
        ("book_imb_l1", 0.4, ReasonCode.BOOK_BID_HEAVY),
        ("rv_60s", 2.0, ReasonCode.VOLATILITY_EXPANSION),
        ("liq_notional_60s", 1.0, ReasonCode.LIQUIDATION_CASCADE),
        ("funding_z", 1.0, ReasonCode.FUNDING_EXTREME),
    ],
)
def test_reason_table_maps_names_and_signs(name: str, value: float, code: ReasonCode) -> None:
    mapper = ReasonMapper((name,))
    assert mapper.top_reasons(np.array([[1.0]]), np.array([[value]])) == [(code,)]


def test_reasons_use_only_positive_mapped_contributions_top_k() -> None:
    names = ("noise_0", "vol_z_60s", "ret_60s", "spread_bps", "rv_60s")
    mapper = ReasonMapper(names, centers=np.array([0, 0, 0, 2.0, 0]))
    contrib = np.array([[9.0, 1.0, -2.0, 0.5, 0.7]])
    values = np.array([[0.0, 3.0, 5.0, 1.0, 1.0]])
    assert match_rule("noise_0") is None
    assert mapper.top_reasons(contrib, values) == [
        (ReasonCode.VOLUME_SURGE, ReasonCode.VOLATILITY_EXPANSION, ReasonCode.TIGHT_SPREAD)
    ]


def _split_table(table: pa.Table) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    from csx_core.ml.costs import CostModel
    from csx_core.ml.labels import LabelConfig, label_features

    labelled = label_features(table, CostModel(), LabelConfig(horizon_s=60, threshold_bps=-4))
    names = feature_names(labelled)
    y = labelled.column("in_play").to_numpy(zero_copy_only=False)
    return matrix(labelled, names), names, y


def test_baseline_is_calibrated_and_informative() -> None:
    x, names, y = _split_table(synthetic_feature_table(n_symbols=6, n_ticks=2500, seed=3))
    half = len(y) // 2
    base = fit_baseline(
        names=names,
        x_train=x[:half],
        y_train=y[:half],
        x_calib=x[:half],
        y_calib=y[:half],
    )
    plain = base.score(x[half:], reason_rows=np.empty(0, dtype=np.int64))
    top = np.argsort(-plain.p)[:3]
    scores = base.score(x[half:], reason_rows=top)
    assert m.roc_auc(y[half:], scores.p) > 0.6
    assert all(len(scores.reasons[i]) >= 1 for i in top)
    assert sum(len(r) > 0 for r in scores.reasons) == 3
    again = BaselineScorer.from_dict(base.to_dict()).score(x[half:])
    np.testing.assert_array_equal(again.p, scores.p)


def test_baseline_degrades_gracefully_without_its_features() -> None:
    table = synthetic_feature_table(n_symbols=3, n_ticks=800, seed=4)
    keep = ("trade_rate_z", "noise_0")
    x = matrix(table, keep)
    base = BaselineScorer(
        names=keep,
        calibrator=Calibrator("platt", a=1.0, b=-1.0),
        term_means=np.zeros(3),
    )
    scores = base.score(x)
    assert np.allclose(scores.p, sigmoid(np.array(-1.0)))
    assert set(scores.direction.tolist()) == {0}
    assert scores.reasons == [()] * len(x)
    assert score_table(base, table).p.shape == (table.num_rows,)


def test_every_engine_feature_has_a_reason_and_the_baseline_finds_its_inputs() -> None:
    names_mod = pytest.importorskip("csx_core.features.names")
    names = tuple(names_mod.FEATURE_NAMES)
    assert [n for n in names if match_rule(n) is None] == []
    from csx_core.ml.baseline import BaselineSpec

    cols = BaselineSpec().resolve(names)
    assert {role: names[j] for role, j in cols.items() if j is not None} == {
        "volume": "qvol_z_1m",
        "return": "ret_1m",
        "spread": "spread_bps",
    }


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(5, 60))
def test_weighted_metrics_equal_the_metrics_of_repeated_rows(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    p = np.round(rng.random(n), 1)
    w = rng.integers(0, 4, size=n).astype(np.float64)
    if w.sum() == 0:
        return
    rep = np.repeat(np.arange(n), w.astype(np.int64))
    ss = m.SortedScores(y, p)
    ws = ss.weights(w)
    for weighted, plain in (
        (ss.roc_auc(ws), m.roc_auc(y[rep], p[rep])),
        (ss.average_precision(ws), m.average_precision(y[rep], p[rep])),
        (ss.brier(ws), m.brier(y[rep], p[rep])),
    ):
        assert weighted == pytest.approx(plain, nan_ok=True)
    ones = ss.weights(np.ones(n))
    assert ss.ece(ones) == pytest.approx(m.ece(y, p))


@pytest.mark.parametrize("rows", [0, 1, 2047, 2048, 2049, 5000])
def test_the_feature_matrix_holds_each_column_in_order_nulls_as_nan(rows: int) -> None:
    rng = np.random.default_rng(rows)
    columns = {name: rng.normal(size=rows) for name in ("a", "b", "c")}
    nulls = rng.random(rows) < 0.1
    half = rows // 2
    table = pa.table(
        {
            "b": pa.chunked_array(  # two chunks: a block may straddle them
                [columns["b"][:half], pa.array(columns["b"][half:], mask=nulls[half:])],
                pa.float64(),
            ),
            "a": columns["a"],
            "c": columns["c"],
        }
    )
    x = matrix(table, ("c", "b", "a"))
    expected_b = np.where(
        np.arange(rows) >= half, np.where(nulls, np.nan, columns["b"]), columns["b"]
    )
    assert x.shape == (rows, 3)
    assert x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(
        x, np.column_stack([columns["c"], expected_b, columns["a"]]).reshape(rows, 3)
    )
