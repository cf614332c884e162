"""Typed archive columns → contract-schema event tables, minus the rows a contract rejects.

Archive times are ms since the epoch (µs in some newer Binance files: values ≥ 1e14 are
taken as µs); everything leaves here in ns, with ``ts_recv`` = ``ts_event`` (never received
live). Row rules are the store's (``csx_core.store.validate``), i.e. the contracts'.
"""

from __future__ import annotations

import re
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from csx_core.archive.formats import HOURLY_OHLCV, FileSpec
from csx_core.contracts import EVENT_KINDS
from csx_core.store.validate import row_problems

IntArray = npt.NDArray[np.int64]
ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray | npt.NDArray[np.generic]
Columns = dict[str, ArrayLike]

MICROS_THRESHOLD = 10**14  # ms timestamps stay below this until the year 5138
_MAX_MILLIS = 2**62 // 1_000_000  # in ns these stay far from int64 overflow
_MAX_MICROS = 2**62 // 1_000
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def interval_ns(interval: str) -> int:
    """Length of a fixed-length kline interval (``1m``, ``4h``, ``1w``) in ns."""
    match = re.fullmatch(r"(\d+)([smhdw])", interval)
    if match is None:
        raise ValueError(f"interval {interval!r} has no fixed length")
    return int(match[1]) * _UNIT_S[match[2]] * 1_000_000_000


def to_ns(ms_or_us: IntArray) -> IntArray:
    return np.where(ms_or_us >= MICROS_THRESHOLD, ms_or_us * 1_000, ms_or_us * 1_000_000)


def _time_problems(table: pa.Table, names: tuple[str, ...]) -> dict[int, str]:
    """Rows whose archive time is not a ms (or µs) timestamp that fits in int64 ns."""
    problems: dict[int, str] = {}
    for name in names:
        raw = _i(table, name)
        as_ms = (raw >= 0) & (raw < _MAX_MILLIS)
        ok = as_ms | ((raw >= MICROS_THRESHOLD) & (raw < _MAX_MICROS))
        for i in np.flatnonzero(~ok).tolist():
            problems.setdefault(i, f"{name} {raw[i]} is not a time in ms")
    return problems


def _i(table: pa.Table, name: str) -> IntArray:
    # via a combined Array: ChunkedArray.to_numpy goes through pandas (1 s to import)
    return np.asarray(table.column(name).combine_chunks().to_numpy(), dtype=np.int64)


def _arrow(
    values: pa.Array | pa.ChunkedArray | npt.NDArray[np.generic], kind: pa.DataType
) -> pa.Array:
    """``values`` as an Arrow array of ``kind``. ``pa.array`` on a ChunkedArray converts
    element by element (~0.1 s per 40 k bars); combining and casting is vectorised."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == kind else values.cast(kind)
    return pa.array(values, type=kind)


def convert(spec: FileSpec, table: pa.Table) -> tuple[pa.Table, list[tuple[int, str]]]:
    """(events in the contract schema, [(row index, problem)] of rejected rows, by row)."""
    kind = spec.format.kind
    time_columns = {
        "trade": ("transact_time",),
        "book_top": ("transaction_time", "event_time"),
        "kline": ("timestamp",) if spec.format is HOURLY_OHLCV else ("open_time", "close_time"),
    }[kind]
    rejected = _time_problems(table, time_columns)
    if rejected:
        keep = np.ones(table.num_rows, dtype=np.bool_)
        keep[list(rejected)] = False
        survivors = np.flatnonzero(keep)
        table = table.filter(pa.array(keep))
    else:
        survivors = np.arange(table.num_rows)
    n = table.num_rows
    columns: Columns = {"trade": _trades, "book_top": _book_tops, "kline": _klines}[kind](
        spec, table
    )
    columns["symbol"] = pa.repeat(pa.scalar(spec.symbol, pa.string()), n)
    schema = EVENT_KINDS[kind].arrow_schema()
    events = pa.Table.from_arrays([_arrow(columns[f.name], f.type) for f in schema], schema=schema)
    problems = row_problems(kind, events)
    if problems:
        keep = np.ones(n, dtype=np.bool_)
        keep[[i for i, _ in problems]] = False
        events = events.filter(pa.array(keep))
        rejected.update((int(survivors[i]), p) for i, p in problems)
    return events, sorted(rejected.items())


def _trades(spec: FileSpec, table: pa.Table) -> Columns:
    ts = to_ns(_i(table, "transact_time"))
    return {
        "ts_event": ts,
        "ts_recv": ts,
        "trade_id": table.column("agg_trade_id"),
        "price": table.column("price"),
        "qty": table.column("quantity"),
        "buyer_is_maker": table.column("is_buyer_maker"),
    }


def _book_tops(spec: FileSpec, table: pa.Table) -> Columns:
    event_time = _i(table, "event_time")
    ts = to_ns(np.where(event_time > 0, event_time, _i(table, "transaction_time")))
    return {
        "ts_event": ts,
        "ts_recv": ts,
        "update_id": table.column("update_id"),
        "bid_price": table.column("best_bid_price"),
        "bid_qty": table.column("best_bid_qty"),
        "ask_price": table.column("best_ask_price"),
        "ask_qty": table.column("best_ask_qty"),
    }


def _klines(spec: FileSpec, table: pa.Table) -> Columns:
    n = table.num_rows
    assert spec.interval is not None
    columns: Columns = {k: table.column(k) for k in ("open", "high", "low", "close", "volume")}
    if spec.format is HOURLY_OHLCV:
        open_time = to_ns(_i(table, "timestamp"))
        close_time = open_time + interval_ns(spec.interval) - 1_000_000
        zeros = np.zeros(n, dtype=np.float64)
        columns |= {
            "quote_volume": zeros,
            "trades": np.zeros(n, dtype=np.int64),
            "taker_buy_volume": zeros,
            "taker_buy_quote_volume": zeros,
        }
    else:
        open_time, close_time = to_ns(_i(table, "open_time")), to_ns(_i(table, "close_time"))
        columns |= {
            "quote_volume": table.column("quote_volume"),
            "trades": table.column("count"),
            "taker_buy_volume": table.column("taker_buy_volume"),
            "taker_buy_quote_volume": table.column("taker_buy_quote_volume"),
        }
    return columns | {
        "ts_event": close_time,
        "ts_recv": close_time,
        "interval": pa.repeat(pa.scalar(spec.interval, pa.string()), n),
        "open_time": open_time,
        "close_time": close_time,
        "closed": np.ones(n, dtype=np.bool_),
    }
