"""Outcome resolver: hand-computed labels, drops, rolling metrics, roles, caps, shadow."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from csx_core.contracts import Direction, PredictionSnapshot, ReasonCode
from csx_core.features import FEATURE_INDEX, FEATURE_NAMES, TickFrame
from csx_core.ml import metrics as mx
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import NS_PER_S
from csx_core.ml.labels import LabelConfig
from csx_core.ml.scorer import Scores
from csx_core.outcomes import (
    CHALLENGER,
    CHAMPION,
    COUNTER_NAMES,
    GAUGE_NAMES,
    OutcomeResolver,
    PredictionBatch,
    Resolved,
    ResolverConfig,
    RollingOutcomes,
    ShadowScorer,
    label_config_of,
)

T0 = 1_700_000_000 * NS_PER_S
S = NS_PER_S
NAN = math.nan
COST = CostModel(impact_coef_bps=0.0)  # 10 bps fees + the quoted spread
LABELS = LabelConfig(horizon_s=2, tick_s=1, threshold_bps=10.0)


def px(mid: float, *, high: float = NAN, low: float = NAN, bid: float | None = None) -> list[float]:
    b = mid - 0.01 if bid is None else bid
    return [b, mid + 0.01, mid, mid, high, low]


def batch(role: str, symbols: list[str], p: list[float], model: str = "m1") -> PredictionBatch:
    return PredictionBatch(role, model, symbols, np.array(p), np.ones(len(p), np.int8))


def flat_tick(
    resolver: OutcomeResolver, ts: int, symbols: list[str], preds: Sequence[PredictionBatch] = ()
) -> list[Resolved]:
    prices = np.array([px(100.0) for _ in symbols])
    return resolver.on_tick(ts, symbols, prices, np.zeros(len(symbols), bool), preds)


def test_hand_computed_resolution() -> None:
    r = OutcomeResolver(COST, LABELS)
    syms = ["AUSDT", "BUSDT", "CUSDT", "DUSDT"]
    p0 = np.array([px(100.0), px(100.0), px(100.0), px(100.0, bid=NAN)])
    assert (
        r.on_tick(T0, syms, p0, np.zeros(4, bool), [batch(CHAMPION, syms, [0.9, 0.2, 0.5, 0.5])])
        == []
    )
    p1 = np.array([px(100.0, high=100.30), px(100.0, low=99.85), px(100.0), px(100.0)])
    assert r.on_tick(T0 + S, syms, p1, np.array([False, False, True, False])) == []
    p2 = np.array([px(100.1), px(100.0), px(100.0), px(100.0)])
    (res,) = r.on_tick(T0 + 2 * S, syms, p2, np.zeros(4, bool))
    assert (res.role, res.model_id, res.ts, res.symbols) == (CHAMPION, "m1", T0 + 2 * S, syms[:2])
    lab = res.labels
    assert lab["cost_bps"] == pytest.approx([12.0, 12.0])
    assert lab["mfe_long_bps"] == pytest.approx([30.0, 0.0])
    assert lab["mfe_short_bps"] == pytest.approx([0.0, 15.0])
    assert lab["net_best_bps"] == pytest.approx([18.0, 3.0])
    assert lab["fwd_ret_bps"] == pytest.approx([10.0, 0.0])
    assert list(lab["direction"]) == [1, -1]
    assert list(res.in_play) == [True, False]
    assert list(res.p) == [0.9, 0.2]
    m = r.metrics(CHAMPION)
    assert (m.resolved_total, m.dropped_window, m.dropped_at_t, m.pending) == (2, 1, 1, 0)
    assert m.brier == pytest.approx(((0.9 - 1) ** 2 + 0.2**2) / 2)
    assert m.base_rate == 0.5


def test_a_move_that_only_beats_fees_is_not_in_play() -> None:
    r = OutcomeResolver(COST, LABELS)
    r.on_tick(
        T0, ["AUSDT"], np.array([px(100.0)]), np.zeros(1, bool), [batch(CHAMPION, ["AUSDT"], [0.5])]
    )
    r.on_tick(T0 + S, ["AUSDT"], np.array([px(100.0, high=100.2199)]), np.zeros(1, bool))
    (res,) = r.on_tick(T0 + 2 * S, ["AUSDT"], np.array([px(100.0)]), np.zeros(1, bool))
    assert res.labels["net_best_bps"][0] == pytest.approx(9.99)
    assert not res.in_play[0]


def test_missing_tick_drops_at_once_but_a_sub_tick_frame_does_not() -> None:
    r = OutcomeResolver(COST, LABELS)
    flat_tick(r, T0, ["AUSDT", "BUSDT"], [batch(CHAMPION, ["AUSDT", "BUSDT"], [0.5, 0.5])])
    # A and B absent from a half-step frame: their next rows may still be one tick on
    flat_tick(r, T0 + S // 2, ["CUSDT"])
    assert r.pending(CHAMPION) == 2
    flat_tick(r, T0 + S, ["AUSDT"])  # B absent one full tick later: lost
    assert r.pending(CHAMPION) == 1
    assert r.metrics(CHAMPION).dropped_window == 1
    (res,) = flat_tick(r, T0 + 2 * S, ["AUSDT", "BUSDT"])
    assert res.symbols == ["AUSDT"]
    assert r.metrics(CHAMPION).pending == 0


def test_rolling_window_evicts_by_tick_time() -> None:
    r = OutcomeResolver(COST, LABELS, ResolverConfig(window_s=3))
    syms = ["AUSDT"]
    for i in range(10):
        flat_tick(r, T0 + i * S, syms, [batch(CHAMPION, syms, [0.1 * i])])
        if i >= 2:
            assert r.metrics(CHAMPION).count == min(i - 1, 3)
    assert r.metrics(CHAMPION).resolved_total == 8
    assert r.metrics(CHAMPION).mean_p == pytest.approx(np.mean([0.5, 0.6, 0.7]))
    flat_tick(r, T0 + 20 * S, syms)
    assert r.metrics(CHAMPION).count == 0
    assert math.isnan(r.metrics(CHAMPION).brier)


def test_window_row_cap_trims_oldest_and_counts() -> None:
    w = RollingOutcomes(window_s=100, max_rows=5)
    for i in range(3):
        p = np.full(3, 0.1 * (i + 1))
        w.append(T0 + i * S, p, np.ones(3, bool), np.zeros(3, bool), np.ones(3, bool))
    assert len(w) == 5
    assert w.trimmed_total == 4
    assert w.arrays()[0] == pytest.approx([0.2, 0.2, 0.3, 0.3, 0.3])


def run_random(
    r: OutcomeResolver, *, seed: int, ticks: int, symbols: int
) -> dict[str, list[Resolved]]:
    rng = np.random.default_rng(seed)
    names = [f"S{i:03d}USDT" for i in range(symbols)]
    mid = np.full(symbols, 100.0)
    out: dict[str, list[Resolved]] = {CHAMPION: [], CHALLENGER: []}
    for i in range(ticks):
        mid = mid * np.exp(rng.normal(0, 1e-3, symbols))
        prices = np.column_stack([mid - 0.01, mid + 0.01, mid, mid, mid * 1.0005, mid * 0.9995])
        champ = batch(CHAMPION, names, list(rng.random(symbols)), "champ-1")
        chall = batch(CHALLENGER, names[::2], list(rng.random(len(names[::2]))), "chall-1")
        for res in r.on_tick(T0 + i * S, names, prices, np.zeros(symbols, bool), [champ, chall]):
            out[res.role].append(res)
    return out


def test_metrics_equal_offline_metrics_per_role() -> None:
    labels = LabelConfig(horizon_s=5, tick_s=1, threshold_bps=2.0)
    r = OutcomeResolver(COST, labels, ResolverConfig(window_s=10**6, top_k=3))
    out = run_random(r, seed=3, ticks=60, symbols=12)
    results = {}
    for role, k in ((CHAMPION, 12), (CHALLENGER, 6)):
        p = np.concatenate([x.p for x in out[role]])
        y = np.concatenate([x.in_play for x in out[role]])
        top = np.concatenate([x.top_k for x in out[role]])
        m = r.metrics(role)
        assert m.count == m.resolved_total == len(p) == 55 * k
        assert 0 < y.mean() < 1
        assert m.brier == mx.brier(y, p)
        assert m.ece == mx.ece(y, p, 10)
        assert m.base_rate == y.mean()
        assert m.topk_count == 55 * 3 == top.sum()
        assert m.topk_hit_rate == y[top].mean()
        assert m.model_id == ("champ-1" if role == CHAMPION else "chall-1")
        for x in out[role]:  # nothing dropped here: each resolved batch is a whole tick
            assert np.array_equal(x.top_k, mx.top_k_per_group(np.zeros(len(x.p), int), x.p, 3))
        results[role] = m
    assert results[CHAMPION].brier != results[CHALLENGER].brier
    assert set(r.gauges()) == {CHAMPION, CHALLENGER}
    g = r.gauges()[CHALLENGER]
    assert set(g) == set(GAUGE_NAMES.values())
    assert set(g) > COUNTER_NAMES
    assert g["csx_live_brier"] == results[CHALLENGER].brier
    assert g["csx_live_resolved_total"] == 55 * 6


def test_top_k_mask_from_batch_is_used() -> None:
    r = OutcomeResolver(COST, LABELS)
    syms = ["AUSDT", "BUSDT"]
    pb = PredictionBatch(
        CHAMPION,
        "m",
        syms,
        np.array([0.1, 0.9]),
        np.ones(2, np.int8),
        top_k=np.array([True, False]),
    )
    flat_tick(r, T0, syms, [pb])
    flat_tick(r, T0 + S, syms)
    (res,) = flat_tick(r, T0 + 2 * S, syms)
    assert list(res.top_k) == [True, False]


def test_symbol_cap_and_pending_bound() -> None:
    labels = LabelConfig(horizon_s=4, tick_s=1)
    r = OutcomeResolver(COST, labels, ResolverConfig(max_symbols=2))
    syms = ["AUSDT", "BUSDT", "CUSDT"]
    for i in range(3):
        flat_tick(r, T0 + i * S, syms, [batch(CHAMPION, syms, [0.5, 0.5, 0.5])])
    assert r.symbols_rejected == 3
    m = r.metrics(CHAMPION)
    assert m.dropped_at_t == 3
    assert m.pending == 6
    for i in range(3, 50):
        flat_tick(r, T0 + i * S, syms, [batch(CHAMPION, syms, [0.5, 0.5, 0.5])])
        assert r.pending(CHAMPION) <= 2 * labels.horizon_ticks


def test_state_grows_past_initial_capacity() -> None:
    names = [f"S{i:03d}USDT" for i in range(150)]
    r = OutcomeResolver(COST, LABELS)
    for i in range(4):
        flat_tick(r, T0 + i * S, names, [batch(CHAMPION, names, [0.5] * 150)])
    assert r.metrics(CHAMPION).resolved_total == 300


def test_refuses_time_going_back_and_duplicate_symbols() -> None:
    r = OutcomeResolver(COST, LABELS)
    flat_tick(r, T0, ["AUSDT"])
    with pytest.raises(ValueError, match="not after"):
        flat_tick(r, T0, ["AUSDT"])
    with pytest.raises(ValueError, match="twice"):
        flat_tick(r, T0 + S, ["AUSDT"], [batch(CHAMPION, ["AUSDT", "AUSDT"], [0.1, 0.2])])
    with pytest.raises(ValueError, match="twice"):
        flat_tick(r, T0 + 2 * S, ["AUSDT", "AUSDT"])
    r3 = OutcomeResolver(COST, LabelConfig(horizon_s=2, volume_feature="qvol_1m"))
    with pytest.raises(ValueError, match="qvol_1m"):
        flat_tick(r3, T0, ["AUSDT"])
    r2 = OutcomeResolver(COST, LABELS, ResolverConfig(max_roles=1))
    with pytest.raises(ValueError, match="roles"):
        flat_tick(
            r2,
            T0,
            ["AUSDT"],
            [batch(CHAMPION, ["AUSDT"], [0.1]), batch(CHALLENGER, ["AUSDT"], [0.1])],
        )


def test_unknown_role_metrics_are_empty() -> None:
    m = OutcomeResolver(COST, LABELS).metrics(CHALLENGER)
    assert (m.count, m.resolved_total, m.dropped_total, m.pending) == (0, 0, 0, 0)
    assert math.isnan(m.ece)
    assert m.to_dict()["dropped_total"] == 0


def test_batch_from_snapshots() -> None:
    snaps = [
        PredictionSnapshot(
            symbol=s,
            ts=T0,
            p_inplay=p,
            raw_score=0.0,
            direction=d,
            backtest_net_edge_bps=None,
            model_id="m7",
            reason_codes=(),
        )
        for s, p, d in (("AUSDT", 0.3, Direction.UP), ("BUSDT", 0.6, Direction.DOWN))
    ]
    b = PredictionBatch.from_snapshots(CHAMPION, snaps, top_k_symbols={"BUSDT"})
    assert b.top_k is not None
    assert (b.model_id, list(b.direction), list(b.top_k)) == ("m7", [1, -1], [False, True])


class FakeScorer:
    """Probability = the first feature it asks for; direction from the second."""

    model_id = "fake-challenger"
    feature_names: tuple[str, ...] = ("spread_bps", "ret_1m")

    def __init__(self) -> None:
        self.reason_rows: list[np.ndarray | None] = []

    def score(self, x: np.ndarray, *, reason_rows: np.ndarray | None = None) -> Scores:
        self.reason_rows.append(reason_rows)
        n = len(x)
        return Scores(
            p=x[:, 0],
            raw=x[:, 0],
            direction=np.sign(x[:, 1]).astype(np.int8),
            reasons=[() for _ in range(n)],
            confidence=np.full(n, np.nan),
            edge_bps=np.full(n, np.nan),
        )

    def reasons(self, x: np.ndarray) -> list[tuple[ReasonCode, ...]]:
        return [() for _ in range(len(x))]


def frame(ts: int, symbols: list[str], spread: list[float], ret: list[float]) -> TickFrame:
    values = np.full((len(symbols), len(FEATURE_NAMES)), NAN)
    values[:, FEATURE_INDEX["spread_bps"]] = spread
    values[:, FEATURE_INDEX["ret_1m"]] = ret
    prices = np.array([px(100.0) for _ in symbols])
    n = len(symbols)
    return TickFrame(ts, symbols, np.ones(n, bool), np.zeros(n, bool), prices, values)


def test_shadow_scorer_feeds_the_challenger_role_only() -> None:
    fake = FakeScorer()
    shadow = ShadowScorer(fake)
    r = OutcomeResolver(COST, LABELS)
    syms = ["AUSDT", "BUSDT"]
    for i in range(3):
        f = frame(T0 + i * S, syms, [0.25, 0.75], [-1.0, 1.0])
        b = shadow.score_frame(f)
        assert (b.role, b.model_id, list(b.p), list(b.direction)) == (
            CHALLENGER,
            "fake-challenger",
            [0.25, 0.75],
            [-1, 1],
        )
        out = r.on_frame(f, [b])
    assert [x.role for x in out] == [CHALLENGER]
    assert r.roles == (CHALLENGER,)
    assert fake.reason_rows[0] is not None
    assert len(fake.reason_rows[0]) == 0  # no reason codes computed for a shadow


def test_shadow_refuses_unknown_features() -> None:
    fake = FakeScorer()
    fake.feature_names = ("no_such_feature",)
    with pytest.raises(ValueError, match="unknown features"):
        ShadowScorer(fake)


def test_label_config_from_package_training_and_accepts() -> None:
    labels = label_config_of(
        {"labels": {"horizon_s": 300, "tick_s": 1, "threshold_bps": 10.0, "volume_feature": None}}
    )
    r = OutcomeResolver(COST, labels)
    assert r.n == 300
    assert r.accepts(COST, LabelConfig())
    assert not r.accepts(CostModel(), labels)
    assert not r.accepts(COST, LabelConfig(threshold_bps=12.0))


def test_metrics_job_captures_the_window_now_and_computes_later_off_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    r = OutcomeResolver(COST, LABELS)
    syms = ["AUSDT"]
    for i in range(4):
        flat_tick(r, T0 + i * S, syms, [batch(CHAMPION, syms, [0.25])])
    job = r.metrics_job(CHAMPION)
    for i in range(4, 8):
        flat_tick(r, T0 + i * S, syms, [batch(CHAMPION, syms, [0.75])])
    with ThreadPoolExecutor(1) as pool:
        then = pool.submit(job).result(timeout=10)
    assert (then.resolved_total, then.count, then.mean_p) == (2, 2, 0.25)
    now = r.metrics(CHAMPION)
    assert (now.resolved_total, now.count, now.pending) == (6, 6, 2)
    assert now.mean_p == pytest.approx((4 * 0.25 + 2 * 0.75) / 6)  # made at ticks 0..5
