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
    activity: list[pa.Table] = []
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
        symbols.update(pc.unique(table.column("symbol")).to_pylist())
        duplicates[kind] = table.num_rows - _distinct(table, DEDUP_KEYS[kind])
        if kind in ID_COLUMNS:
            out_of_order[kind] = _id_inversions(table, ID_COLUMNS[kind])
        if kind in ACTIVITY_KINDS:
            activity.append(table.select(["symbol", "ts_event"]))
    gaps = _gaps(pa.concat_tables(activity), day, gap_s) if activity else []
    return MarketDayQuality(day, rows, len(symbols), problems, out_of_order, duplicates, gaps)


def _distinct(table: pa.Table, keys: tuple[str, ...]) -> int:
    return int(table.group_by(list(keys)).aggregate([]).num_rows)


def _id_inversions(table: pa.Table, id_column: str) -> int:
    """Rows whose exchange id is lower than an earlier (by event time) id of its symbol."""
    order = pc.sort_indices(
        table, [("symbol", "ascending"), ("ts_event", "ascending"), (id_column, "ascending")]
    )
    ordered = table.take(order)
    symbol = ordered.column("symbol").to_numpy(zero_copy_only=False)
    ids = ordered.column(id_column).to_numpy()
    same = symbol[1:] == symbol[:-1]
    return int(np.count_nonzero(same & (ids[1:] < ids[:-1])))


def _gaps(table: pa.Table, day: date, gap_s: float) -> list[tuple[str, int, int]]:
    order = pc.sort_indices(table, [("symbol", "ascending"), ("ts_event", "ascending")])
    ordered = table.take(order)
    symbol = ordered.column("symbol").to_numpy(zero_copy_only=False)
    ts = ordered.column("ts_event").to_numpy()
    limit = int(gap_s * NS_PER_S)
    found = np.flatnonzero((symbol[1:] == symbol[:-1]) & (np.diff(ts) > limit))
    return [(str(symbol[i]), int(ts[i]), int(ts[i + 1])) for i in found]
