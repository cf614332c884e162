"""Derivatives-only streams of one day: mark price with funding, and forced liquidations."""

from __future__ import annotations

import numpy as np

from csx_core.sim.config import SimConfig
from csx_core.sim.flow import Columns
from csx_core.sim.grid import Book, Grid
from csx_core.sim.path import SECONDS, DayPath

FUNDING_PERIOD_MS = 8 * 3_600_000
BACKGROUND_LIQUIDATION_PER_S = 0.0005


def mark_prices(
    config: SimConfig, path: DayPath, book: Book, grid: Grid, day_start_ms: int
) -> Columns:
    """markPriceUpdate every ``mark_interval_s`` on the whole second: index = the latent mid
    before that second's quote change, mark = index carrying the funding premium, both on
    the tick grid; the next funding time is the next 00/08/16 UTC boundary (ns)."""
    n = len(config.specs)
    seconds = np.arange(0, SECONDS, config.mark_interval_s, dtype=np.int64)
    row = np.repeat(np.arange(n, dtype=np.int64), seconds.size)
    sec = np.tile(seconds, n)
    cell = row * SECONDS + sec
    funding = path.funding[row, sec // 60]
    index = np.exp(book.logmid_before[cell])
    index_ticks = np.maximum(np.rint(index / grid.tick[row]).astype(np.int64), 1)
    mark_ticks = np.maximum(np.rint(index * (1.0 + funding) / grid.tick[row]).astype(np.int64), 1)
    t = sec * 1000
    absolute = day_start_ms + t
    next_funding = (absolute // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
    index_price = grid.price(row, index_ticks)
    return {
        "row": row,
        "t_ms": t,
        "mark_price": grid.price(row, mark_ticks),
        "index_price": index_price,
        "estimated_settle_price": index_price,
        "funding_rate": funding,
        "next_funding_time": next_funding * 1_000_000,
    }


def liquidations(
    config: SimConfig, path: DayPath, book: Book, grid: Grid, rng: np.random.Generator
) -> Columns:
    """forceOrder: at most one per symbol per second (as Binance snapshots them), likely
    during injected moves (against the move: shorts are bought in on the way up) and rare
    in hot regimes otherwise (against the second's return)."""
    moving = path.move_dir.ravel()
    hot = path.vol_mult.ravel() > 1.5
    p = config.liquidation_rate * (moving != 0) + BACKGROUND_LIQUIDATION_PER_S * hot
    cell = np.flatnonzero(rng.random(p.size) < p)
    row = cell // SECONDS
    offset = rng.integers(0, 1000, cell.size)
    t = (cell % SECONDS) * 1000 + offset
    direction = np.where(moving[cell] != 0, moving[cell], np.sign(path.returns.ravel()[cell]))
    buy = direction > 0
    state = book.state(cell, offset)
    fill_ticks = np.where(buy, book.ask[state], book.bid[state])
    slip = rng.uniform(0.002, 0.01, cell.size)
    order_ticks = np.where(
        buy,
        np.ceil(fill_ticks * (1.0 + slip)).astype(np.int64),
        np.maximum(np.floor(fill_ticks * (1.0 - slip)).astype(np.int64), 1),
    )
    avg_price = grid.price(row, fill_ticks)
    notional = 6_000.0 * rng.lognormal(0.0, 1.0, cell.size)
    steps = grid.steps_for(row, notional, avg_price)
    qty = grid.qty(row, steps)
    return {
        "row": row,
        "t_ms": t,
        "side": np.where(buy, "BUY", "SELL").astype(object),
        "price": grid.price(row, order_ticks),
        "avg_price": avg_price,
        "qty": qty,
        "filled_qty": qty,
        "status": np.full(cell.size, "FILLED", dtype=object),
    }
