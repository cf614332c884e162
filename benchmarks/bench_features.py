"""Feature engine: offline replay throughput, 500-symbol tick latency, live per-event cost.

The reference is a straightforward per-event pure-Python engine (deques of recent trades
per symbol and window, running sums, features read at each tick): the design the bucket
engine replaces.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.harness import latency_percentiles, measure, report, report_latency
from csx_core.contracts import BookTop, Trade
from csx_core.features import FeatureEngine, drive_tables
from csx_core.features.names import WINDOWS_S

S = 1_000_000_000
T0 = 1_767_225_600


def _symbols(n: int) -> list[str]:
    return ["BTCUSDT", *[f"S{i:03d}USDT" for i in range(1, n)]]


def mix(n_symbols: int, seconds: int, per_second: int, seed: int = 1) -> dict[str, pa.Table]:
    """An aggTrade/bookTicker mix (40 % trades), time-ordered, as contract tables."""
    rng = np.random.default_rng(seed)
    n = seconds * per_second
    ts = np.sort(rng.integers(T0 * S, (T0 + seconds) * S, n))
    sym = np.array(_symbols(n_symbols))[rng.integers(0, n_symbols, n)]
    is_trade = rng.random(n) < 0.4
    price = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    t, b = is_trade, ~is_trade
    trades = pa.table(
        {
            "symbol": sym[t],
            "ts_event": ts[t],
            "ts_recv": ts[t],
            "trade_id": np.arange(int(t.sum())),
            "price": price[t],
            "qty": rng.random(int(t.sum())) * 2,
            "buyer_is_maker": rng.random(int(t.sum())) < 0.5,
        }
    )
    books = pa.table(
        {
            "symbol": sym[b],
            "ts_event": ts[b],
            "ts_recv": ts[b],
            "update_id": np.arange(int(b.sum())),
            "bid_price": price[b],
            "bid_qty": rng.random(int(b.sum())),
            "ask_price": price[b] * 1.0001,
            "ask_qty": rng.random(int(b.sum())),
        }
    )
    return {
        "trade": trades.cast(Trade.arrow_schema()),
        "book_top": books.cast(BookTop.arrow_schema()),
    }


class ReferenceEngine:
    """Per-event pure Python: per symbol and window a deque of (ts, quote, buy quote) with
    running sums, plus the last book; ``tick`` reads count, volume, imbalance, spread."""

    def __init__(self) -> None:
        self.windows: dict[str, list[tuple[deque[tuple[int, float, float]], list[float]]]] = {}
        self.book: dict[str, tuple[float, float]] = {}
        self.last: dict[str, float] = {}

    def trade(self, sym: str, ts: int, price: float, qty: float, taker_sell: bool) -> None:
        wins = self.windows.get(sym)
        if wins is None:
            wins = self.windows[sym] = [(deque(), [0.0, 0.0, 0.0]) for _ in WINDOWS_S]
        quote = price * qty
        buy = 0.0 if taker_sell else quote
        for (dq, sums), w in zip(wins, WINDOWS_S, strict=True):
            dq.append((ts, quote, buy))
            sums[0] += 1
            sums[1] += quote
            sums[2] += buy
            horizon = ts - w * S
            while dq[0][0] < horizon:
                _, q, bq = dq.popleft()
                sums[0] -= 1
                sums[1] -= q
                sums[2] -= bq
        self.last[sym] = price

    def quote(self, sym: str, bid: float, ask: float) -> None:
        self.book[sym] = (bid, ask)

    def tick(self) -> list[list[float]]:
        out = []
        for sym, wins in self.windows.items():
            row = []
            for _, (count, vol, buy) in wins:
                row += [count, vol, (2 * buy - vol) / vol if vol else float("nan")]
            bid, ask = self.book.get(sym, (float("nan"), float("nan")))
            row.append((ask - bid) / (ask + bid) * 2e4)
            out.append(row)
        return out


def reference_replay(tables: dict[str, pa.Table]) -> int:
    trades, books = tables["trade"], tables["book_top"]
    rows: Iterator[tuple[int, int, tuple[object, ...]]] = iter(
        sorted(
            [
                (ts, 0, r)
                for ts, r in zip(trades["ts_event"].to_pylist(), _rows(trades, 0), strict=True)
            ]
            + [
                (ts, 1, r)
                for ts, r in zip(books["ts_event"].to_pylist(), _rows(books, 1), strict=True)
            ],
            key=lambda x: x[0],
        )
    )
    engine = ReferenceEngine()
    next_tick = None
    ticks = 0
    for ts, kind, r in rows:
        if next_tick is None:
            next_tick = (ts // S + 1) * S
        while ts >= next_tick:
            engine.tick()
            ticks += 1
            next_tick += S
        if kind == 0:
            engine.trade(r[0], ts, r[1], r[2], r[3])  # type: ignore[arg-type]
        else:
            engine.quote(r[0], r[1], r[2])  # type: ignore[arg-type]
    return ticks


def _rows(table: pa.Table, kind: int) -> list[tuple[object, ...]]:
    names = (
        ["symbol", "price", "qty", "buyer_is_maker"]
        if kind == 0
        else ["symbol", "bid_price", "ask_price"]
    )
    return list(zip(*(table[c].to_pylist() for c in names), strict=True))


def engine_replay(tables: dict[str, pa.Table]) -> int:
    return sum(1 for _ in drive_tables(FeatureEngine(), [tables]))


def sim_mix(*, quick: bool) -> None:
    """The simulator's default market (20 symbols): sparse, so per-tick cost dominates."""
    from csx_core.sim import SimConfig, simulate_day

    minutes = 5 if quick else 20
    day = simulate_day(SimConfig(days=1, n_symbols=20), 0)
    end = day["trade"]["ts_event"][0].as_py() + minutes * 60 * S
    tables = {k: day[k].filter(pc.less(day[k]["ts_event"], end)) for k in ("trade", "book_top")}
    events = sum(t.num_rows for t in tables.values())
    subject = measure("bucket engine, drive_tables", lambda: engine_replay(tables), items=events)
    ref = measure(
        "per-event pure Python (reference)", lambda: reference_replay(tables), items=events
    )
    report(
        f"offline replay, simulator default mix (20 symbols, {events / (minutes * 60):,.0f}"
        " events/s of data), 1 s ticks",
        subject,
        ref,
        "events",
    )


def run(*, quick: bool) -> None:
    seconds = 30 if quick else 120
    for symbols, rate in ((50, 20_000), (500, 50_000)):
        tables = mix(symbols, seconds, rate)
        events = seconds * rate
        subject = measure(
            "bucket engine, drive_tables", lambda t=tables: engine_replay(t), items=events, repeat=3
        )
        ref = measure(
            "per-event pure Python (reference)",
            lambda t=tables: reference_replay(t),
            items=events,
            repeat=1 if quick else 2,
        )
        report(
            f"offline replay, {symbols} symbols, {rate:,} events/s of data, 1 s ticks",
            subject,
            ref,
            "events",
        )

    sim_mix(quick=quick)
    tables = mix(500, seconds, 50_000)

    def ingest_only() -> None:
        FeatureEngine().ingest(tables)

    events = sum(t.num_rows for t in tables.values())
    bucket = measure("bucket fill only (ingest)", ingest_only, items=events, repeat=3)
    print(f"\n## bucket fill only (no ticks): median {bucket.median_throughput:,.0f} events/s")

    engine = FeatureEngine()
    frames = list(drive_tables(engine, [mix(500, 3700 if not quick else 200, 500, seed=2)]))
    ts = frames[-1].ts

    def one_tick() -> None:
        nonlocal ts
        ts += S
        engine.tick(ts)

    print(f"\n## tick over {len(frames[-1])} symbols (all features incl. cross-sectional)")
    report_latency(
        "engine.tick (arrays)", latency_percentiles(one_tick, calls=300 if quick else 2000)
    )

    def one_on_tick() -> None:
        nonlocal ts
        ts += S
        engine.on_tick(ts)

    report_latency(
        "engine.on_tick (FeatureSnapshot objects)",
        latency_percentiles(one_on_tick, calls=100 if quick else 300),
    )
    trade = Trade(
        symbol="S042USDT",
        ts_event=ts,
        ts_recv=ts,
        trade_id=1,
        price=100.0,
        qty=0.5,
        buyer_is_maker=False,
    )
    book = BookTop(
        symbol="S042USDT",
        ts_event=ts,
        ts_recv=ts,
        update_id=1,
        bid_price=100.0,
        bid_qty=1.0,
        ask_price=100.01,
        ask_qty=1.0,
    )
    print("\n## live per-event cost")
    report_latency(
        "on_event(Trade)", latency_percentiles(lambda: engine.on_event(trade), calls=20_000)
    )
    report_latency(
        "on_event(BookTop)", latency_percentiles(lambda: engine.on_event(book), calls=20_000)
    )
