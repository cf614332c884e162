"""Per-event columns of one day: trades (with klines) and bookTicker updates.

Every generator returns plain numpy columns keyed by contract field name plus ``row``
(symbol index) and ``t_ms`` (milliseconds into the day); ``csx_core.sim.tables`` turns them
into contract tables. Ids are per symbol, increasing with time, and start at
``epoch_day * ID_DAY_STRIDE`` so they keep increasing across days.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from csx_core.sim.config import SimConfig
from csx_core.sim.grid import Book, Grid
from csx_core.sim.hawkes import hawkes_times
from csx_core.sim.path import MINUTES, SECONDS, DayPath

ID_DAY_STRIDE = 100_000_000
MAX_EXTRA_BOOK_PER_S = 8
Columns = dict[str, npt.NDArray[np.generic]]
I64 = npt.NDArray[np.int64]


def sequence_ids(row: I64, n_rows: int, epoch_day: int) -> I64:
    """0, 1, 2, ... within each symbol (``row`` sorted), offset by the day."""
    first = np.searchsorted(row, np.arange(n_rows))
    return np.asarray(epoch_day * ID_DAY_STRIDE + np.arange(row.size) - first[row], np.int64)


def trades(
    config: SimConfig,
    path: DayPath,
    book: Book,
    grid: Grid,
    rng: np.random.Generator,
    epoch_day: int,
) -> tuple[Columns, I64, I64]:
    """aggTrades: Hawkes arrivals over the activity surface; taker buys lift the ask, sells
    hit the bid of the quote standing at that millisecond. Also returns integer price ticks
    and size steps for the kline aggregation."""
    n = len(config.specs)
    weight = np.array([s.activity for s in config.specs])[:, None]
    baseline = config.trade_rate * (1.0 - config.hawkes_branching) * weight * path.activity
    row, t = hawkes_times(
        rng,
        baseline,
        branching=config.hawkes_branching,
        decay_s=config.hawkes_decay_s,
        horizon_ms=SECONDS * 1000,
    )
    cell = row * SECONDS + t // 1000
    state = book.state(cell, t % 1000)
    buy = rng.random(cell.size) < path.p_buy.ravel()[cell]
    ticks = np.where(buy, book.ask[state], book.bid[state])
    price = grid.price(row, ticks)
    median_notional = 400.0 * np.sqrt(weight[:, 0])
    notional = median_notional[row] * rng.lognormal(0.0, 1.1, cell.size)
    notional *= path.size_mult.ravel()[cell]
    steps = grid.steps_for(row, notional, price)
    cols: Columns = {
        "row": row,
        "t_ms": t,
        "trade_id": sequence_ids(row, n, epoch_day),
        "price": price,
        "qty": grid.qty(row, steps),
        "buyer_is_maker": ~buy,
    }
    return cols, ticks, steps


def klines(
    config: SimConfig, trade_cols: Columns, ticks: I64, steps: I64, book: Book, grid: Grid
) -> Columns:
    """Closed 1m bars built from the day's trades; an empty minute repeats the previous
    close (or the quoted bid at the start of the day)."""
    n = len(config.specs)
    row = np.asarray(trade_cols["row"], np.int64)
    t = np.asarray(trade_cols["t_ms"], np.int64)
    buy = ~np.asarray(trade_cols["buyer_is_maker"], np.bool_)
    group = row * MINUTES + t // 60_000
    size = n * MINUTES
    count = np.bincount(group, minlength=size)
    volume = np.bincount(group, weights=steps, minlength=size).astype(np.int64)
    buy_volume = np.bincount(group, weights=steps * buy, minlength=size).astype(np.int64)
    price = np.asarray(trade_cols["price"], np.float64)
    qty = np.asarray(trade_cols["qty"], np.float64)
    quote = np.bincount(group, weights=price * qty, minlength=size)
    buy_quote = np.bincount(group, weights=price * qty * buy, minlength=size)

    filled = count > 0
    starts = np.searchsorted(group, np.flatnonzero(filled))
    ends = starts + count[filled] - 1
    last_close = np.full(size, -1, dtype=np.int64)
    last_close[filled] = ticks[ends]
    carry = np.maximum.accumulate(np.where(filled, np.arange(size), -1).reshape(n, MINUTES), axis=1)
    first_bid = book.bid.reshape(n, SECONDS)[:, 0]
    prev = np.concatenate([np.full((n, 1), -1), carry[:, :-1]], axis=1).ravel()
    flat_row = np.repeat(np.arange(n, dtype=np.int64), MINUTES)
    stand = np.where(prev >= 0, last_close[np.maximum(prev, 0)], first_bid[flat_row])
    o = stand.copy()
    h = stand.copy()
    lo = stand.copy()
    c = stand.copy()
    if starts.size:
        o[filled] = ticks[starts]
        h[filled] = np.maximum.reduceat(ticks, starts)
        lo[filled] = np.minimum.reduceat(ticks, starts)
        c[filled] = ticks[ends]
    minute = np.tile(np.arange(MINUTES, dtype=np.int64), n)
    return {
        "row": flat_row,
        "t_ms": minute * 60_000 + 59_999,
        "interval": np.full(size, "1m", dtype=object),
        "open_time_ms": minute * 60_000,
        "close_time_ms": minute * 60_000 + 59_999,
        "open": grid.price(flat_row, o),
        "high": grid.price(flat_row, h),
        "low": grid.price(flat_row, lo),
        "close": grid.price(flat_row, c),
        "volume": grid.qty(flat_row, volume),
        "quote_volume": np.round(quote, 8),
        "trades": count.astype(np.int64),
        "taker_buy_volume": grid.qty(flat_row, buy_volume),
        "taker_buy_quote_volume": np.round(buy_quote, 8),
        "closed": np.ones(size, dtype=np.bool_),
    }


def book_tops(
    config: SimConfig,
    path: DayPath,
    book: Book,
    grid: Grid,
    rng: np.random.Generator,
    epoch_day: int,
) -> Columns:
    """bookTicker updates: one whenever the quoted prices change (at most once a second,
    a sample of the real stream), plus Poisson size-only updates that follow activity. Top
    sizes lean towards the side of a coming move during precursor bursts."""
    n = len(config.specs)
    cells = n * SECONDS
    change_cell = np.flatnonzero(book.changed)
    extra = np.minimum(rng.poisson(config.book_rate * path.activity.ravel()), MAX_EXTRA_BOOK_PER_S)
    extra_cell = np.repeat(np.arange(cells, dtype=np.int64), extra)
    cell = np.concatenate([change_cell, extra_cell])
    offset = np.concatenate([book.change_ms[change_cell], rng.integers(0, 1000, extra_cell.size)])
    flag = np.concatenate([np.zeros(change_cell.size, np.int8), np.ones(extra_cell.size, np.int8)])
    row = cell // SECONDS
    t = (cell % SECONDS) * 1000 + offset
    order = np.argsort((row * SECONDS * 1000 + t) * 2 + flag, kind="stable")
    cell, offset, row, t = cell[order], offset[order], row[order], t[order]
    state = book.state(cell, offset)
    weight = np.array([s.activity for s in config.specs])
    depth = 4_000.0 * np.sqrt(weight)[row]
    skew = path.book_skew.ravel()[cell]
    bid_price = grid.price(row, book.bid[state])
    ask_price = grid.price(row, book.ask[state])
    bid_steps = grid.steps_for(
        row, depth * np.exp(0.5 * skew) * rng.lognormal(0, 0.6, row.size), bid_price
    )
    ask_steps = grid.steps_for(
        row, depth * np.exp(-0.5 * skew) * rng.lognormal(0, 0.6, row.size), ask_price
    )
    return {
        "row": row,
        "t_ms": t,
        "update_id": sequence_ids(row, n, epoch_day) * 7 + 3,
        "bid_price": bid_price,
        "bid_qty": grid.qty(row, bid_steps),
        "ask_price": ask_price,
        "ask_qty": grid.qty(row, ask_steps),
    }
