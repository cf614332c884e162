"""Month partitions: the day-level API over them, and crash safety of month merges. Which
span a kind gets (the first writer's choice, then fixed) is in ``test_store_span.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from csx_core.contracts import Kline, Trade
from csx_core.store import EventStore, StoreCorruption, WriteReport
from csx_core.store.layout import EPOCH, MONTH
from csx_core.store.store import events_table

H_NS = 3_600 * 10**9
DAY_NS = 24 * H_NS
AUG1 = date(2024, 8, 1)
AUG1_NS = (AUG1 - EPOCH).days * DAY_NS


def bar(hour: int, *, symbol: str = "BTCUSDT", closed: bool = True, close: float = 101.0) -> Kline:
    """The hourly bar opening ``hour`` hours after 2024-08-01, stamped at its close."""
    open_time = AUG1_NS + hour * H_NS
    ts = open_time + H_NS - (0 if closed else 10**9)
    return Kline(
        symbol=symbol,
        ts_event=ts,
        ts_recv=ts + 1,
        interval="1h",
        open_time=open_time,
        close_time=open_time + H_NS - 10**6,
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


def bars(hours: range, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> list[Kline]:
    return [bar(h, symbol=s) for h in hours for s in symbols]


def table(events: list[Kline]) -> pa.Table:
    return events_table("kline", events)


def write_months(
    store: EventStore,
    events: list[Kline],
    on_partition: Callable[[date, int], None] | None = None,
) -> WriteReport:
    """Write ``events`` asking for month partitions, as the bar importer does."""
    return store.write("kline", table(events), span=MONTH, on_partition=on_partition)


def day_of(event: Kline) -> date:
    return EPOCH + timedelta(days=event.ts_event // DAY_NS)


def read(store: EventStore, **kw: object) -> list[Kline]:
    return list(Kline.from_arrow(store.read("kline", **kw)))  # type: ignore[arg-type]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes, except the writer lock (created empty by the first write)."""
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock")
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


# -- month partitions ----------------------------------------------------------------------
def test_two_months_of_bars_are_two_partitions_and_read_back_per_day(store: EventStore) -> None:
    events = bars(range(24 * 40))  # August and 9 days of September
    report = write_months(store, events)
    assert report.partitions == (date(2024, 8, 1), date(2024, 9, 1))
    assert [p.name for p in store.partitions("kline")] == ["date=2024-08-01", "date=2024-09-01"]
    assert len(store.committed_files("kline")) == 2
    # the bar opening at 23:00 closes at midnight: its ts_event is the next day's
    assert store.dates("kline") == [AUG1 + timedelta(days=d) for d in range(41)]
    assert read(store) == sorted(events, key=lambda e: (e.ts_event, e.symbol))
    aug5 = read(store, start=date(2024, 8, 5), end=date(2024, 8, 5), symbols=["ETHUSDT"])
    assert [e.symbol for e in aug5] == ["ETHUSDT"] * 24
    assert {day_of(e) for e in aug5} == {date(2024, 8, 5)}
    span = read(store, start=date(2024, 8, 30), end=date(2024, 9, 2))
    assert {day_of(e) for e in span} == {date(2024, 8, d) for d in (30, 31)} | {
        date(2024, 9, d) for d in (1, 2)
    }
    assert len(span) == 4 * 24 * 2
    assert store.verify() == []
    assert store.orphans() == []


def test_month_manifest_lists_the_days_with_rows(store: EventStore) -> None:
    write_months(store, [bar(2), bar(24 * 9 + 3)])
    body = json.loads((store.partitions("kline")[0] / "manifest.json").read_text())
    assert (body["format"], body["span"], body["date"]) == (2, "month", "2024-08-01")
    assert body["days"] == ["2024-08-01", "2024-08-10"]
    assert store.dates("kline") == [date(2024, 8, 1), date(2024, 8, 10)]
    store.write("kline", table([bar(24 * 20)]))  # a plain append follows: adds its day
    assert store.dates("kline") == [date(2024, 8, 1), date(2024, 8, 10), date(2024, 8, 21)]
    assert len(store.committed_files("kline")) == 2


def test_day_partitions_keep_manifest_format_1(store: EventStore) -> None:
    trade = Trade(
        symbol="BTCUSDT",
        ts_event=AUG1_NS + 5,
        ts_recv=AUG1_NS + 6,
        trade_id=1,
        price=100.0,
        qty=1.0,
        buyer_is_maker=False,
    )
    store.write_events([trade])
    (partition,) = store.partitions("trade")
    assert partition.name == "date=2024-08-01"
    body = json.loads((partition / "manifest.json").read_text())
    assert body["format"] == 1
    assert "span" not in body


def test_a_day_by_day_replay_reads_each_month_once(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_months(store, bars(range(24 * 31)))
    reader = EventStore(store.root)
    reads: list[Path] = []
    from csx_core.store.partition import read_partition as original

    def counting(kind: str, partition: Path, *args: object, **kw: object) -> pa.Table:
        reads.append(partition)
        return original(kind, partition, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("csx_core.store.store.read_partition", counting)
    total = sum(reader.read("kline", start=d, end=d).num_rows for d in reader.dates("kline"))
    assert total == 2 * 24 * 31
    assert sum(1 for _ in reader.iter_events()) == total
    aug, sep = reader.partitions("kline")  # the last bar closes at Sep 1 00:00
    assert reads == [aug, sep, aug, sep]  # each month once per pass over the days


def test_a_cached_month_still_notices_a_flipped_byte(store: EventStore) -> None:
    write_months(store, bars(range(48)))
    assert store.read("kline", start=AUG1, end=AUG1).num_rows == 46
    (path,) = store.committed_files("kline")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruption, match=path.name):
        store.read("kline", start=date(2024, 8, 2), end=date(2024, 8, 2))
    (problem,) = store.verify()
    assert problem.path == path


def test_duckdb_views_list_each_month_file_once_with_per_row_dates(store: EventStore) -> None:
    write_months(store, bars(range(24 * 3)))
    con = store.duckdb()
    rows = con.sql("SELECT date, count(*) FROM kline GROUP BY 1 ORDER BY 1").fetchall()
    # hour 23 of each day closes at the next midnight
    assert rows == [
        (AUG1, 46),
        (date(2024, 8, 2), 48),
        (date(2024, 8, 3), 48),
        (date(2024, 8, 4), 2),
    ]


def test_a_superseding_version_rewrites_the_month_as_one_file(store: EventStore) -> None:
    write_months(store, [bar(5, closed=False, close=100.5), bar(6)])
    store.write("kline", table([bar(7)]))
    report = store.write("kline", table([bar(5)]))
    assert (report.rows_written, report.rows_replaced) == (1, 1)
    assert read(store) == [bar(5), bar(6), bar(7)]
    assert len(store.committed_files("kline")) == 1
    assert store.orphans() == []


def test_crash_before_a_month_merge_commits_keeps_the_old_month(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_months(store, [bar(5, closed=False, close=100.5), bar(6)])
    before = snapshot(store.root)

    def crash(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr("csx_core.store.partition.save_manifest", crash)
    with pytest.raises(OSError, match="power cut"):
        store.write("kline", table([bar(5), bar(24 * 3)]))  # a rewrite, and a new day
    monkeypatch.undo()
    reader = EventStore(store.root)
    assert read(reader) == [bar(5, closed=False, close=100.5), bar(6)]
    assert reader.dates("kline") == [AUG1]
    assert reader.verify() == []
    (orphan,) = reader.orphans()
    assert orphan.name.startswith(".tmp-") or orphan.name.startswith("part-")
    reader.clean_orphans()
    assert snapshot(store.root) == before


def test_a_write_reports_each_partition_in_date_order(store: EventStore) -> None:
    seen: list[tuple[date, int]] = []
    events = bars(range(24 * 70), symbols=("BTCUSDT",))  # August to early October
    report = write_months(store, events, on_partition=lambda d, n: seen.append((d, n)))
    assert seen == [(date(2024, 8, 1), 24 * 31 - 1), (date(2024, 9, 1), 24 * 30), (
        date(2024, 10, 1), 24 * 9 + 1)]  # fmt: skip
    assert report.partitions == tuple(d for d, _ in seen)


def test_a_failing_partition_fails_the_write_and_the_others_stay_whole(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csx_core.store.partition import write_partition as original

    def broken_september(kind: str, key: str, *args: object, **kw: object) -> object:
        if key == "2024-09-01":
            raise OSError("disk full")
        return original(kind, key, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("csx_core.store.store.write_partition", broken_september)
    events = bars(range(24 * 70), symbols=("BTCUSDT",))
    with pytest.raises(OSError, match="disk full"):
        write_months(store, events)
    monkeypatch.undo()
    assert [p.name for p in store.partitions("kline")] == ["date=2024-08-01", "date=2024-10-01"]
    assert store.verify() == []
    assert store.write("kline", table(events)).rows_written == 24 * 30  # September, now
    assert read(store) == events


def test_day_rows_of_a_month_partition_counts_that_day_only(store: EventStore) -> None:
    write_months(store, bars(range(0, 24 * 3)))  # three days of hourly bars, two symbols
    assert store.span("kline") == MONTH
    assert [store.day_rows("kline", d) for d in store.dates("kline")] == [
        store.read("kline", start=d, end=d).num_rows for d in store.dates("kline")
    ]
    assert store.day_rows("kline", AUG1 + timedelta(days=1)) == 48
