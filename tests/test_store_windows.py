"""Reading the store a window at a time gives what whole-day reads give, in order.

``EventStore.windows`` is how a replay reads a store too big to hold a day of: each file's
row groups are decoded once, partitions of several overlapping files (a market written a
symbol block at a time) come out in the store's sort order, month partitions are cut to
the days asked for, and the shadowed-kline rule holds across the windows of a day.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.features.shadow import ShadowTables, without_shadowed_klines
from csx_core.replay import replay_batches, replay_store
from csx_core.sim import SimConfig, simulate_day
from csx_core.store import KIND_ORDER, EventStore, StoreCorruption
from csx_core.store.store import SEC

DAY = date(2026, 3, 1)
CONFIG = SimConfig(seed=9, n_symbols=6, days=1, start=DAY, trade_rate=0.2, book_rate=0.05)


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return simulate_day(CONFIG, 0)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pa.Table]) -> EventStore:
    """The day written in three overlapping pieces per kind (symbols split), as the
    simulator writes a large market block by block."""
    store = EventStore(tmp_path_factory.mktemp("windows") / "events")
    names = CONFIG.symbol_names
    for group in (names[:2], names[2:4], names[4:]):
        for kind, table in tables.items():
            store.write(kind, table.filter(pc.is_in(table["symbol"], pa.array(list(group)))))
    return store


def _joined(batches: list[dict[str, pa.Table]], kind: str) -> pa.Table:
    return pa.concat_tables([b[kind] for b in batches if kind in b])


@pytest.mark.parametrize("window_s", [600, 3600, 86_400])
def test_windows_join_to_the_day_read_in_its_order(store: EventStore, window_s: int) -> None:
    batches = list(store.windows(window_s=window_s))
    assert len(batches) == 86_400 // window_s
    for kind in store.kinds():
        assert _joined(batches, kind).equals(store.read(kind, start=DAY, end=DAY)), kind
    midnight = (DAY - date(1970, 1, 1)).days * 86_400 * SEC
    for i, batch in enumerate(batches):
        lo, hi = midnight + i * window_s * SEC, midnight + (i + 1) * window_s * SEC
        for table in batch.values():
            ts = table["ts_event"].to_numpy()
            assert bool(np.all((ts >= lo) & (ts < hi)))


def test_a_partition_of_several_files_is_read_in_pieces(store: EventStore) -> None:
    manifest_files = list(store.partitions("book_top")[0].glob("part-*.parquet"))
    assert len(manifest_files) == 3


def test_windows_keep_only_the_symbols_asked_for(store: EventStore) -> None:
    wanted = list(CONFIG.symbol_names[1:3])
    batches = list(store.windows(["trade", "kline"], symbols=wanted))
    assert {k for b in batches for k in b} == {"trade", "kline"}
    for kind in ("trade", "kline"):
        expected = store.read(kind, symbols=wanted)
        assert _joined(batches, kind).equals(expected)


def test_month_partitions_are_cut_to_the_days_asked_for(tmp_path: Path) -> None:
    bars = SimConfig(seed=2, n_symbols=2, days=3, start=DAY, trade_rate=0.01, book_rate=0.0)
    store = EventStore(tmp_path / "events")
    for d in range(3):
        store.write("kline", simulate_day(bars, d)["kline"], span="month")
    assert store.span("kline") == "month"
    second, third = date(2026, 3, 2), date(2026, 3, 3)
    batches = list(store.windows(["kline"], start=second, end=third, window_s=7200))
    assert len(batches) == 24
    assert _joined(batches, "kline").equals(store.read("kline", start=second, end=third))


def test_a_window_that_does_not_divide_a_day_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="window_s must divide a day"):
        next(store.windows(window_s=7000))


def test_a_damaged_file_is_named_when_its_window_is_read(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events", hash_on_read=False)
    store.write("trade", simulate_day(CONFIG, 0)["trade"])
    part = next(store.partitions("trade")[0].glob("part-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # same size, garbled pages
    part.write_bytes(bytes(data))
    with pytest.raises(StoreCorruption, match=part.name):
        list(store.windows(["trade"]))


def test_the_shadow_rule_holds_across_the_windows_of_a_day(tables: dict[str, pa.Table]) -> None:
    """A kline before its symbol's first trade of the day is fed, one after is not, even
    when the trade sits in an earlier window than the kline."""
    symbol = CONFIG.symbol_names[0]
    trade = tables["trade"]
    late = pc.or_(
        pc.not_equal(trade["symbol"], symbol),
        pc.greater_equal(trade["ts_event"], trade["ts_event"][0].as_py() + 7200 * SEC),
    )
    day = {**tables, "trade": trade.filter(late)}  # the symbol's first trade comes at ~02:00
    mine = day["trade"].filter(pc.equal(day["trade"]["symbol"], symbol))
    first_trade = mine["ts_event"][0].as_py()
    whole = without_shadowed_klines(day)["kline"]
    kept = whole.filter(pc.equal(whole["symbol"], symbol))["ts_event"].to_numpy()
    assert len(kept) >= 119  # its klines until the first trade are fed, none after
    assert bool(np.all(kept < first_trade))
    shadow = ShadowTables()
    klines = day["kline"]["ts_event"].to_numpy()
    # a piece that starts with a kline: nothing in that piece shows the day's trades
    cut = [0, first_trade + 1, int(klines[klines > first_trade + 3600 * SEC][0]), 2**62]
    pieces = []
    for lo, hi in itertools.pairwise(cut):
        part = {
            k: t.filter(pc.and_(pc.greater_equal(t["ts_event"], lo), pc.less(t["ts_event"], hi)))
            for k, t in day.items()
        }
        pieces.append(shadow.apply(part)["kline"])
    assert pa.concat_tables(pieces).equals(whole)


def test_replaying_the_store_by_hour_gives_the_whole_day_digest(
    store: EventStore, tables: dict[str, pa.Table]
) -> None:
    by_hour = replay_store(store.root, None)
    whole_day = replay_batches([without_shadowed_klines({k: tables[k] for k in KIND_ORDER})])
    assert by_hour.digest == whole_day.digest
    assert by_hour.events == whole_day.events


def test_appending_other_symbols_skips_nothing_and_a_repeat_is_still_dropped(
    tmp_path: Path, tables: dict[str, pa.Table]
) -> None:
    """Appends of disjoint symbols skip the stored-key read; dedup must still catch a block
    written twice, and a block that shares one symbol with the partition."""
    store = EventStore(tmp_path / "events")
    trades = tables["trade"]
    names = CONFIG.symbol_names

    def only(group: list[str]) -> pa.Table:
        return trades.filter(pc.is_in(trades["symbol"], pa.array(group)))

    first, second = only(list(names[:3])), only(list(names[3:]))
    assert store.write("trade", first).rows_written == first.num_rows
    assert store.write("trade", second).rows_written == second.num_rows
    again = store.write("trade", first)
    assert (again.rows_written, again.duplicates) == (0, first.num_rows)
    overlap = only(list(names[2:4]))
    assert store.write("trade", overlap).rows_written == 0
    assert store.read("trade").equals(trades)


def test_store_replays_skip_the_hours_without_rows(tmp_path: Path) -> None:
    """A store of hourly bars starting late in a day: the replay's batches begin at the
    first bar (the determinism check takes its slice from the first batch)."""
    from csx_core.replay import store_batches

    bars = SimConfig(seed=2, n_symbols=2, days=1, start=DAY, trade_rate=0.01, book_rate=0.0)
    table = simulate_day(bars, 0)["kline"]
    evening = (DAY - date(1970, 1, 1)).days * 86_400 * SEC + 20 * 3600 * SEC
    store = EventStore(tmp_path / "events")
    store.write("kline", table.filter(pc.greater_equal(table["ts_event"], evening)))
    batches = list(store_batches(tmp_path / "events"))
    assert len(batches) == 4
    assert all(b["kline"].num_rows for b in batches)
    first = pc.min(batches[0]["kline"]["ts_event"]).as_py()
    assert evening <= first < evening + 3600 * SEC
