"""Binance archive importer: names, formats (zip/csv, header or not), bad rows, idempotency."""

from __future__ import annotations

import gzip
import math
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from csx_core.archive import ArchiveNameError, import_archives, spec_for
from csx_core.archive.convert import convert
from csx_core.archive.formats import AGG_TRADES, BOOK_TICKER, HOURLY_OHLCV, KLINES, FileSpec
from csx_core.cli import main
from csx_core.contracts import BookTop, ContractError, Kline, Trade
from csx_core.store import EventStore

MS = 1_000_000  # ns per ms
T0_MS = 1_723_075_200_000  # 2024-08-08 00:00 UTC

AGG_ROWS = [
    f"{100 + i},{60000.5 + i},0.{i + 1}00,{200 + 2 * i},{201 + 2 * i},{T0_MS + 250 * i},"
    f"{'true' if i % 2 else 'false'}"
    for i in range(6)
]
BOOK_ROWS = [
    f"{9000 + i},60000.1,1.5,60000.2,{2 + i},{T0_MS + 10 * i},{T0_MS + 10 * i + 3}"
    for i in range(4)
]
KLINE_ROWS = [
    f"{T0_MS + 60_000 * i},100.0,101.5,99.5,{100.5 + i / 10},12.5,{T0_MS + 60_000 * i + 59_999},"
    f"1255.0,{40 + i},6.0,602.0,0"
    for i in range(5)
]


def csv_text(rows: list[str], header: list[str] | None) -> str:
    lines = ([",".join(header)] if header else []) + rows
    return "\n".join(lines) + "\n"


def write_zip(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.with_suffix(".csv").name, text)
    return path


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- file names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fmt", "symbol", "interval"),
    [
        ("BTCUSDT-aggTrades-2024-08-08.zip", AGG_TRADES, "BTCUSDT", None),
        ("ETHUSDT-aggTrades-2024-08.zip", AGG_TRADES, "ETHUSDT", None),
        ("BTCUSDT-bookTicker-2024-08-08.csv", BOOK_TICKER, "BTCUSDT", None),
        ("BTCUSDT-1m-2024-08-08.zip", KLINES, "BTCUSDT", "1m"),
        ("1000PEPEUSDT-4h-2024-08.zip", KLINES, "1000PEPEUSDT", "4h"),
        ("BTCUSDT-1mo-2024-08.zip", KLINES, "BTCUSDT", "1mo"),
        ("BTC_USDT_1h.csv.gz", HOURLY_OHLCV, "BTCUSDT", "1h"),
    ],
)
def test_binance_file_names_say_what_a_file_holds(
    name: str, fmt: object, symbol: str, interval: str | None
) -> None:
    assert spec_for(Path(name)) == FileSpec(fmt, symbol, interval)  # type: ignore[arg-type]


def test_overrides_win_and_unknown_names_need_them() -> None:
    assert spec_for(Path("dump.csv"), kind="klines", symbol="solusdt", interval="5m") == FileSpec(
        KLINES, "SOLUSDT", "5m"
    )
    assert spec_for(Path("BTCUSDT-1m-2024-08-08.zip"), interval="3m").interval == "3m"
    assert spec_for(Path("x.csv"), kind="trade", symbol="BTCUSDT").format is AGG_TRADES
    with pytest.raises(ArchiveNameError, match="pass --kind"):
        spec_for(Path("dump.csv"))
    with pytest.raises(ArchiveNameError, match="--symbol"):
        spec_for(Path("dump.csv"), kind="aggTrades")
    with pytest.raises(ArchiveNameError, match="interval"):
        spec_for(Path("dump.csv"), kind="klines", symbol="BTCUSDT")
    with pytest.raises(ArchiveNameError, match="not alphanumeric"):
        spec_for(Path("BTCUSDT-1m-2024-08-08.zip"), symbol="btc-usdt")
    with pytest.raises(ArchiveNameError, match="unknown --kind"):
        spec_for(Path("dump.csv"), kind="depth", symbol="BTCUSDT")


# -- formats ------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
@pytest.mark.parametrize("container", ["zip", "csv"])
def test_agg_trades_map_to_trade_events(
    tmp_path: Path, store: EventStore, header: bool, container: str
) -> None:
    text = csv_text(AGG_ROWS, AGG_TRADES.names if header else None)
    path = tmp_path / f"BTCUSDT-aggTrades-2024-08-08.{container}"
    if container == "zip":
        write_zip(path, text)
    else:
        path.write_text(text)
    report = import_archives([path], store)
    (f,) = report.files
    assert (f.error, f.rows, f.written, f.bad_count) == (None, 6, 6, 0)
    trades = Trade.from_arrow(store.read("trade"))
    assert trades[1] == Trade(
        symbol="BTCUSDT",
        ts_event=(T0_MS + 250) * MS,
        ts_recv=(T0_MS + 250) * MS,
        trade_id=101,
        price=60001.5,
        qty=0.2,
        buyer_is_maker=True,
    )
    assert [t.trade_id for t in trades] == list(range(100, 106))


def test_book_ticker_uses_event_time(tmp_path: Path, store: EventStore) -> None:
    path = tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv"
    path.write_text(csv_text(BOOK_ROWS, BOOK_TICKER.names))
    import_archives([path], store)
    tops = BookTop.from_arrow(store.read("book_top"))
    assert [t.update_id for t in tops] == [9000, 9001, 9002, 9003]
    assert tops[2].ts_event == (T0_MS + 23) * MS
    assert (tops[2].bid_price, tops[2].ask_qty) == (60000.1, 4.0)


@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
def test_klines_are_closed_bars_stamped_at_close_time(
    tmp_path: Path, store: EventStore, header: bool
) -> None:
    path = write_zip(
        tmp_path / "BTCUSDT-1m-2024-08-08.zip",
        csv_text(KLINE_ROWS, KLINES.names if header else None),
    )
    import_archives([path], store)
    bars = Kline.from_arrow(store.read("kline"))
    assert len(bars) == 5
    bar = bars[3]
    assert bar.interval == "1m"
    assert bar.closed
    assert (bar.open_time, bar.close_time, bar.ts_event) == (
        (T0_MS + 180_000) * MS,
        (T0_MS + 239_999) * MS,
        (T0_MS + 239_999) * MS,
    )
    assert (bar.close, bar.trades, bar.taker_buy_volume, bar.quote_volume) == (
        100.8,
        43,
        6.0,
        1255.0,
    )


def test_microsecond_timestamps_are_recognised(tmp_path: Path, store: EventStore) -> None:
    row = f"1,10.0,1.0,1,1,{T0_MS * 1000 + 7},false"
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv"
    path.write_text(row + "\n")
    import_archives([path], store)
    assert store.read("trade").column("ts_event").to_pylist() == [T0_MS * MS + 7_000]


def test_hourly_ohlcv_becomes_1h_klines_with_unknown_fields_zero(
    tmp_path: Path, store: EventStore
) -> None:
    path = tmp_path / "ETH_USDT_1h.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("timestamp,open,high,low,close,volume,datetime\n")
        f.write(f"{T0_MS},2500.0,2510.0,2490.0,2505.5,1234.5,2024-08-08 00:00:00\n")
    import_archives([path], store)
    (bar,) = Kline.from_arrow(store.read("kline"))
    assert (bar.symbol, bar.interval, bar.close, bar.volume) == ("ETHUSDT", "1h", 2505.5, 1234.5)
    assert bar.close_time == (T0_MS + 3_599_999) * MS == bar.ts_event
    assert (bar.trades, bar.quote_volume, bar.taker_buy_volume) == (0, 0.0, 0.0)


# -- bad rows -----------------------------------------------------------------------------
BAD_ROWS = [
    ("x,1.0,1.0,1,1,1723075200000,true", "agg_trade_id: 'x' is not an integer"),
    ("7,1.0,1.0,1,1,1723075200000", "expected 7 fields, got 6"),
    ("", "empty line"),
    ("8,-1.0,1.0,1,1,1723075200000,true", "price must be > 0"),
    ("9,nan,1.0,1,1,1723075200000,true", "price must be > 0"),
    ("10,1.0,0,1,1,1723075200000,true", "qty must be > 0"),
    ("11,1.0,1.0,1,1,-5,true", "transact_time -5 is not a time"),
    ("11,1.0,1.0,1,1,5000000000000,true", "transact_time 5000000000000 is not a time"),
    ("12,1.0,1.0,1,1,1723075200000,maybe", "is_buyer_maker: 'maybe' is not a boolean"),
    ("99999999999999999999,1.0,1.0,1,1,1723075200000,true", "does not fit in int64"),
]


@pytest.mark.parametrize(("row", "problem"), BAD_ROWS, ids=[p for _, p in BAD_ROWS])
def test_a_bad_row_is_reported_with_file_and_line_and_skipped(
    tmp_path: Path, store: EventStore, row: str, problem: str
) -> None:
    rows = [*AGG_ROWS[:3], row, *AGG_ROWS[3:]]
    path = write_zip(
        tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", csv_text(rows, AGG_TRADES.names)
    )
    (f,) = import_archives([path], store).files
    (bad,) = f.bad_rows
    assert bad.source == f"{path}:BTCUSDT-aggTrades-2024-08-08.csv"
    assert bad.line == 5  # header, three good rows, then this one
    assert problem in bad.problem
    assert (f.written, f.bad_count, f.rows) == (6, 1, 7)
    assert store.read("trade").num_rows == 6


def test_book_and_kline_rules_of_the_contract_reject_rows(
    tmp_path: Path, store: EventStore
) -> None:
    book = tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv"
    book.write_text(csv_text([*BOOK_ROWS, f"9100,60001.0,1,60000.0,1,{T0_MS},{T0_MS}"], None))
    bars = tmp_path / "BTCUSDT-1m-2024-08-08.csv"
    broken_bar = f"{T0_MS},100.0,99.0,98.0,100.5,1,{T0_MS + 59_999},1,1,0.5,50,0"
    bars.write_text(csv_text([*KLINE_ROWS, broken_bar], None))
    report = import_archives([book, bars], store)
    assert [(b.line, b.problem.split(":")[0]) for f in report.files for b in f.bad_rows] == [
        (5, "bid 60001.0 is above ask 60000.0"),
        (6, "bar is inconsistent"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 2.0])),
        min_size=8,
        max_size=8,
    ),
    times=st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)),
    count=st.integers(-3, 3),
)
@example(
    values=[1.0, 1.0, 1.0, 1.0, 1.7976931330646226e308, 0.0, 1e308, 0.0], times=(0, 0), count=0
)
def test_vectorised_checks_agree_with_the_kline_contract(
    values: list[float], times: tuple[int, int], count: int
) -> None:
    o, h, lo, c, vol, qv, tb, tq = values
    row = [times[0], o, h, lo, c, vol, times[1], qv, count, tb, tq, "0"]
    table = pa.Table.from_pylist(
        [dict(zip(KLINES.names, row, strict=True))], schema=pa.schema(list(KLINES.columns))
    )
    events, rejected = convert(FileSpec(KLINES, "BTCUSDT", "1m"), table)
    try:
        Kline(
            symbol="BTCUSDT",
            ts_event=times[1] * MS,
            ts_recv=times[1] * MS,
            interval="1m",
            open_time=times[0] * MS,
            close_time=times[1] * MS,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=vol,
            quote_volume=qv,
            trades=count,
            taker_buy_volume=tb,
            taker_buy_quote_volume=tq,
            closed=True,
        )
        accepted = True
    except ContractError:
        accepted = False
    assert (events.num_rows == 1) == accepted, rejected


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=4, max_size=4
    )
)
def test_vectorised_checks_agree_with_the_book_top_contract(prices: list[float]) -> None:
    bid, bid_qty, ask, ask_qty = prices
    table = pa.Table.from_pylist(
        [dict(zip(BOOK_TICKER.names, [1, bid, bid_qty, ask, ask_qty, T0_MS, T0_MS], strict=True))],
        schema=pa.schema(list(BOOK_TICKER.columns)),
    )
    events, _ = convert(FileSpec(BOOK_TICKER, "BTCUSDT", None), table)
    try:
        BookTop(
            symbol="BTCUSDT",
            ts_event=0,
            ts_recv=0,
            update_id=1,
            bid_price=bid,
            bid_qty=bid_qty,
            ask_price=ask,
            ask_qty=ask_qty,
        )
        accepted = True
    except ContractError:
        accepted = False
    assert (events.num_rows == 1) == accepted


# -- idempotency, errors, many files -----------------------------------------------------
def test_importing_twice_changes_nothing(tmp_path: Path, store: EventStore) -> None:
    trades = write_zip(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", csv_text(AGG_ROWS, None))
    bars = write_zip(tmp_path / "BTCUSDT-1m-2024-08-08.zip", csv_text(KLINE_ROWS, None))
    first = import_archives([trades, bars], store)
    assert first.written == 11
    before = snapshot(store.root)
    again = import_archives([tmp_path], store)  # a directory: both files found
    assert (again.written, again.good, len(again.files)) == (0, 11, 2)
    assert snapshot(store.root) == before
    assert store.verify() == []


def test_a_bad_row_after_fast_chunks_counts_each_event_once(
    tmp_path: Path, store: EventStore
) -> None:
    rows = [f"{i},1.5,2.0,{i},{i},{T0_MS + i},false" for i in range(3000)]
    rows.insert(2500, "oops")
    path = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    path.write_text(csv_text(rows, None))
    (f,) = import_archives([path], store, chunk_rows=1000).files
    assert (f.written, f.duplicates, f.bad_count) == (3000, 0, 1)
    assert f.bad_rows[0].line == 2501


def test_unreadable_files_are_reported_and_others_still_import(
    tmp_path: Path, store: EventStore
) -> None:
    foreign = tmp_path / "BTCUSDT-aggTrades-2024-08-07.csv"
    foreign.write_text("a,b,c\n1,2,3\n")
    unnamed = tmp_path / "notes.csv"
    unnamed.write_text("1,2\n")
    empty_zip = tmp_path / "BTCUSDT-aggTrades-2024-08-06.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("README.txt", "nothing")
    good = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    good.write_text(csv_text(AGG_ROWS, None))
    report = import_archives([foreign, unnamed, empty_zip, good], store)
    errors = {f.path.name: f.error for f in report.errors}
    assert errors.keys() == {foreign.name, unnamed.name, empty_zip.name}
    assert "header" in str(errors[foreign.name])
    assert "no .csv member" in str(errors[empty_zip.name])
    assert report.written == 6


# -- CLI ----------------------------------------------------------------------------------
def test_cli_import_prints_the_report_and_sets_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [*AGG_ROWS, "1,2"]
    path = write_zip(tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip", csv_text(rows, None))
    root = tmp_path / "events"
    assert main(["import", str(path), "--store", str(root)]) == 0
    out, err = capsys.readouterr()
    assert f"rejected {path}:BTCUSDT-aggTrades-2024-08-08.csv:7: expected 7 fields" in out
    assert "6 new" in out
    assert "100%" in err
    assert main(["import", str(path), "--store", str(root), "--strict", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "0 new, 6 already stored" in out
    assert err == ""
    nothing = tmp_path / "BTCUSDT-aggTrades-2024-08-09.csv"
    nothing.write_text("garbage\n")
    assert main(["import", str(nothing), "--store", str(root), "--quiet"]) == 1


def test_cli_warns_that_ohlcv_imports_lack_flow_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "SOL_USDT_1h.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(f"{T0_MS},150.0,151.0,149.0,150.5,10.0,2024-08-08 00:00:00\n")
    assert main(["import", str(path), "--store", str(tmp_path / "events"), "--quiet"]) == 0
    assert "stored as 0 (unknown, not zero)" in capsys.readouterr().out


def test_cli_store_stats_query_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_zip(tmp_path / "BTCUSDT-1m-2024-08-08.zip", csv_text(KLINE_ROWS, None))
    root = str(tmp_path / "events")
    main(["import", str(path), "--store", root, "--quiet"])
    capsys.readouterr()
    assert main(["store", "stats", "--store", root]) == 0
    assert '"kind": "kline", "rows": 5' in capsys.readouterr().out
    assert (
        main(["store", "query", "SELECT count(*) AS n, max(close) FROM kline", "--store", root])
        == 0
    )
    assert capsys.readouterr().out.splitlines()[1] == "5\t100.9"
    (part,) = EventStore(Path(root)).committed_files("kline")
    leftover = part.parent / ".tmp-123-part-x.parquet"
    leftover.write_bytes(b"partial")
    assert main(["store", "verify", "--store", root]) == 0
    assert f"orphan {leftover}" in capsys.readouterr().out
    assert main(["store", "verify", "--clean", "--store", root]) == 0
    assert f"removed {leftover}" in capsys.readouterr().out
    assert not leftover.exists()
    part.write_bytes(part.read_bytes()[:-1] + b"\x00")
    assert main(["store", "verify", "--store", root]) == 1
    assert f"CORRUPT {part}" in capsys.readouterr().out


# -- real data ----------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_hourly_klines_import_whole_and_idempotently(realdata: Path, tmp_path: Path) -> None:
    path = realdata / "spot_1h_multisymbol_mutthebug" / "1000PEPE_USDT_1h.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    store = EventStore(tmp_path / "events")
    (f,) = import_archives([path], store).files
    assert (f.error, f.rows, f.bad_count, f.written) == (None, 27_090, 0, 27_090)  # README count
    with gzip.open(path, "rt") as src:
        src.readline()
        first = src.readline().split(",")
    table = store.read("kline", symbols=["1000PEPEUSDT"])
    assert table.num_rows == 27_090
    assert table.column("open_time")[0].as_py() == int(first[0]) * MS
    assert math.isclose(table.column("close")[0].as_py(), float(first[4]))
    assert set(table.column("interval").to_pylist()) == {"1h"}
    (again,) = import_archives([path], store).files
    assert (again.written, again.duplicates) == (0, 27_090)
