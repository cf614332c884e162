"""The partition span of a kind: chosen by its first writer, then followed by every write.

A recorder (``write_events``, open klines superseded later) gets day partitions, so a
superseding write rewrites one day, never a month; the bar importer asks for months; a kind
directory never holds both, and one that does (by hand) is refused loudly, not half read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csx_core.archive import import_archives
from csx_core.cli import main
from csx_core.contracts import Kline, Trade
from csx_core.store import EventStore, StoreCorruption
from csx_core.store.layout import DAY, EPOCH, MONTH
from csx_core.store.manifest import MANIFEST_NAME
from csx_core.store.store import events_table
from tests.test_archive_bars import HOURS, ohlcv_file

M_NS = 60 * 10**9
DAY_NS = 86_400 * 10**9
AUG30 = date(2024, 8, 30)


def ns(day: date) -> int:
    return (day - EPOCH).days * DAY_NS


def minute_bar(minute: int, *, closed: bool, start: date = AUG30) -> Kline:
    """The 1m bar opening ``minute`` minutes after ``start``: an open update 1 s before its
    close, or the closed bar stamped at its close."""
    open_time = ns(start) + minute * M_NS
    ts = open_time + M_NS - (10**9 if not closed else 0)
    return Kline(
        symbol="BTCUSDT",
        ts_event=ts,
        ts_recv=ts + 1,
        interval="1m",
        open_time=open_time,
        close_time=open_time + M_NS - 10**6,
        open=100.0,
        high=102.0,
        low=99.0,
        close=101.0 if closed else 100.5,
        volume=10.0,
        quote_volume=1000.0,
        trades=5,
        taker_buy_volume=4.0,
        taker_buy_quote_volume=400.0,
        closed=closed,
    )


def trade(i: int, day: int) -> Trade:
    ts = ns(AUG30) + day * DAY_NS + i * 10**6
    return Trade(
        symbol="BTCUSDT",
        ts_event=ts,
        ts_recv=ts,
        trade_id=day * 10_000 + i,
        price=100.0,
        qty=1.0,
        buyer_is_maker=False,
    )


def manifest_spans(store: EventStore, kind: str) -> set[str]:
    """The span every manifest of ``kind`` declares (format 1 = day)."""
    spans = set()
    for manifest in (store.root / f"kind={kind}").glob(f"date=*/{MANIFEST_NAME}"):
        body = json.loads(manifest.read_text())
        spans.add(body.get("span", DAY) if body["format"] == 2 else DAY)
    return spans


def snapshot(root: Path) -> dict[str, bytes]:
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock")
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def read_klines(store: EventStore) -> list[Kline]:
    return list(Kline.from_arrow(store.read("kline")))


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


# -- who chooses ---------------------------------------------------------------------------
def test_a_recorder_style_store_stays_daily_and_a_superseding_write_rewrites_one_day(
    store: EventStore,
) -> None:
    # 5 s batches of a recorder over three days around a month end: closed bars, open
    # updates, then the closed bar that supersedes one (Aug 31 01:30-01:31).
    store.write_events([minute_bar(m, closed=True) for m in range(0, 3 * 1440, 60)])
    store.write_events([minute_bar(1530, closed=False), trade(1, 1)])
    assert store.span("kline") == store.span("trade") == DAY
    before = snapshot(store.root)
    reports = store.write_events([minute_bar(1530, closed=True), trade(2, 2)])
    (report,) = (r for r in reports if r.kind == "kline")
    assert (report.span, report.rows_written, report.rows_replaced) == (DAY, 1, 1)
    assert report.partitions == (date(2024, 8, 31),)
    changed = {k.rsplit("/", 1)[0] for k, v in snapshot(store.root).items() if before.get(k) != v}
    assert changed == {"kind=kline/date=2024-08-31", "kind=trade/date=2024-09-01"}
    aug31 = store.partition_path("kline", date(2024, 8, 31))
    assert sum(1 for _ in aug31.glob("part-*.parquet")) == 1  # that day rewritten as one file
    assert [p.name for p in store.partitions("kline")] == [
        "date=2024-08-30",
        "date=2024-08-31",
        "date=2024-09-01",
    ]
    assert manifest_spans(store, "kline") == manifest_spans(store, "trade") == {DAY}
    assert minute_bar(1530, closed=True) in read_klines(store)
    assert store.read("kline").num_rows == 3 * 24 + 1
    assert store.verify() == []


def test_an_imported_bar_store_is_monthly_and_a_plain_write_follows_its_months(
    tmp_path: Path, store: EventStore
) -> None:
    import_archives([ohlcv_file(tmp_path, "BTC")], store)  # Feb and half of March 2024
    assert store.span("kline") == MONTH
    assert [p.name for p in store.partitions("kline")] == ["date=2024-02-01", "date=2024-03-01"]
    # A recorder appending live 1m bars to it: an open update, then the closed bar.
    feb10 = date(2024, 2, 10)
    (opened,) = store.write_events([minute_bar(0, closed=False, start=feb10)])
    (superseded,) = store.write_events([minute_bar(0, closed=True, start=feb10)])
    assert (opened.span, superseded.span) == (MONTH, MONTH)
    assert (superseded.partitions, superseded.rows_replaced) == ((date(2024, 2, 1),), 1)
    assert [p.name for p in store.partitions("kline")] == ["date=2024-02-01", "date=2024-03-01"]
    assert manifest_spans(store, "kline") == {MONTH}
    assert store.read("kline").num_rows == HOURS + 1
    assert store.verify() == []


def test_an_import_into_an_existing_daily_kline_store_stays_daily(
    tmp_path: Path, store: EventStore
) -> None:
    store.write_events([minute_bar(0, closed=True, start=date(2024, 2, 3))])  # recorded live
    report = import_archives([ohlcv_file(tmp_path, "BTC")], store)
    assert report.written == HOURS
    assert store.span("kline") == DAY
    names = [p.name for p in store.partitions("kline")]
    # one partition per UTC day of the file's 45 days of bars
    assert names == [f"date={date(2024, 2, 1) + timedelta(days=d)}" for d in range(45)]
    assert manifest_spans(store, "kline") == {DAY}
    assert store.read("kline").num_rows == HOURS + 1
    assert store.verify() == []


@pytest.mark.parametrize(("first", "later"), [(DAY, MONTH), (MONTH, DAY)])
def test_the_first_write_fixes_the_span_for_every_later_write(
    store: EventStore, first: str, later: str
) -> None:
    assert store.span("kline") is None
    store.write("kline", events_table("kline", [minute_bar(5, closed=True)]), span=first)
    report = store.write(
        "kline", events_table("kline", [minute_bar(3 * 1440, closed=True)]), span=later
    )
    assert (store.span("kline"), report.span) == (first, first)
    assert manifest_spans(store, "kline") == {first}
    assert len(read_klines(store)) == 2


def test_a_first_write_that_fails_part_way_still_fixes_the_span(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csx_core.store.partition import write_partition as original

    def broken_august(kind: str, key: str, *args: object, **kw: object) -> object:
        if key == "2024-08-01":
            raise OSError("disk full")
        return original(kind, key, *args, **kw)  # type: ignore[arg-type]

    bars = [minute_bar(m, closed=True) for m in (0, 3 * 1440)]  # Aug 30, Sep 2
    monkeypatch.setattr("csx_core.store.store.write_partition", broken_august)
    with pytest.raises(OSError, match="disk full"):
        store.write("kline", events_table("kline", bars), span=MONTH)
    monkeypatch.undo()
    assert store.span("kline") == MONTH  # September committed
    assert store.write_events(bars)[0].span == MONTH  # the retry writes August as a month
    assert [p.name for p in store.partitions("kline")] == ["date=2024-08-01", "date=2024-09-01"]


def test_two_writers_racing_to_be_first_agree_on_one_span(tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    spans: list[str] = []

    def writer(span: str, minute: int) -> None:
        store = EventStore(tmp_path / "events")
        barrier.wait()
        for step in range(4):
            bar = minute_bar(minute + step * 1440, closed=True)
            spans.append(store.write("kline", events_table("kline", [bar]), span=span).span)

    threads = [threading.Thread(target=writer, args=a) for a in ((DAY, 0), (MONTH, 7))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = EventStore(tmp_path / "events")
    assert len(set(spans)) == 1
    assert manifest_spans(store, "kline") == set(spans)
    assert len(read_klines(store)) == 8


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["kline", "trade"]),
            st.sampled_from([DAY, MONTH]),
            st.lists(st.integers(0, 40), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_no_sequence_of_writes_mixes_spans_in_a_kind(
    writes: list[tuple[str, str, list[int]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder))
        first: dict[str, str] = {}
        expected: dict[str, set[int]] = {"kline": set(), "trade": set()}
        for kind, span, days in writes:
            if kind == "kline":
                rows = events_table("kline", [minute_bar(d * 1440, closed=True) for d in days])
            else:
                rows = events_table("trade", [trade(1, d) for d in days])
            first.setdefault(kind, span)
            assert store.write(kind, rows, span=span).span == first[kind]
            expected[kind] |= set(days)
        for kind, span in first.items():
            assert manifest_spans(store, kind) == {span}
            assert store.read(kind).num_rows == len(expected[kind])
        assert store.verify() == []


# -- what it costs to know -----------------------------------------------------------------
def test_a_daily_kinds_span_is_known_from_its_first_of_month_manifests(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_events([trade(1, d) for d in range(40)])  # Aug 30 .. Oct 8: 40 partitions
    loaded: list[str] = []
    from csx_core.store.manifest import load_manifest as original

    def counting(partition: Path) -> object:
        loaded.append(partition.name)
        return original(partition)

    monkeypatch.setattr("csx_core.store.kind_dir.load_manifest", counting)
    reader = EventStore(store.root)
    assert len(reader.dates("trade")) == 40
    assert loaded == ["date=2024-09-01", "date=2024-10-01"]
    assert reader.span("trade") == DAY
    assert len(loaded) == 2  # unchanged manifests are not parsed again


# -- layouts the store never writes --------------------------------------------------------
@pytest.mark.parametrize("stray", [DAY, MONTH])
def test_a_kind_directory_with_both_spans_is_refused_not_half_read(
    tmp_path: Path, stray: str
) -> None:
    """Day and month partitions copied into one kind directory by hand: nothing reads part
    of it silently; verify names the directory; a write refuses and changes nothing."""
    aug_bar, sep_bar = minute_bar(0, closed=True), minute_bar(5 * 1440, closed=True)
    home, donor = EventStore(tmp_path / "home"), EventStore(tmp_path / "donor")
    home.write("kline", events_table("kline", [aug_bar]), span=DAY if stray == MONTH else MONTH)
    donor.write("kline", events_table("kline", [sep_bar]), span=stray)
    (partition,) = donor.partitions("kline")
    shutil.copytree(partition, home.root / "kind=kline" / partition.name)
    store = EventStore(home.root)
    kind_dir = store.root / "kind=kline"
    assert store.dates("kline") == [date(2024, 8, 30), date(2024, 9, 4)]  # both still listed
    problems = store.verify()
    assert [p.path for p in problems] == [kind_dir]
    assert "both day partitions" in problems[0].problem
    for use in (
        lambda: store.read("kline"),
        lambda: list(store.iter_events()),
        lambda: list(store.scan()),
        lambda: store.committed_files("kline"),
        lambda: store.duckdb(),
        lambda: store.span("kline"),
    ):
        with pytest.raises(StoreCorruption, match="both day partitions"):
            use()
    before = snapshot(store.root)
    with pytest.raises(StoreCorruption, match="both day partitions"):
        store.write_events([minute_bar(9 * 1440, closed=True)])
    assert snapshot(store.root) == before


def test_a_span_no_manifest_can_tell_refuses_writes(store: EventStore) -> None:
    store.write("kline", events_table("kline", [minute_bar(3 * 1440, closed=True)]), span=MONTH)
    (partition,) = store.partitions("kline")
    (partition / MANIFEST_NAME).write_text("{not json")
    reader = EventStore(store.root)
    with pytest.raises(StoreCorruption, match="unreadable manifest"):
        reader.span("kline")
    before = snapshot(store.root)
    with pytest.raises(StoreCorruption, match="unreadable manifest"):
        reader.write_events([minute_bar(3 * 1440 + 5, closed=True)])
    assert snapshot(store.root) == before
    (problem,) = reader.verify()
    assert problem.path == partition / MANIFEST_NAME


def test_an_unknown_span_is_rejected(store: EventStore) -> None:
    with pytest.raises(ValueError, match="unknown partition span 'week'"):
        store.write("kline", events_table("kline", [minute_bar(0, closed=True)]), span="week")
    assert not store.root.exists()


def test_store_stats_shows_each_kinds_span(
    tmp_path: Path, store: EventStore, capsys: pytest.CaptureFixture[str]
) -> None:
    import_archives([ohlcv_file(tmp_path, "BTC")], store)
    store.write_events([trade(1, 0)])
    assert main(["store", "stats", "--store", str(store.root)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(s["kind"], s["span"], s["partitions"], s["days"]) for s in lines] == [
        ("trade", DAY, 1, 1),
        ("kline", MONTH, 2, 45),
    ]
