"""The Parquet event store: round trip, dedup, ordering, partitions, SQL views."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.contracts import (
    EVENT_KINDS,
    BookTop,
    ContractError,
    Kline,
    Liquidation,
    MarketEvent,
    MarkPrice,
    Side,
    Trade,
    event_kind,
)
from csx_core.store import (
    DEDUP_KEYS,
    KIND_ORDER,
    SORT_KEYS,
    EventStore,
    InvalidRowsError,
    SchemaMismatchError,
    StoreCorruption,
)
from csx_core.store.layout import DAY, MONTH
from csx_core.store.merge import to_events
from csx_core.store.store import events_table
from csx_core.store.validate import row_problems
from tests import strategies

DAY_NS = 86_400 * 10**9
DAY0 = 19_943  # 2024-08-08
T0 = DAY0 * DAY_NS


def trade(i: int, *, ts: int | None = None, symbol: str = "BTCUSDT", price: float = 100.0) -> Trade:
    t = T0 + i * 10**6 if ts is None else ts
    return Trade(
        symbol=symbol,
        ts_event=t,
        ts_recv=t,
        trade_id=i,
        price=price,
        qty=1.0 + i % 3,
        buyer_is_maker=bool(i % 2),
    )


def book(i: int, *, ts: int, symbol: str = "BTCUSDT") -> BookTop:
    return BookTop(
        symbol=symbol,
        ts_event=ts,
        ts_recv=ts,
        update_id=i,
        bid_price=100.0,
        bid_qty=1.0,
        ask_price=100.1,
        ask_qty=2.0,
    )


def kline(open_min: int, *, ts: int, closed: bool, close: float = 101.0) -> Kline:
    open_time = T0 + open_min * 60 * 10**9
    return Kline(
        symbol="BTCUSDT",
        ts_event=ts,
        ts_recv=ts,
        interval="1m",
        open_time=open_time,
        close_time=open_time + 59_999 * 10**6,
        open=100.0,
        high=102.0,
        low=99.0,
        close=close,
        volume=10.0,
        quote_volume=1000.0,
        trades=5,
        taker_buy_volume=4.0,
        taker_buy_quote_volume=400.0,
        closed=closed,
    )


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


def as_json(events: Sequence[MarketEvent]) -> list[bytes]:
    return [e.to_json() for e in events]


def read_events(store: EventStore, kind: str, **kw: object) -> list[MarketEvent]:
    return list(EVENT_KINDS[kind].from_arrow(store.read(kind, **kw)))  # type: ignore[arg-type]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- reference model of dedup + order ---------------------------------------------------
def _field(event: MarketEvent, name: str) -> object:
    value = getattr(event, name)
    return str(value) if isinstance(value, Side) else value


def expected_rows(kind: str, events: Sequence[MarketEvent]) -> list[MarketEvent]:
    """First occurrence per dedup key (klines: closed, then latest ts_event/ts_recv), in
    (ts_event, symbol, ids) order: the documented semantics, written the slow obvious way."""
    chosen: dict[tuple[object, ...], MarketEvent] = {}
    for e in events:
        key = tuple(_field(e, k) for k in DEDUP_KEYS[kind])
        old = chosen.get(key)
        if old is None or (
            isinstance(e, Kline)
            and isinstance(old, Kline)
            and (e.closed, e.ts_event, e.ts_recv) > (old.closed, old.ts_event, old.ts_recv)
        ):
            chosen[key] = e
    return sorted(chosen.values(), key=lambda e: tuple(_field(e, k) for k in SORT_KEYS[kind]))


@st.composite
def clustered_events(draw: st.DrawFn) -> MarketEvent:
    """Any valid event, moved into a 3-day window with small ids so duplicates happen.

    Dedup is per day partition: a trade/book update id always maps to one UTC day here, as
    it does on the exchange (one id, one event time)."""
    event = draw(strategies.market_events)
    ts = T0 + draw(st.integers(0, 3 * DAY_NS - 1))
    changes: dict[str, object] = {
        "ts_event": ts,
        "symbol": draw(st.sampled_from(["BTCUSDT", "ETHUSDT"])),
    }
    small_id = draw(st.integers(0, 6))
    same_day_per_id = T0 + (small_id % 3) * DAY_NS + draw(st.integers(0, DAY_NS - 1))
    if isinstance(event, Trade):
        changes |= {"trade_id": small_id, "ts_event": same_day_per_id}
    elif isinstance(event, BookTop):
        changes |= {"update_id": small_id, "ts_event": same_day_per_id}
    elif isinstance(event, Kline):
        changes["open_time"] = T0 + small_id * 60 * 10**9
        changes["close_time"] = T0 + small_id * 60 * 10**9 + 59_999 * 10**6
    elif isinstance(event, MarkPrice | Liquidation):
        changes["ts_event"] = T0 + small_id * DAY_NS // 3
    return msgspec.structs.replace(event, **changes)


@settings(max_examples=20, deadline=None)
@given(
    events=st.lists(clustered_events(), max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=3),
)
def test_any_batching_reads_back_deduplicated_and_sorted(
    events: list[MarketEvent], cuts: list[int]
) -> None:
    bounds = sorted({0, len(events), *(c for c in cuts if c <= len(events))})
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp))
        for lo, hi in itertools.pairwise(bounds):
            store.write_events(events[lo:hi])
        assert store.verify() == []
        for kind in KIND_ORDER:
            mine = [e for e in events if event_kind(e) == kind]
            assert as_json(read_events(store, kind)) == as_json(expected_rows(kind, mine))
        merged = list(store.iter_events(batch_rows=7))
        rank = {k: i for i, k in enumerate(KIND_ORDER)}
        assert merged == sorted(
            merged,
            key=lambda e: (
                e.ts_event,
                rank[event_kind(e)],
                tuple(_field(e, k) for k in SORT_KEYS[event_kind(e)][1:]),
            ),
        )
        assert sorted(as_json(merged)) == sorted(
            j for k in KIND_ORDER for j in as_json(read_events(store, k))
        )


@settings(max_examples=40, deadline=None)
@given(events=st.lists(strategies.market_events, max_size=8))
def test_events_table_and_to_events_match_the_contracts_own_arrow_encoding(
    events: list[MarketEvent],
) -> None:
    for kind in KIND_ORDER:
        mine = [e for e in events if event_kind(e) == kind]
        assert events_table(kind, mine).equals(EVENT_KINDS[kind].to_arrow(mine))  # type: ignore[arg-type]
        back = to_events(kind, events_table(kind, mine))
        assert back == mine
        assert [type(getattr(e, "side", None)) for e in back] == [
            type(getattr(e, "side", None)) for e in mine
        ]


def test_round_trip_across_days_and_report(store: EventStore) -> None:
    events = [trade(i, ts=T0 + i * DAY_NS // 2) for i in range(6)]  # 3 days
    (report,) = store.write_events(events)
    assert (report.rows_in, report.rows_written, report.duplicates) == (6, 6, 0)
    assert report.partitions == (date(2024, 8, 8), date(2024, 8, 9), date(2024, 8, 10))
    assert all(p.exists() for p in report.files)
    assert read_events(store, "trade") == events
    assert store.kinds() == ["trade"]
    assert store.dates("trade") == list(report.partitions)


def test_writing_the_same_table_twice_changes_nothing(store: EventStore) -> None:
    table = Trade.to_arrow([trade(i) for i in range(100)])
    store.write("trade", table)
    before = snapshot(store.root)
    report = store.write("trade", table)
    assert (report.rows_written, report.duplicates, report.files) == (0, 100, ())
    assert snapshot(store.root) == before


def test_duplicates_dropped_within_batch_and_against_stored(store: EventStore) -> None:
    store.write_events([trade(i) for i in range(10)])
    batch = [trade(i) for i in range(5, 15)] + [trade(12), trade(14)]
    (report,) = store.write_events(batch)
    assert (report.rows_in, report.rows_written, report.duplicates) == (12, 5, 7)
    assert [e.trade_id for e in read_events(store, "trade")] == list(range(15))  # type: ignore[union-attr]


@pytest.mark.parametrize("separately", [False, True])
def test_same_id_on_another_symbol_is_not_a_duplicate(store: EventStore, separately: bool) -> None:
    pair = [trade(1, symbol="BTCUSDT"), trade(1, symbol="ETHUSDT"), trade(2, symbol="ETHUSDT")]
    if separately:
        store.write_events(pair[:1])
        assert store.write_events(pair)[0].rows_written == 2
    else:
        store.write_events(pair)
    assert store.read("trade").column("symbol").to_pylist() == ["BTCUSDT", "ETHUSDT", "ETHUSDT"]


def test_closed_kline_supersedes_stored_open_version(store: EventStore) -> None:
    open_bar = kline(3, ts=T0 + 200 * 10**9, closed=False, close=100.5)
    closed_bar = kline(3, ts=T0 + 240 * 10**9 - 1, closed=True)
    store.write_events([open_bar, kline(4, ts=T0 + 250 * 10**9, closed=False)])
    (report,) = store.write_events([closed_bar])
    assert (report.rows_written, report.rows_replaced) == (1, 1)
    got = read_events(store, "kline")
    assert got[0] == closed_bar
    assert len(got) == 2
    (stale,) = store.write_events([open_bar])
    assert (stale.rows_written, stale.duplicates) == (0, 1)
    assert read_events(store, "kline")[0] == closed_bar
    assert store.orphans() == []
    assert len(store.committed_files("kline")) == 1


def test_a_kline_straddling_midnight_reads_back_once(store: EventStore) -> None:
    open_bar = kline(1439, ts=T0 + DAY_NS - 10**9, closed=False, close=100.5)  # 23:59 bar
    closed_bar = kline(1439, ts=T0 + DAY_NS + 5 * 10**6, closed=True)  # stamped 00:00:00.005
    store.write_events([open_bar])
    store.write_events([closed_bar])
    assert store.dates("kline") == [date(2024, 8, 8), date(2024, 8, 9)]  # day partitions
    assert read_events(store, "kline") == [closed_bar]
    assert list(store.iter_events()) == [open_bar, closed_bar]


def test_a_kline_straddling_midnight_is_superseded_within_its_month(store: EventStore) -> None:
    open_bar = kline(1439, ts=T0 + DAY_NS - 10**9, closed=False, close=100.5)  # 23:59 bar
    closed_bar = kline(1439, ts=T0 + DAY_NS + 5 * 10**6, closed=True)  # stamped 00:00:00.005
    store.write("kline", events_table("kline", [open_bar]), span=MONTH)
    assert store.dates("kline") == [date(2024, 8, 8)]
    (report,) = store.write_events([closed_bar])  # follows the kind's month partitions
    assert (report.span, report.rows_written, report.rows_replaced) == (MONTH, 1, 1)
    assert store.dates("kline") == [date(2024, 8, 9)]  # Aug 8 lost its only row
    assert read_events(store, "kline") == [closed_bar]
    assert list(store.iter_events()) == [closed_bar]


@pytest.mark.parametrize("span", [DAY, MONTH])
def test_a_kline_straddling_the_month_end_reads_back_once(store: EventStore, span: str) -> None:
    last_minute = 23 * 1440 + 1439  # 2024-08-31 23:59
    month_end = T0 + 24 * DAY_NS
    open_bar = kline(last_minute, ts=month_end - 10**9, closed=False, close=100.5)
    closed_bar = kline(last_minute, ts=month_end + 5 * 10**6, closed=True)
    store.write("kline", events_table("kline", [open_bar]), span=span)
    store.write("kline", events_table("kline", [closed_bar]), span=span)
    assert store.dates("kline") == [date(2024, 8, 31), date(2024, 9, 1)]
    assert read_events(store, "kline") == [closed_bar]
    assert list(store.iter_events()) == [open_bar, closed_bar]


def test_latest_kline_version_wins_within_a_batch(store: EventStore) -> None:
    versions = [
        kline(0, ts=T0 + s * 10**9, closed=False, close=100.0 + s / 100) for s in (30, 10, 50)
    ]
    store.write_events(versions)
    assert read_events(store, "kline") == [versions[2]]


@pytest.mark.parametrize(
    ("mutate", "column", "problem"),
    [
        (lambda t: t.drop_columns(["qty"]), "qty", "missing column"),
        (lambda t: t.append_column("extra", pa.array([1] * t.num_rows)), "extra", "unexpected"),
        (
            lambda t: t.set_column(3, "trade_id", t.column("trade_id").cast(pa.int32())),
            "trade_id",
            "has type int32",
        ),
        (
            lambda t: t.set_column(
                0, pa.field("symbol", pa.string()), pa.array([None] * t.num_rows, pa.string())
            ),
            "symbol",
            "nulls",
        ),
    ],
)
def test_schema_mismatch_names_the_column(
    store: EventStore, mutate: object, column: str, problem: str
) -> None:
    table = Trade.to_arrow([trade(i) for i in range(3)])
    with pytest.raises(SchemaMismatchError, match=problem) as info:
        store.write("trade", mutate(table))  # type: ignore[operator]
    assert info.value.column == column
    assert not store.root.exists() or store.kinds() == []


def test_columns_in_any_order_and_nullable_types_are_accepted(store: EventStore) -> None:
    table = Trade.to_arrow([trade(i) for i in range(3)])
    loose = pa.table({n: table.column(n).to_pylist() for n in reversed(table.schema.names)})
    assert store.write("trade", loose).rows_written == 3
    assert store.read("trade").equals(table)


def test_an_empty_table_writes_nothing(store: EventStore) -> None:
    report = store.write("trade", Trade.arrow_schema().empty_table())
    assert (report.rows_in, report.partitions, store.kinds()) == (0, (), [])


def test_a_reader_survives_a_concurrent_rewrite(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_events([trade(i) for i in range(5)])
    reader = EventStore(store.root)
    stale = reader._manifest("trade", date(2024, 8, 8))
    store.max_files_per_partition = 1
    store.write_events([trade(i) for i in range(5, 10)])  # rewrites: the old file is gone
    calls = iter([stale])
    original = EventStore._manifest
    monkeypatch.setattr(
        EventStore, "_manifest", lambda self, k, d: next(calls, None) or original(self, k, d)
    )
    assert reader.read("trade").num_rows == 10


def test_unknown_kind_is_rejected(store: EventStore) -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        store.write("depth", Trade.to_arrow([trade(1)]))


def test_rows_a_contract_rejects_are_not_written(store: EventStore) -> None:
    table = Trade.to_arrow([trade(i) for i in range(4)])
    prices = pa.array([1.0, -2.0, 3.0, float("nan")])
    with pytest.raises(InvalidRowsError) as info:
        store.write("trade", table.set_column(4, "price", prices))
    assert info.value.problems == [
        (1, "price must be > 0, got -2.0"),
        (3, "price must be > 0, got nan"),
    ]
    negative = table.set_column(1, "ts_event", pa.array([0, -5, 0, 0], pa.int64()))
    with pytest.raises(InvalidRowsError, match="ts_event must be >= 0 ns, got -5"):
        store.write("trade", negative)
    assert store.kinds() == []


NUMERIC_MUTATIONS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 1.0, 1e300])
)
STRING_MUTATIONS = {
    "symbol": st.sampled_from(["BTCUSDT", "btcusdt", "", "BTC-USDT", "1000PEPEUSDT", "ÄUSDT"]),
    "side": st.sampled_from(["BUY", "SELL", "HOLD", "buy"]),
}


@settings(max_examples=150, deadline=None)
@given(events=st.lists(strategies.market_events, min_size=1, max_size=4), data=st.data())
def test_vectorised_rules_agree_with_the_contracts(
    events: list[MarketEvent], data: st.DataObject
) -> None:
    kind = event_kind(events[0])
    contract = EVENT_KINDS[kind]
    rows = events_table(kind, [e for e in events if event_kind(e) == kind]).to_pylist()
    for row in rows:
        for name in data.draw(st.lists(st.sampled_from(sorted(row)), max_size=2)):
            value = row[name]
            if name in STRING_MUTATIONS:
                row[name] = data.draw(STRING_MUTATIONS[name])
            elif isinstance(value, float):
                row[name] = data.draw(NUMERIC_MUTATIONS)
            elif isinstance(value, int) and not isinstance(value, bool):
                row[name] = data.draw(st.integers(-(2**40), 2**62))
    table = pa.Table.from_pylist(rows, schema=contract.arrow_schema())
    flagged = {i for i, _ in row_problems(kind, table)}
    rejected = set()
    for i, row in enumerate(rows):
        try:
            msgspec.convert(row, type=contract)
        except (ContractError, msgspec.ValidationError):
            rejected.add(i)
    assert flagged == rejected


def _only_file(store: EventStore) -> Path:
    (path,) = store.committed_files("trade")
    return path


def test_verify_and_read_name_a_file_with_a_flipped_byte(store: EventStore) -> None:
    store.write_events([trade(i) for i in range(50)])
    path = _only_file(store)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    (problem,) = store.verify()
    assert problem.path == path
    assert "SHA-256" in problem.problem
    with pytest.raises(StoreCorruption, match=path.name):
        EventStore(store.root).read("trade")


def test_verify_and_read_name_a_truncated_file(store: EventStore) -> None:
    store.write_events([trade(i) for i in range(50)])
    path = _only_file(store)
    path.write_bytes(path.read_bytes()[:-100])
    (problem,) = store.verify()
    assert problem.path == path
    assert "size" in problem.problem
    with pytest.raises(StoreCorruption, match=path.name):
        EventStore(store.root, hash_on_read=False).read("trade")


def test_missing_file_and_broken_manifest_are_reported(store: EventStore) -> None:
    store.write_events([trade(1), trade(2, ts=T0 + DAY_NS)])
    first, second = store.committed_files("trade")
    first.unlink()
    manifest = second.parent / "manifest.json"
    manifest.write_text("{not json")
    problems = {p.path: p.problem for p in store.verify()}
    assert problems.keys() == {first, manifest}
    assert "missing" in problems[first]


def test_hash_on_read_cache_notices_a_rewritten_file(store: EventStore) -> None:
    store.write_events([trade(i) for i in range(20)])
    assert store.read("trade").num_rows == 20
    path = _only_file(store)
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruption):
        store.read("trade")


def test_leftover_files_of_a_crashed_write_are_ignored_and_cleaned(store: EventStore) -> None:
    events = [trade(i) for i in range(10)]
    store.write_events(events)
    partition = _only_file(store).parent
    (partition / ".tmp-abc-part-x.parquet").write_bytes(b"half a file")
    stray = partition / "part-0000.parquet"
    stray.write_bytes(_only_file(store).read_bytes())
    assert read_events(store, "trade") == events
    assert store.verify() == []
    assert set(store.orphans()) == {partition / ".tmp-abc-part-x.parquet", stray}
    assert set(store.clean_orphans()) == {partition / ".tmp-abc-part-x.parquet", stray}
    assert store.orphans() == []
    assert read_events(store, "trade") == events


def test_crash_before_the_manifest_is_replaced_keeps_the_old_state(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [trade(i) for i in range(10)]
    store.write_events(first)
    before = snapshot(store.root)

    def crash(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr("csx_core.store.partition.save_manifest", crash)
    with pytest.raises(OSError, match="power cut"):
        store.write_events([trade(i) for i in range(10, 20)])
    monkeypatch.undo()
    assert read_events(store, "trade") == first
    assert store.verify() == []
    (orphan,) = store.orphans()
    assert orphan.name.startswith("part-")
    store.clean_orphans()
    assert snapshot(store.root) == before


def test_appends_compact_when_a_partition_has_too_many_files(tmp_path: Path) -> None:
    store = EventStore(tmp_path, max_files_per_partition=3)
    for k in range(5):
        store.write_events([trade(i) for i in range(k * 10, k * 10 + 10)])
        assert len(store.committed_files("trade")) <= 3
    assert [e.trade_id for e in read_events(store, "trade")] == list(range(50))  # type: ignore[union-attr]
    assert store.orphans() == []


def test_overlapping_appends_read_back_in_order(store: EventStore) -> None:
    store.write_events([trade(i, ts=T0 + 10 * i) for i in range(0, 20, 2)])
    store.write_events([trade(i, ts=T0 + 10 * i) for i in range(1, 20, 2)])
    assert len(store.committed_files("trade")) == 2
    assert [e.trade_id for e in read_events(store, "trade")] == list(range(20))  # type: ignore[union-attr]


def test_date_range_and_symbol_filters_prune(store: EventStore) -> None:
    events = [
        trade(d * 10 + i, ts=T0 + d * DAY_NS + i, symbol=s)
        for d in range(4)
        for i, s in enumerate(["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    ]
    store.write_events(events)
    got = store.read("trade", start=date(2024, 8, 9), end=date(2024, 8, 10), symbols=["ETHUSDT"])
    assert got.column("symbol").to_pylist() == ["ETHUSDT", "ETHUSDT"]
    assert [t // DAY_NS - DAY0 for t in got.column("ts_event").to_pylist()] == [1, 2]
    assert store.read("trade", start=date(2024, 8, 12)).num_rows == 0
    assert store.read("book_top").schema == BookTop.arrow_schema()


def test_iter_events_merges_kinds_with_a_fixed_tie_break(store: EventStore) -> None:
    ts = T0 + 5
    events: list[MarketEvent] = [
        book(7, ts=ts, symbol="ETHUSDT"),
        book(3, ts=ts, symbol="BTCUSDT"),
        trade(9, ts=ts, symbol="ETHUSDT"),
        trade(2, ts=ts, symbol="ETHUSDT"),
        trade(1, ts=ts + DAY_NS),
        trade(0, ts=ts - 1),
    ]
    store.write_events(events)
    order = [(event_kind(e), e.symbol, e.ts_event - T0) for e in store.iter_events(batch_rows=2)]
    assert order == [
        ("trade", "BTCUSDT", 4),
        ("trade", "ETHUSDT", 5),
        ("trade", "ETHUSDT", 5),
        ("book_top", "BTCUSDT", 5),
        ("book_top", "ETHUSDT", 5),
        ("trade", "BTCUSDT", 5 + DAY_NS),
    ]
    assert [e.trade_id for e in store.iter_events(kinds=["trade"], end=date(2024, 8, 8))] == [  # type: ignore[union-attr]
        0,
        2,
        9,
    ]
    assert [kind for kind, _ in store.scan()] == ["trade", "book_top", "trade"]


def test_duckdb_views_query_the_committed_files(store: EventStore) -> None:
    store.write_events([trade(i, ts=T0 + i * DAY_NS // 4) for i in range(8)])
    store.write_events([book(1, ts=T0)])
    partition = store.committed_files("trade")[0].parent
    (partition / "part-orphan.parquet").write_bytes(store.committed_files("trade")[0].read_bytes())
    con = store.duckdb()
    rows = con.sql("SELECT date, kind, count(*) FROM trade GROUP BY ALL ORDER BY date").fetchall()
    assert rows == [(date(2024, 8, 8), "trade", 4), (date(2024, 8, 9), "trade", 4)]
    assert con.sql("SELECT count(*) FROM book_top").fetchall() == [(1,)]
    pruned = con.sql("SELECT count(*) FROM trade WHERE date = DATE '2024-08-09'").fetchall()
    assert pruned == [(4,)]


def test_manifest_lists_rows_times_and_hashes(store: EventStore) -> None:
    store.write_events([trade(i) for i in range(3)])
    path = _only_file(store)
    body = json.loads((path.parent / "manifest.json").read_text())
    (entry,) = body["files"]
    assert (body["kind"], body["date"], body["rows"], body["schema_version"]) == (
        "trade",
        "2024-08-08",
        3,
        1,
    )
    assert entry["name"] == path.name
    assert entry["bytes"] == path.stat().st_size
    assert (entry["ts_min"], entry["ts_max"]) == (T0, T0 + 2 * 10**6)
    assert path.name.startswith("part-" + entry["sha256"][:20])


def test_day_rows_counts_what_read_returns_without_reading(store: EventStore) -> None:
    # three days of trades written in two batches (the second repeats some ids), and an
    # open kline superseded by its closed version in the same day partition
    store.write_events([trade(i, ts=T0 + i * DAY_NS // 4) for i in range(8)])
    store.write_events([trade(i, ts=T0 + i * DAY_NS // 4) for i in range(6, 12)])
    store.write_events([kline(0, ts=T0 + 30 * 10**9, closed=False)])
    store.write_events([kline(0, ts=T0 + 60 * 10**9, closed=True)])
    for kind in store.kinds():
        for day in store.dates(kind):
            assert store.day_rows(kind, day) == store.read(kind, start=day, end=day).num_rows
    assert [store.day_rows("trade", d) for d in store.dates("trade")] == [4, 4, 4]
    assert store.day_rows("kline", date(2024, 8, 8)) == 1
    assert store.day_rows("trade", date(2024, 8, 20)) == 0
