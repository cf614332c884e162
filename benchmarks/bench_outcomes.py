"""Live outcome resolution: ``OutcomeResolver.on_tick`` for 500 symbols, H = 300 s.

Subject: the streaming resolver (online van Herk window extremes over a per-symbol ring),
fed one tick of prices + a champion batch and a challenger batch (500 predictions each),
after a warm-up that fills every pending slot (2 × 500 × 300 predictions in flight).
Reference: the naive way — keep each symbol's last H+1 rows in a deque and, per
prediction due, re-check the window and take max/min over the stored rows in Python.
Also: the cost of ``metrics()`` over a full one-hour window (500 × 3600 rows).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from benchmarks.harness import latency_percentiles, report_latency
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import NS_PER_S
from csx_core.ml.labels import LabelConfig
from csx_core.outcomes import (
    CHALLENGER,
    CHAMPION,
    OutcomeResolver,
    PredictionBatch,
    ResolverConfig,
    RollingOutcomes,
)

N_SYMBOLS = 500
T0 = 1_700_000_000 * NS_PER_S


class Market:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.mid = np.full(N_SYMBOLS, 100.0)
        self.symbols = [f"S{i:04d}USDT" for i in range(N_SYMBOLS)]
        self.t = 0

    def tick(self) -> tuple[int, np.ndarray, np.ndarray]:
        self.mid = self.mid * np.exp(self.rng.normal(0, 8e-5, N_SYMBOLS))
        m = self.mid
        half = m * 1e-4
        wig = np.abs(self.rng.normal(0, 5e-5, N_SYMBOLS)) * m
        prices = np.column_stack([m - half, m + half, m, m, m + wig, m - wig])
        ts = T0 + self.t * NS_PER_S
        self.t += 1
        return ts, prices, self.rng.random((2, N_SYMBOLS))


class NaiveResolver:
    """Per symbol: deque of the last n+1 rows (ts, bid, ask, mid, high, low, gap) and a dict
    of pending predictions by ts; every due prediction rechecks and rescans its window."""

    def __init__(self, cost: CostModel, labels: LabelConfig) -> None:
        self.cost, self.labels = cost, labels
        self.n = labels.horizon_ticks
        self.rows: dict[str, deque[tuple[float, ...]]] = {}
        self.pending: dict[str, dict[int, float]] = {}
        self.in_play = 0

    def on_tick(self, ts: int, symbols: list[str], prices: np.ndarray, p: np.ndarray) -> None:
        n, tick_ns, h_ns = self.n, self.labels.tick_s * NS_PER_S, self.labels.horizon_ns
        due: list[tuple[float, float, float, float]] = []
        for i, sym in enumerate(symbols):
            bid, ask, mid, _, high, low = prices[i].tolist()
            rows = self.rows.setdefault(sym, deque(maxlen=n + 1))
            rows.append((ts, bid, ask, mid, high, low))
            pend = self.pending.setdefault(sym, {})
            if pend.pop(ts - h_ns, None) is not None and len(rows) == n + 1:
                r = list(rows)
                if all(r[k + 1][0] - r[k][0] == tick_ns for k in range(n)):
                    m = r[0][3]
                    hi = max(max(x[4], x[3]) for x in r[1:])
                    lo = min(min(x[5], x[3]) for x in r[1:])
                    best = max((hi - m) / m * 1e4, (m - lo) / m * 1e4, 0.0)
                    due.append((r[0][1], r[0][2], best, m))
            pend[ts] = float(p[i])
        if due:
            d = np.array(due)
            cost = self.cost.total_bps(d[:, 0], d[:, 1], holding_s=self.labels.horizon_s)
            self.in_play += int((d[:, 2] - cost > self.labels.threshold_bps).sum())


def run(*, quick: bool) -> None:
    cost = CostModel()
    labels = LabelConfig(horizon_s=300, tick_s=1, threshold_bps=10.0)
    n = labels.horizon_ticks
    market = Market(1)
    resolver = OutcomeResolver(cost, labels, ResolverConfig(window_s=3600))
    syms = market.symbols
    ones = np.ones(N_SYMBOLS, np.int8)

    def subject_tick() -> None:
        ts, prices, p = market.tick()
        batches = [
            PredictionBatch(CHAMPION, "champ", syms, p[0], ones),
            PredictionBatch(CHALLENGER, "chall", syms, p[1], ones),
        ]
        resolver.on_tick(ts, syms, prices, np.zeros(N_SYMBOLS, bool), batches)

    for _ in range(n + 5):
        subject_tick()
    assert resolver.pending(CHAMPION) == N_SYMBOLS * n
    calls = 600 if quick else 3000
    print(
        f"\n## on_tick, {N_SYMBOLS} symbols, H={labels.horizon_s}s, 2 roles, "
        f"{2 * N_SYMBOLS * n:,} predictions pending"
    )
    stats = latency_percentiles(subject_tick, calls=calls)
    report_latency(f"OutcomeResolver.on_tick ({calls} ticks)", stats)

    naive = NaiveResolver(cost, labels)
    ref_market = Market(1)
    for _ in range(n + 1):
        ts, prices, p = ref_market.tick()
        naive.on_tick(ts, syms, prices, p[0])

    def reference_tick() -> None:
        ts, prices, p = ref_market.tick()
        naive.on_tick(ts, syms, prices, p[0])

    ref_calls = 30 if quick else 120
    ref = latency_percentiles(reference_tick, calls=ref_calls)
    report_latency(f"naive per-prediction rescan, 1 role ({ref_calls} ticks)", ref)
    print(
        f"  ratio (reference p50 / subject p50): {ref['p50_us'] / stats['p50_us']:.0f}x "
        f"(reference resolves one role, the subject two)"
    )

    m = resolver.metrics(CHAMPION)
    print(
        f"  champion after {resolver.ticks} ticks: resolved {m.resolved_total:,}, "
        f"window {m.count:,}, base rate {m.base_rate:.3f}, dropped {m.dropped_total}"
    )

    ticks = 600 if quick else 3600
    window = RollingOutcomes(window_s=3600, max_rows=2_000_000)
    rng = np.random.default_rng(2)
    for t in range(ticks):
        p = rng.random(N_SYMBOLS)
        window.append(
            T0 + t * NS_PER_S,
            p,
            rng.random(N_SYMBOLS) < p,
            rng.random(N_SYMBOLS) < 0.02,
            rng.random(N_SYMBOLS) < 0.5,
        )
    runs = []
    for _ in range(3):
        window._cache = None
        start = time.perf_counter()
        window.summary()
        runs.append(time.perf_counter() - start)
    print(
        f"  metrics() over a {len(window):,}-row window (uncached): "
        f"median {sorted(runs)[1] * 1e3:.0f} ms; cached: free"
    )
