"""Simulator: vectorised day generation vs a per-event Python loop of the same process.

The reference walks the same latent path (returns, activity, flow) second by second and
draws bookTicker changes, Hawkes trade arrivals (a heap of pending children) and markPrice
updates one event at a time as contract objects, then builds the Arrow tables with
``Contract.to_arrow``. Both produce ~the same event counts; events/s are compared.
"""

from __future__ import annotations

import heapq
import math
import random
from datetime import date

import pyarrow as pa

from benchmarks.harness import measure, report
from csx_core.contracts import BookTop, MarkPrice, Trade
from csx_core.sim import SimConfig, simulate_day
from csx_core.sim.path import SECONDS, day_path, start_log_prices


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def reference_day(config: SimConfig, day: int, seconds: int = SECONDS) -> dict[str, pa.Table]:
    path = day_path(config, day)
    level = start_log_prices(config, day)
    rng = random.Random(config.seed)
    start_ns = (config.start - date(1970, 1, 1)).days * 86_400 * 10**9
    trades: list[Trade] = []
    books: list[BookTop] = []
    marks: list[MarkPrice] = []
    eta, decay_ms = config.hawkes_branching, config.hawkes_decay_s * 1000.0
    for i, spec in enumerate(config.specs):
        tick, step = spec.tick_size, spec.step_size
        logmid, bid, ask, trade_id, update_id = float(level[i]), 0, 0, 0, 0
        pending: list[int] = []
        base = config.trade_rate * (1 - eta) * spec.activity
        for s in range(seconds):
            if s % config.mark_interval_s == 0:
                ts = start_ns + s * 10**9
                price = round(round(math.exp(logmid) / tick) * tick, spec.tick_decimals)
                marks.append(
                    MarkPrice(
                        symbol=spec.symbol,
                        ts_event=ts,
                        ts_recv=ts + 3_000_000,
                        mark_price=price,
                        index_price=price,
                        estimated_settle_price=price,
                        funding_rate=0.0001,
                        next_funding_time=ts + 8 * 3600 * 10**9,
                    )
                )
            logmid += float(path.returns[i, s])
            mid_ticks = math.exp(logmid) / tick
            wide = spec.spread_bps * 1e-4 * mid_ticks * float(path.vol_mult[i, s]) ** 0.8
            spread = max(1, round(wide * math.exp(rng.gauss(0.0, 0.2))))
            new_bid = max(1, round(mid_ticks - spread / 2))
            if (new_bid, new_bid + spread) != (bid, ask):
                bid, ask = new_bid, new_bid + spread
                update_id += 1
                ts = start_ns + (s * 1000 + rng.randrange(1000)) * 1_000_000
                books.append(
                    BookTop(
                        symbol=spec.symbol,
                        ts_event=ts,
                        ts_recv=ts + 3_000_000,
                        update_id=update_id,
                        bid_price=round(bid * tick, spec.tick_decimals),
                        bid_qty=step * (1 + rng.randrange(100)),
                        ask_price=round(ask * tick, spec.tick_decimals),
                        ask_qty=step * (1 + rng.randrange(100)),
                    )
                )
            for _ in range(_poisson(rng, base * float(path.activity[i, s]))):
                heapq.heappush(pending, s * 1000 + rng.randrange(1000))
            p_buy = float(path.p_buy[i, s])
            while pending and pending[0] < (s + 1) * 1000:
                t = heapq.heappop(pending)
                for _ in range(_poisson(rng, eta)):
                    heapq.heappush(pending, t + math.ceil(rng.expovariate(1.0 / decay_ms)))
                buy = rng.random() < p_buy
                price = round((ask if buy else bid) * tick, spec.tick_decimals)
                notional = 400.0 * math.sqrt(spec.activity) * rng.lognormvariate(0.0, 1.1)
                qty = round(max(1, round(notional / price / step)) * step, spec.step_decimals)
                trade_id += 1
                ts = start_ns + t * 1_000_000
                trades.append(
                    Trade(
                        symbol=spec.symbol,
                        ts_event=ts,
                        ts_recv=ts + 3_000_000,
                        trade_id=trade_id,
                        price=price,
                        qty=qty,
                        buyer_is_maker=not buy,
                    )
                )
    return {
        "trade": Trade.to_arrow(trades),
        "book_top": BookTop.to_arrow(books),
        "mark_price": MarkPrice.to_arrow(marks),
    }


def run(*, quick: bool) -> None:
    small = SimConfig(seed=7, n_symbols=2, days=1, klines=False, liquidation_rate=0.0)
    counted = ("trade", "book_top", "mark_price")
    sub_items = sum(simulate_day(small, 0)[k].num_rows for k in counted)
    ref_items = sum(t.num_rows for t in reference_day(small, 0).values())
    repeat = 2 if quick else 3
    subject = measure(
        "vectorised simulate_day", lambda: simulate_day(small, 0), items=sub_items, repeat=repeat
    )
    reference = measure(
        "per-event Python loop (reference)",
        lambda: reference_day(small, 0),
        items=ref_items,
        repeat=1 if quick else 2,
    )
    report("Simulator, 2 symbols x 1 day", subject, reference, "events")
    if not quick:
        default = SimConfig(days=1)
        full = sum(t.num_rows for t in simulate_day(default, 0).values())
        big = measure(
            "simulate_day, default 20 symbols",
            lambda: simulate_day(default, 0),
            items=full,
            repeat=2,
        )
        print(
            f"  default config: {full:,} events/day, median "
            f"{big.median_throughput:,.0f} events/s ({min(big.seconds):.2f} s/day best)"
        )
