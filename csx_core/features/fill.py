"""Filling buckets: one event at a time (live) or a columnar batch (offline).

Both paths perform the same per-event arithmetic (``price * qty``, fixed-point rounding) and
the same bucket updates (integer adds, max, last-in-order), so the buckets end up
bit-identical. The batch path uses ``ufunc.at``, which applies repeated indices in order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from csx_core.contracts import BookTop, Kline, Liquidation, MarketEvent, MarkPrice, Trade
from csx_core.features.buckets import (
    ASK,
    ASKQ,
    BID,
    BIDQ,
    BUYQ,
    F64,
    FUND,
    HI,
    I64,
    INDEX,
    KCLOSE,
    LASTPX,
    LIQ,
    MARK,
    MAXQ,
    NBOOK,
    NEGLO,
    NI,
    NK,
    NL,
    NLIQ,
    NMARK,
    NX,
    QTY,
    QTY_SCALE,
    QUOTE,
    QUOTE_SCALE,
    R1,
    Buckets,
    N,
    units,
    units_array,
)


def liquidation_quote(price: float, qty: float, avg_price: float, filled_qty: float) -> float:
    """Quote volume of a forced order: filled part at its average price when reported."""
    if filled_qty > 0 and avg_price > 0:
        return avg_price * filled_qty
    return price * qty


# -- live: one event ----------------------------------------------------------------------
def fill_event(b: Buckets, event: MarketEvent) -> None:
    if isinstance(event, Kline) and not event.closed:
        return
    i = b.symbol_index(event.symbol)
    j = b.second_of(event.ts_event) % R1
    cnt, mx, last = b.isum[j], b.fmax[j], b.flast[j]
    if isinstance(event, Trade):
        quote = event.price * event.qty
        qu = units(quote, QUOTE_SCALE)
        cnt[N, i] += 1
        cnt[QUOTE, i] += qu
        if not event.buyer_is_maker:
            cnt[BUYQ, i] += qu
        cnt[QTY, i] += units(event.qty, QTY_SCALE)
        mx[MAXQ, i] = max(mx[MAXQ, i], quote)
        mx[HI, i] = max(mx[HI, i], event.price)
        mx[NEGLO, i] = max(mx[NEGLO, i], -event.price)
        last[LASTPX, i] = event.price
    elif isinstance(event, BookTop):
        cnt[NBOOK, i] += 1
        last[BID, i] = event.bid_price
        last[ASK, i] = event.ask_price
        last[BIDQ, i] = event.bid_qty
        last[ASKQ, i] = event.ask_qty
    elif isinstance(event, Kline):
        cnt[N, i] += event.trades
        cnt[NK, i] += 1
        cnt[QUOTE, i] += units(event.quote_volume, QUOTE_SCALE)
        cnt[BUYQ, i] += units(event.taker_buy_quote_volume, QUOTE_SCALE)
        cnt[QTY, i] += units(event.volume, QTY_SCALE)
        mx[HI, i] = max(mx[HI, i], event.high)
        mx[NEGLO, i] = max(mx[NEGLO, i], -event.low)
        last[KCLOSE, i] = event.close
    elif isinstance(event, MarkPrice):
        cnt[NMARK, i] += 1
        last[MARK, i] = event.mark_price
        last[INDEX, i] = np.nan if event.index_price is None else event.index_price
        last[FUND, i] = event.funding_rate
    elif isinstance(event, Liquidation):
        cnt[NLIQ, i] += 1
        quote = liquidation_quote(event.price, event.qty, event.avg_price, event.filled_qty)
        cnt[LIQ, i] += units(quote, QUOTE_SCALE)


# -- offline: a columnar batch --------------------------------------------------------------
class _Batch:
    """Flat indices of one kind's rows into the rings."""

    def __init__(self, b: Buckets, slot: I64, sym: I64) -> None:
        self.b, self.slot, self.sym = b, slot, sym

    def add(self, field: int, values: I64 | int) -> None:
        idx = (self.slot * NI + field) * self.b.cap + self.sym
        np.add.at(self.b.isum_flat, idx, values)

    def maximum(self, field: int, values: F64) -> None:
        idx = (self.slot * NX + field) * self.b.cap + self.sym
        np.maximum.at(self.b.fmax_flat, idx, values)

    def last(self, fields: Mapping[int, F64]) -> None:
        key = self.slot * self.b.cap + self.sym
        pos = np.arange(len(key), dtype=np.int64)
        np.maximum.at(self.b.lastpos, key, pos)
        final = self.b.lastpos[key] == pos
        self.b.lastpos[key] = -1
        slot, sym = self.slot[final], self.sym[final]
        for field, values in fields.items():
            self.b.flast_flat[(slot * NL + field) * self.b.cap + sym] = values[final]


def _col(table: pa.Table, name: str) -> F64:
    values: F64 = table.column(name).to_numpy().astype(np.float64, copy=False)
    return values


def _symbols(b: Buckets, table: pa.Table) -> I64:
    encoded = table.column("symbol").combine_chunks().dictionary_encode()
    lut = np.array([b.symbol_index(s) for s in encoded.dictionary.to_pylist()], dtype=np.int64)
    out: I64 = lut[encoded.indices.to_numpy(zero_copy_only=False)]
    return out


def fill_table(b: Buckets, kind: str, table: pa.Table) -> None:
    """Add one kind's rows (contract schema, ordered by ``ts_event``) to the buckets."""
    if kind == "kline":
        table = table.filter(table.column("closed"))
    if table.num_rows == 0:
        return
    sym = _symbols(b, table)
    sec = b.seconds_of(table.column("ts_event").to_numpy())
    batch = _Batch(b, sec % R1, sym)
    if kind == "trade":
        price, qty = _col(table, "price"), _col(table, "qty")
        quote = price * qty
        qu = units_array(quote, QUOTE_SCALE)
        taker_sell = table.column("buyer_is_maker").to_numpy(zero_copy_only=False)
        batch.add(N, 1)
        batch.add(QUOTE, qu)
        batch.add(BUYQ, np.where(taker_sell, 0, qu))
        batch.add(QTY, units_array(qty, QTY_SCALE))
        batch.maximum(MAXQ, quote)
        batch.maximum(HI, price)
        batch.maximum(NEGLO, -price)
        batch.last({LASTPX: price})
    elif kind == "book_top":
        batch.add(NBOOK, 1)
        batch.last(
            {
                BID: _col(table, "bid_price"),
                ASK: _col(table, "ask_price"),
                BIDQ: _col(table, "bid_qty"),
                ASKQ: _col(table, "ask_qty"),
            }
        )
    elif kind == "kline":
        batch.add(N, table.column("trades").to_numpy())
        batch.add(NK, 1)
        batch.add(QUOTE, units_array(_col(table, "quote_volume"), QUOTE_SCALE))
        batch.add(BUYQ, units_array(_col(table, "taker_buy_quote_volume"), QUOTE_SCALE))
        batch.add(QTY, units_array(_col(table, "volume"), QTY_SCALE))
        batch.maximum(HI, _col(table, "high"))
        batch.maximum(NEGLO, -_col(table, "low"))
        batch.last({KCLOSE: _col(table, "close")})
    elif kind == "mark_price":
        index = table.column("index_price").to_numpy(zero_copy_only=False)
        batch.add(NMARK, 1)
        batch.last(
            {
                MARK: _col(table, "mark_price"),
                INDEX: np.asarray(index, dtype=np.float64),
                FUND: _col(table, "funding_rate"),
            }
        )
    elif kind == "liquidation":
        price, qty = _col(table, "price"), _col(table, "qty")
        avg, filled = _col(table, "avg_price"), _col(table, "filled_qty")
        quote = np.where((filled > 0) & (avg > 0), avg * filled, price * qty)
        batch.add(NLIQ, 1)
        batch.add(LIQ, units_array(quote, QUOTE_SCALE))
    else:
        raise ValueError(f"unknown event kind {kind!r}")
