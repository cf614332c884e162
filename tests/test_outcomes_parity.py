"""Streaming resolution == batch ``label_features`` on the same ticks (property test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.features import (
    PRICE_COLUMNS,
    EngineConfig,
    FeatureEngine,
    drive_tables,
    frames_to_table,
)
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import NS_PER_S
from csx_core.ml.labels import LABEL_COLUMNS, LabelConfig, label_features
from csx_core.outcomes import CHAMPION, OutcomeResolver, PredictionBatch, ResolverConfig
from csx_core.sim import SimConfig
from csx_core.sim.market import simulate_day

T0 = 1_700_000_000 * NS_PER_S
COST = CostModel(impact_coef_bps=10.0)


@dataclass(frozen=True)
class Tick:
    ts: int
    symbols: list[str]
    prices: np.ndarray
    gap: np.ndarray
    volume: np.ndarray


def random_ticks(
    seed: int, *, n_symbols: int, n_ticks: int, tick_s: int, damage: float
) -> list[Tick]:
    """Random walks; with ``damage`` > 0 (a rate multiplier): missing rows, gaps, NaN
    mids/highs/lows, unusable books, irregular tick steps (double and half steps)."""
    rng = np.random.default_rng(seed)
    names = [f"S{i}USDT" for i in range(n_symbols)]
    mids = 100.0 * np.exp(np.cumsum(rng.normal(0, 2e-3, (n_ticks, n_symbols)), axis=0))
    ticks, ts = [], T0
    for t in range(n_ticks):
        present = rng.random(n_symbols) > 0.08 * damage
        rows = [i for i in range(n_symbols) if present[i]]
        mid = mids[t, rows].copy()
        spread = rng.uniform(0.5, 5.0, len(rows)) * mid / 1e4
        bid, ask = mid - spread / 2, mid + spread / 2
        high = mid * (1 + rng.uniform(0, 3e-3, len(rows)))
        low = mid * (1 - rng.uniform(0, 3e-3, len(rows)))
        gap = np.zeros(len(rows), bool)
        if damage:
            high[rng.random(len(rows)) < 0.3] = np.nan
            low[rng.random(len(rows)) < 0.3] = np.nan
            mid[rng.random(len(rows)) < 0.03 * damage] = np.nan
            bid[rng.random(len(rows)) < 0.03 * damage] = np.nan
            crossed = rng.random(len(rows)) < 0.03 * damage
            bid[crossed] = ask[crossed] + 0.01
            gap = rng.random(len(rows)) < 0.03 * damage
        prices = np.column_stack([bid, ask, mid, mid, high, low])
        volume = rng.lognormal(13, 1, len(rows))
        ticks.append(Tick(ts, [names[i] for i in rows], prices, gap, volume))
        step = tick_s * NS_PER_S
        if damage and rng.random() < 0.03 * damage:
            step = 2 * step if rng.random() < 0.5 else step // 2
        ts += step
    return ticks


def batch_labels(ticks: list[Tick], labels: LabelConfig) -> pa.Table:
    prices = np.concatenate([t.prices for t in ticks])
    table = pa.table(
        {
            "symbol": pa.array([s for t in ticks for s in t.symbols], pa.string()),
            "ts": pa.array(
                np.concatenate([np.full(len(t.symbols), t.ts) for t in ticks]), pa.int64()
            ),
            "warm": np.ones(len(prices), bool),
            "gap": np.concatenate([t.gap for t in ticks]),
            **{c: prices[:, k] for k, c in enumerate(PRICE_COLUMNS)},
            "qvol": np.concatenate([t.volume for t in ticks]),
        }
    )
    return label_features(table, COST, labels)


Got = dict[tuple[str, int], dict[str, object]]


def stream(ticks: list[Tick], labels: LabelConfig, seed: int) -> tuple[OutcomeResolver, Got]:
    rng = np.random.default_rng(seed)
    resolver = OutcomeResolver(COST, labels, ResolverConfig(window_s=10**6))
    got: dict[tuple[str, int], dict[str, object]] = {}
    horizon_ns = labels.horizon_ns
    for t in ticks:
        n = len(t.symbols)
        batch = PredictionBatch(CHAMPION, "m1", t.symbols, rng.random(n), np.ones(n, np.int8))
        volume = t.volume if labels.volume_feature else None
        for res in resolver.on_tick(t.ts, t.symbols, t.prices, t.gap, [batch], volume=volume):
            for i, sym in enumerate(res.symbols):
                row = {k: v[i] for k, v in res.labels.items()}
                got[(sym, res.ts - horizon_ns)] = row
    return resolver, got


def assert_same(table: pa.Table, got: Got, labels: LabelConfig) -> None:
    keys = list(
        zip(table.column("symbol").to_pylist(), table.column("ts").to_pylist(), strict=True)
    )
    assert set(keys) == set(got)
    for name in LABEL_COLUMNS:
        if name == "label_end_ts":
            continue
        want = table.column(name).to_numpy(zero_copy_only=False)
        have = np.array([got[k][name] for k in keys])
        assert np.array_equal(want, have, equal_nan=True), name
    end = table.column("label_end_ts").to_numpy()
    assert np.array_equal(end, table.column("ts").to_numpy() + labels.horizon_ns)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_symbols=st.integers(1, 4),
    n_ticks=st.integers(1, 60),
    horizon_ticks=st.integers(1, 7),
    tick_s=st.sampled_from([1, 2]),
    messy=st.booleans(),
    with_volume=st.booleans(),
)
def test_streaming_labels_equal_batch_labels(
    seed: int,
    n_symbols: int,
    n_ticks: int,
    horizon_ticks: int,
    tick_s: int,
    messy: bool,
    with_volume: bool,
) -> None:
    labels = LabelConfig(
        horizon_s=horizon_ticks * tick_s,
        tick_s=tick_s,
        threshold_bps=5.0,
        volume_feature="qvol" if with_volume else None,
    )
    ticks = random_ticks(
        seed, n_symbols=n_symbols, n_ticks=n_ticks, tick_s=tick_s, damage=1.0 if messy else 0.0
    )
    resolver, got = stream(ticks, labels, seed)
    table = batch_labels(ticks, labels)
    assert_same(table, got, labels)
    m = resolver.metrics(CHAMPION)
    total = sum(len(t.symbols) for t in ticks)
    assert m.resolved_total == table.num_rows
    assert m.resolved_total + m.dropped_total + m.pending == total


def test_long_path_with_every_kind_of_damage_matches_batch() -> None:
    """One longer run (several van Herk blocks per symbol) with a 60-tick horizon."""
    labels = LabelConfig(horizon_s=60, tick_s=1, threshold_bps=5.0)
    ticks = random_ticks(7, n_symbols=6, n_ticks=700, tick_s=1, damage=0.05)
    _, got = stream(ticks, labels, 7)
    table = batch_labels(ticks, labels)
    assert table.num_rows > 100
    assert_same(table, got, labels)


def test_feature_engine_frames_resolve_like_the_training_labels() -> None:
    """Simulated market → the live FeatureEngine → resolver, against ``label_features`` on
    the wide table of the very same frames, with a declared data gap in the middle."""
    tables = simulate_day(SimConfig(seed=5, n_symbols=3, days=1, trade_rate=2.0), 0)
    start = min(int(pc.min(t.column("ts_event")).as_py()) for t in tables.values())
    mid_ts, end_ts = start + 20 * 60 * NS_PER_S, start + 40 * 60 * NS_PER_S

    def between(a: int, b: int) -> dict[str, pa.Table]:
        return {
            k: t.filter(
                pc.and_(pc.greater_equal(t.column("ts_event"), a), pc.less(t.column("ts_event"), b))
            )
            for k, t in tables.items()
        }

    engine = FeatureEngine(EngineConfig())
    symbol = sorted(tables["trade"].column("symbol").unique().to_pylist())[1]

    def batches() -> Iterator[dict[str, pa.Table]]:
        yield between(start, mid_ts)
        engine.mark_gap(symbol, mid_ts - 30 * NS_PER_S, mid_ts - 20 * NS_PER_S)
        yield between(mid_ts, end_ts)

    frames = list(drive_tables(engine, batches()))
    assert any(f.gap[f.symbols.index(symbol)] for f in frames if symbol in f.symbols)
    labels = LabelConfig(horizon_s=60, tick_s=1, threshold_bps=5.0)
    resolver = OutcomeResolver(COST, labels, ResolverConfig(window_s=10**6))
    got: dict[tuple[str, int], dict[str, object]] = {}
    for f in frames:
        p = np.linspace(0.01, 0.99, len(f))
        for res in resolver.on_frame(
            f, [PredictionBatch(CHAMPION, "m", f.symbols, p, np.ones(len(f), np.int8))]
        ):
            for i, sym in enumerate(res.symbols):
                got[(sym, res.ts - labels.horizon_ns)] = {k: v[i] for k, v in res.labels.items()}
    table = label_features(frames_to_table(frames), COST, labels)
    assert table.num_rows > 3000
    assert 0 < np.mean(table.column("in_play").to_numpy(zero_copy_only=False)) < 1
    assert_same(table, got, labels)
    assert resolver.metrics(CHAMPION).dropped_window > 0
