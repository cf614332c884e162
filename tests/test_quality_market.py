"""Market-day quality measurements catch what they name."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.contracts import Trade
from csx_core.quality import measure_market_day
from csx_core.store import EventStore
from tests.test_store import book

DAY = date(2026, 1, 1)
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z in ns
S = 10**9


def trade(i: int, ts: int, symbol: str = "BTCUSDT") -> Trade:
    return Trade(
        symbol=symbol,
        ts_event=ts,
        ts_recv=ts,
        trade_id=i,
        price=100.0,
        qty=1.0,
        buyer_is_maker=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


def test_healthy_day(store: EventStore) -> None:
    store.write_events([trade(i, T0 + i * S) for i in range(100)])
    store.write_events([book(1, ts=T0 + 5 * S)])
    q = measure_market_day(store, DAY, gap_s=30)
    assert q.rows == {"trade": 100, "book_top": 1}
    assert q.schema_ok
    assert q.monotone
    assert q.duplicate_free
    assert q.gaps == []
    assert q.symbols == 1


def test_out_of_order_ids_and_gaps_are_found(store: EventStore) -> None:
    events = [trade(i, T0 + i * S) for i in range(10)]
    events.append(trade(3_000, T0 + 11 * S))
    events.append(trade(2_000, T0 + 12 * S))  # id goes backwards in time
    events.append(trade(4_000, T0 + 200 * S))  # 188 s of silence
    store.write_events(events)
    q = measure_market_day(store, DAY, gap_s=60)
    assert q.out_of_order == {"trade": 1}
    assert not q.monotone
    assert q.gaps == [("BTCUSDT", T0 + 12 * S, T0 + 200 * S)]


def test_corrupt_file_is_a_schema_problem(store: EventStore) -> None:
    store.write_events([trade(i, T0 + i * S) for i in range(10)])
    (path,) = store.committed_files("trade")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    q = measure_market_day(store, DAY)
    assert not q.schema_ok
    assert path.name in q.schema_problems[0]


def test_duplicates_are_counted_when_present() -> None:
    from csx_core.quality.market import _distinct

    table = pa.table({"symbol": ["A", "A", "B"], "trade_id": [1, 1, 1]})
    assert table.num_rows - _distinct(table, ("symbol", "trade_id")) == 1


@pytest.mark.parametrize(
    "ids",
    [
        pa.array([5, 5, -3, 7, 5, -3, 2**40, 2**40], pa.int64()),  # packed into one int64
        pa.array([2**62, 2**62, -(2**62), 1, 1, 0, 0, 3], pa.int64()),  # too wide: group-by
        pa.array([1, 1, 2, 2, 3, 3, 4, 4], pa.uint64()),  # may not fit int64: group-by
    ],
)
def test_distinct_integer_keys_count_as_arrow_groups_them(ids: pa.Array) -> None:
    from csx_core.quality.market import _distinct, _packed_key

    codes = pa.array([0, 0, 0, 1, 1, 1, 2, 2], pa.int32())
    table = pa.table({"symbol": codes, "trade_id": ids})
    grouped = table.group_by(["symbol", "trade_id"]).aggregate([]).num_rows
    assert _distinct(table, ("symbol", "trade_id")) == grouped
    packable = ids.type == pa.int64() and pc.max(ids).as_py() < 2**61
    assert (_packed_key(table, ("symbol", "trade_id")) is not None) == packable
    assert _distinct(table.slice(0, 0), ("symbol", "trade_id")) == 0


def test_gaps_span_every_activity_kind_by_symbol_name(store: EventStore) -> None:
    # Each kind encodes its symbols in its own order (ETH first among book tops, BTC first
    # among trades): the silence is judged per symbol name across both kinds.
    store.write_events([trade(1, T0, "BTCUSDT"), trade(2, T0 + 100 * S, "BTCUSDT")])
    store.write_events([trade(3, T0 + 1 * S, "ETHUSDT"), trade(4, T0 + 150 * S, "ETHUSDT")])
    store.write_events(
        [book(1, ts=T0 + 0 * S, symbol="ETHUSDT"), book(2, ts=T0 + 50 * S, symbol="BTCUSDT")]
    )
    store.write_events([book(3, ts=T0 + 75 * S, symbol="ETHUSDT")])
    q = measure_market_day(store, DAY, gap_s=60)
    # BTC: 0 (trade), 50 (book), 100 (trade): no silence over 60 s.
    # ETH: 0 (book), 1 (trade), 75 (book), 150 (trade): 74 s and 75 s silences.
    assert q.gaps == [
        ("ETHUSDT", T0 + 1 * S, T0 + 75 * S),
        ("ETHUSDT", T0 + 75 * S, T0 + 150 * S),
    ]
    assert q.symbols == 2
    assert q.monotone
    assert q.duplicate_free


def test_id_inversions_count_the_same_in_store_order_and_any_order() -> None:
    import numpy as np

    from csx_core.quality.market import _id_inversions, _in_store_order

    rng = np.random.default_rng(5)
    n = 4_000
    names = np.array(["ZZUSDT", "AAUSDT", "MMUSDT"], dtype=object)  # codes by first sight
    codes = rng.integers(0, 3, n).astype(np.int32)
    ts = np.sort(rng.integers(0, 500, n)) * S  # many rows share a second
    ids = rng.integers(0, 50_000, n)  # ids out of order within symbols
    rank = np.argsort(np.argsort(names))  # each code's place among the sorted names
    order = np.lexsort((ids, rank[codes], ts))  # the store's order: ts, symbol, id
    stored = pa.table({"symbol": codes[order], "ts_event": ts[order], "trade_id": ids[order]})
    shuffled = stored.take(pa.array(rng.permutation(n)))

    def in_store_order(t: pa.Table) -> bool:
        columns = (t.column(c).to_numpy() for c in ("ts_event", "symbol", "trade_id"))
        ts_, codes_, ids_ = columns
        return _in_store_order(ts_, rank[codes_], ids_)

    assert in_store_order(stored)  # the fast path is taken
    assert not in_store_order(shuffled)  # the three-key sort is
    count = _id_inversions(stored, "trade_id", names)
    assert count == _id_inversions(shuffled, "trade_id", names)
    # the reference: per symbol, ids against the running max in (ts, id) order
    expected = 0
    for code in range(3):
        rows = sorted(zip(ts[codes == code].tolist(), ids[codes == code].tolist(), strict=True))
        expected += sum(b[1] < a[1] for a, b in itertools.pairwise(rows))
    assert count == expected > 0


def test_sorted_pairs_equal_lexsort_packed_or_not() -> None:
    import numpy as np

    from csx_core.quality.market import _sorted_pairs

    rng = np.random.default_rng(9)
    codes = rng.integers(0, 40, 20_000)
    ts = T0 + rng.integers(0, 86_400, 20_000) * S // 7  # ties within and across codes
    for c, t in ((codes, ts), (codes * 2**40, ts)):  # packed, then too wide to pack
        got_codes, got_ts = _sorted_pairs(c, t)
        reference = np.lexsort((t, c))
        assert got_codes.tolist() == c[reference].tolist()
        assert got_ts.tolist() == t[reference].tolist()
    empty = np.empty(0, dtype=np.int64)
    assert [a.size for a in _sorted_pairs(empty, empty)] == [0, 0]
