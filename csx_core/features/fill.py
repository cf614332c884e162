"""Filling buckets: one event at a time (live) or a columnar batch (offline).

Both paths perform the same per-event arithmetic (``price * qty``, fixed-point rounding) and
the same bucket updates (integer adds, max, last-in-order), so the buckets end up
bit-identical. The batch path applies them row by row in stream order, in compiled loops.

Each fill is a pair (one event, a table) in ``FILLS``, named by the event descriptors'
``fill``: both paths dispatch through the descriptors, skip a kind whose descriptor declares
no fill and raise ``ValueError`` for a kind no descriptor knows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from csx_core.contracts import (
    EVENT_DESCRIPTORS,
    BookTop,
    Kline,
    Liquidation,
    MarketEvent,
    MarkPrice,
    Trade,
)
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
    NK,
    NLIQ,
    NMARK,
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
# cnt, mx, last: the rings' integer-sum, max and last-value planes of the event's second
def _trade_event(cnt: I64, mx: F64, last: F64, i: int, event: Trade) -> None:
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


def _book_top_event(cnt: I64, mx: F64, last: F64, i: int, event: BookTop) -> None:
    cnt[NBOOK, i] += 1
    last[BID, i] = event.bid_price
    last[ASK, i] = event.ask_price
    last[BIDQ, i] = event.bid_qty
    last[ASKQ, i] = event.ask_qty


def _kline_event(cnt: I64, mx: F64, last: F64, i: int, event: Kline) -> None:
    cnt[N, i] += event.trades
    cnt[NK, i] += 1
    cnt[QUOTE, i] += units(event.quote_volume, QUOTE_SCALE)
    cnt[BUYQ, i] += units(event.taker_buy_quote_volume, QUOTE_SCALE)
    cnt[QTY, i] += units(event.volume, QTY_SCALE)
    mx[HI, i] = max(mx[HI, i], event.high)
    mx[NEGLO, i] = max(mx[NEGLO, i], -event.low)
    last[KCLOSE, i] = event.close


def _mark_price_event(cnt: I64, mx: F64, last: F64, i: int, event: MarkPrice) -> None:
    cnt[NMARK, i] += 1
    last[MARK, i] = event.mark_price
    last[INDEX, i] = np.nan if event.index_price is None else event.index_price
    last[FUND, i] = event.funding_rate


def _liquidation_event(cnt: I64, mx: F64, last: F64, i: int, event: Liquidation) -> None:
    cnt[NLIQ, i] += 1
    quote = liquidation_quote(event.price, event.qty, event.avg_price, event.filled_qty)
    cnt[LIQ, i] += units(quote, QUOTE_SCALE)


def fill_event(b: Buckets, event: MarketEvent) -> None:
    """Add one event to the buckets of its second (``ValueError`` for an unknown kind)."""
    try:
        fill = _BY_TYPE[type(event)]
    except KeyError:
        raise ValueError(f"unknown event kind {type(event).__name__}") from None
    if fill is None or (fill.only_if is not None and not getattr(event, fill.only_if)):
        return
    i = b.symbol_index(event.symbol)
    j = b.second_of(event.ts_event) % R1
    fill.event(b.isum[j], b.fmax[j], b.flast[j], i, event)


# -- offline: a columnar batch --------------------------------------------------------------
class _Batch:
    """One kind's rows, by ring slot and symbol index. The updates are the compiled loops of
    ``kernels``, row after row in stream order, as the per-event fills apply them."""

    def __init__(self, b: Buckets, slot: I64, sym: I64) -> None:
        from csx_core.features import kernels  # on first use: the live path never imports numba

        self.b, self.slot, self.sym, self.kernels = b, slot, sym, kernels

    def add(self, field: int, values: I64 | int) -> None:
        counts = (
            np.full(len(self.slot), values, dtype=np.int64)
            if isinstance(values, int)
            else np.asarray(values, dtype=np.int64)
        )
        self.kernels.add_at(self.b.isum, self.slot, field, self.sym, counts)

    def maximum(self, field: int, values: F64) -> None:
        self.kernels.max_at(self.b.fmax, self.slot, field, self.sym, values)

    def last(self, fields: Mapping[int, F64]) -> None:
        for field, values in fields.items():
            self.kernels.last_at(self.b.flast, self.slot, field, self.sym, values)


def _col(table: pa.Table, name: str) -> F64:
    values: F64 = table.column(name).to_numpy().astype(np.float64, copy=False)
    return values


def _symbols(b: Buckets, table: pa.Table) -> I64:
    """Each row's symbol index, registering the symbols the rows name. A dictionary-typed
    column (``drive`` encodes each input batch once: encoding its slices one by one cost
    2.5 times as much) maps through its dictionary; any other is encoded here."""
    out = [np.empty(0, dtype=np.int64)]
    for chunk in table.column("symbol").chunks:
        encoded = chunk if pa.types.is_dictionary(chunk.type) else chunk.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        names = encoded.dictionary.to_pylist()
        lut = np.full(len(names), -1, dtype=np.int64)
        for code in np.flatnonzero(np.bincount(codes, minlength=len(names))).tolist():
            lut[code] = b.symbol_index(names[code])  # only the symbols present here
        out.append(lut[codes])
    return np.concatenate(out)


def with_symbol_codes(table: pa.Table) -> pa.Table:
    """``table`` with its symbol column dictionary-encoded, for ``fill_table``."""
    i = table.schema.get_field_index("symbol")
    column = table.column(i)
    if pa.types.is_dictionary(column.type):
        return table
    return table.set_column(i, "symbol", column.dictionary_encode())


def _trade_table(batch: _Batch, table: pa.Table) -> None:
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


def _book_top_table(batch: _Batch, table: pa.Table) -> None:
    batch.add(NBOOK, 1)
    batch.last(
        {
            BID: _col(table, "bid_price"),
            ASK: _col(table, "ask_price"),
            BIDQ: _col(table, "bid_qty"),
            ASKQ: _col(table, "ask_qty"),
        }
    )


def _kline_table(batch: _Batch, table: pa.Table) -> None:
    batch.add(N, table.column("trades").to_numpy())
    batch.add(NK, 1)
    batch.add(QUOTE, units_array(_col(table, "quote_volume"), QUOTE_SCALE))
    batch.add(BUYQ, units_array(_col(table, "taker_buy_quote_volume"), QUOTE_SCALE))
    batch.add(QTY, units_array(_col(table, "volume"), QTY_SCALE))
    batch.maximum(HI, _col(table, "high"))
    batch.maximum(NEGLO, -_col(table, "low"))
    batch.last({KCLOSE: _col(table, "close")})


def _mark_price_table(batch: _Batch, table: pa.Table) -> None:
    index = table.column("index_price").to_numpy(zero_copy_only=False)
    batch.add(NMARK, 1)
    batch.last(
        {
            MARK: _col(table, "mark_price"),
            INDEX: np.asarray(index, dtype=np.float64),
            FUND: _col(table, "funding_rate"),
        }
    )


def _liquidation_table(batch: _Batch, table: pa.Table) -> None:
    price, qty = _col(table, "price"), _col(table, "qty")
    avg, filled = _col(table, "avg_price"), _col(table, "filled_qty")
    quote = np.where((filled > 0) & (avg > 0), avg * filled, price * qty)
    batch.add(NLIQ, 1)
    batch.add(LIQ, units_array(quote, QUOTE_SCALE))


def fill_table(b: Buckets, kind: str, table: pa.Table) -> None:
    """Add one kind's rows (contract schema, ordered by ``ts_event``) to the buckets
    (``ValueError`` for an unknown kind)."""
    try:
        fill = _BY_KIND[kind]
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r}") from None
    if fill is None:
        return
    if fill.only_if is not None:
        table = table.filter(table.column(fill.only_if))
    if table.num_rows == 0:
        return
    sym = _symbols(b, table)
    sec = b.seconds_of(table.column("ts_event").to_numpy())
    fill.table(_Batch(b, sec % R1, sym), table)


# -- the fills, by name ---------------------------------------------------------------------
@dataclass(frozen=True)
class Fill:
    """One kind's bucket updates, per event and per table (the two must agree bit for bit).
    ``only_if``: a boolean contract field; events where it is false are not filled (an open
    kline is a bar still forming: only the closed bar counts)."""

    event: Callable[[I64, F64, F64, int, Any], None]
    table: Callable[[_Batch, pa.Table], None]
    only_if: str | None = None


FILLS: dict[str, Fill] = {
    "trade": Fill(_trade_event, _trade_table),
    "book_top": Fill(_book_top_event, _book_top_table),
    "kline": Fill(_kline_event, _kline_table, only_if="closed"),
    "mark_price": Fill(_mark_price_event, _mark_price_table),
    "liquidation": Fill(_liquidation_event, _liquidation_table),
}
"""Fill name (an event descriptor's ``fill``) -> the fill."""

# a descriptor naming a fill that does not exist fails here, at import
_BY_KIND: dict[str, Fill | None] = {
    d.kind: None if d.fill is None else FILLS[d.fill] for d in EVENT_DESCRIPTORS
}
_BY_TYPE: dict[type, Fill | None] = {d.contract: _BY_KIND[d.kind] for d in EVENT_DESCRIPTORS}
