"""Quality of one UTC day of stored market events: schema, time order, duplicates, gaps.

The store already dedups and sorts on write; these measurements are the independent proof
the pipeline checks before anything is learned from a day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.store import DEDUP_KEYS, EventStore, StoreCorruption

NS_PER_S = 1_000_000_000
# Kinds whose exchange id must grow with event time for one symbol.
ID_COLUMNS = {"trade": "trade_id", "book_top": "update_id"}
# Kinds that show a symbol is alive: a silence longer than the threshold is a gap.
ACTIVITY_KINDS = ("trade", "book_top")


@dataclass(frozen=True)
class MarketDayQuality:
    day: date
    rows: dict[str, int]
    symbols: int
    schema_problems: list[str] = field(default_factory=list)
    out_of_order: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    gaps: list[tuple[str, int, int]] = field(default_factory=list)  # symbol, from ns, to ns

    @property
    def schema_ok(self) -> bool:
        return not self.schema_problems

    @property
    def monotone(self) -> bool:
        return not any(self.out_of_order.values())

    @property
    def duplicate_free(self) -> bool:
        return not any(self.duplicates.values())


def measure_market_day(store: EventStore, day: date, *, gap_s: float = 60.0) -> MarketDayQuality:
    rows: dict[str, int] = {}
    problems: list[str] = []
    out_of_order: dict[str, int] = {}
    duplicates: dict[str, int] = {}
    activity: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # names, codes, ts_event
    symbols: set[str] = set()
    for kind in store.kinds():
        if day not in store.dates(kind):
            continue
        try:
            table = store.read(kind, start=day, end=day)  # verifies manifest and schema
        except StoreCorruption as exc:
            problems.append(str(exc))
            continue
        rows[kind] = table.num_rows
        table, names = _symbols_as_codes(table)
        symbols.update(names)
        duplicates[kind] = table.num_rows - _distinct(table, DEDUP_KEYS[kind])
        if kind in ID_COLUMNS:
            out_of_order[kind] = _id_inversions(table, ID_COLUMNS[kind], names)
        if kind in ACTIVITY_KINDS:
            codes = table.column("symbol").to_numpy()
            activity.append((names, codes, table.column("ts_event").to_numpy()))
    gaps = _gaps(activity, gap_s) if activity else []
    return MarketDayQuality(day, rows, len(symbols), problems, out_of_order, duplicates, gaps)


def _symbols_as_codes(table: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """The table with its symbol column as int32 codes into the returned names. Sorting and
    grouping on strings took most of a day's measurement (2.5 of 5.3 s on a 20-symbol day);
    integer codes group the same rows."""
    encoded = pc.dictionary_encode(table.column("symbol").combine_chunks())
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    codes = encoded.indices.cast(pa.int32())
    return table.set_column(table.schema.get_field_index("symbol"), "symbol", codes), names


def _distinct(table: pa.Table, keys: tuple[str, ...]) -> int:
    """Distinct key tuples. Integer keys (the symbol is already a code) are packed into one
    int64 when their ranges fit, then counted on a sort: 0.04 s against 0.8 s for Arrow's
    group-by on a day of 1.2 M trades; other keys group in Arrow."""
    packed = _packed_key(table, keys)
    if packed is None:
        return int(table.group_by(list(keys)).aggregate([]).num_rows)
    if not len(packed):
        return 0
    packed.sort()
    return 1 + int(np.count_nonzero(packed[1:] != packed[:-1]))


def _fits_int64(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_signed_integer(t) or (pa.types.is_unsigned_integer(t) and t.bit_width <= 32)
    )


def _packed_key(table: pa.Table, keys: tuple[str, ...]) -> np.ndarray | None:
    """One int64 per row, equal exactly where the key tuples are (mixed radix over each
    column's range); None when a column is not an integer, has nulls, or the ranges
    overflow 62 bits."""
    columns = [table.column(k) for k in keys]
    if any(not _fits_int64(c.type) or c.null_count for c in columns):
        return None
    packed = np.zeros(table.num_rows, dtype=np.int64)
    radix = 1
    for column in reversed(columns):
        values = column.to_numpy().astype(np.int64, copy=False)
        if not len(values):
            return packed
        lo, hi = int(values.min()), int(values.max())
        span = hi - lo + 1
        if radix * span >= 1 << 62:
            return None
        packed += (values - lo) * radix
        radix *= span
    return packed


def _id_inversions(table: pa.Table, id_column: str, names: np.ndarray) -> int:
    """Rows whose exchange id is lower than an earlier (by event time) id of its symbol.

    A stored day comes back ordered by (ts_event, symbol, id), so a stable sort on the
    symbol codes alone already puts each symbol's rows in (ts_event, id) order: 0.02 s
    against 0.25 s for the three-key sort, which stays for a table in any other order."""
    symbol = table.column("symbol").to_numpy()
    ts = table.column("ts_event").to_numpy()
    ids = table.column(id_column).to_numpy()
    if _in_store_order(ts, np.argsort(np.argsort(names))[symbol], ids):
        order = np.argsort(symbol, kind="stable")
    else:
        order = np.lexsort((ids, ts, symbol))  # the last key sorts first
    symbol, ids = symbol[order], ids[order]
    same = symbol[1:] == symbol[:-1]
    return int(np.count_nonzero(same & (ids[1:] < ids[:-1])))


def _in_store_order(ts: np.ndarray, rank: np.ndarray, ids: np.ndarray) -> bool:
    """Whether rows are sorted by (ts, symbol rank, id), the store's read order."""
    same_ts, same_rank = ts[1:] == ts[:-1], rank[1:] == rank[:-1]
    later = (ts[1:] > ts[:-1]) | (
        same_ts & ((rank[1:] > rank[:-1]) | (same_rank & (ids[1:] >= ids[:-1])))
    )
    return bool(later.all())


def _gaps(
    activity: list[tuple[np.ndarray, np.ndarray, np.ndarray]], gap_s: float
) -> list[tuple[str, int, int]]:
    """Silences over ``gap_s`` per symbol across every activity kind. Each kind has codes of
    its own: they are mapped onto one sorted list of names first."""
    unique = np.unique(np.concatenate([names for names, _, _ in activity]).astype(str))
    codes = np.concatenate(
        [
            np.searchsorted(unique, names.astype(str))[kind_codes]
            for names, kind_codes, _ in activity
        ]
    )
    ts = np.concatenate([t for _, _, t in activity])
    codes, ts = _sorted_pairs(codes.astype(np.int64), ts.astype(np.int64))
    limit = int(gap_s * NS_PER_S)
    found = np.flatnonzero((codes[1:] == codes[:-1]) & (np.diff(ts) > limit))
    return [(str(unique[codes[i]]), int(ts[i]), int(ts[i + 1])) for i in found]


def _sorted_pairs(codes: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (code, ts) pairs sorted by code, then ts. Only the pairs are needed, not which
    row each came from, so they are packed into one int64 (code, then ts from the day's
    first) and sorted as one array: 0.06 s against 0.27 s for ``lexsort`` on a day of
    3 M rows. Ranges too wide to pack fall back to ``lexsort``."""
    if not len(ts):
        return codes, ts
    t0 = int(ts.min())
    span = int(ts.max()) - t0 + 1
    if (int(codes.max()) + 1) * span >= 1 << 62 or int(codes.min()) < 0:
        order = np.lexsort((ts, codes))
        return codes[order], ts[order]
    packed = np.sort(codes * span + (ts - t0))
    return packed // span, packed % span + t0
