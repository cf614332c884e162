"""Raw captures through ``csx import``: format and unit detection, counts, one-line errors,
and the stored events equal to what the live decoder makes of the same lines."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.archive import import_archives
from csx_core.archive.capture import CaptureError, CaptureFormat, detect_unit, sniff, to_ns
from csx_core.cli import main
from csx_core.contracts import BookTop, MarketEvent, Trade, event_kind
from csx_core.contracts.events import EVENT_TYPES
from csx_core.store import EventStore
from csx_core.store.store import events_table
from csx_core.wire import decode_frame
from csx_core.wire.encode import encode_combined

MS = 1_000_000
T0_MS = 1_723_161_255_000  # 2024-08-08 23:54:15 UTC
SNAPSHOT = b'{"lastUpdateId":5123107852948,"E":1723161256501,"T":1723161256493,' + (
    b'"bids":[["61800.20","2.909"]],"asks":[["61800.30","1.000"]]}'
)
DEPTH = (
    b'{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,'
    b'"T":1723161256298,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["61800.2","1"]],"a":[]}}'
)


def events(n: int) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    for i in range(n):
        ts = (T0_MS + 10 * i) * MS
        common = {"ts_event": ts}
        out.append(
            Trade(
                symbol="BTCUSDT",
                ts_recv=ts + 7,
                trade_id=100 + i,
                price=61800.5 + i,
                qty=0.25,
                buyer_is_maker=i % 2 == 0,
                **common,
            )
        )
        out.append(
            BookTop(
                symbol="ETHUSDT",
                ts_recv=ts + 9,
                update_id=900 + i,
                bid_price=2600.1,
                bid_qty=1.5,
                ask_price=2600.2,
                ask_qty=2.0,
                **common,
            )
        )
    return out


def timestamped(evs: list[MarketEvent], unit_ns: int, *, snapshot: bool = True) -> bytes:
    lines = [b"%d %s" % (e.ts_recv // unit_ns, encode_combined(e)) for e in evs]
    lines.insert(1, b"%d %s" % (evs[0].ts_recv // unit_ns, DEPTH))
    if snapshot:
        lines.insert(2, b"%d %s" % (evs[0].ts_recv // unit_ns, SNAPSHOT))
    return b"\n".join(lines) + b"\n"


def stored(store: EventStore) -> Iterator[tuple[str, pa.Table]]:
    for kind in store.kinds():
        yield kind, store.read(kind)


def expected_tables(lines: list[bytes], sep: bytes, unit: str) -> dict[str, pa.Table]:
    """What the live decoder makes of each line, independently of the importer."""
    by_kind: dict[str, list[MarketEvent]] = {}
    for line in lines:
        token, _, frame = line.rstrip(b"\n").partition(sep)
        decoded = decode_frame(frame, to_ns(token, unit))
        if isinstance(decoded, EVENT_TYPES):
            by_kind.setdefault(event_kind(decoded), []).append(decoded)
    return {k: events_table(k, v) for k, v in by_kind.items()}


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Equal as multisets of rows (the store orders rows its own way)."""

    def canonical(t: pa.Table) -> pa.Table:
        return t.take(pc.sort_indices(t, sort_keys=[(n, "ascending") for n in t.schema.names]))

    return bool(a.schema == b.schema and canonical(a).equals(canonical(b)))


# -- detection ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "unit_ns"), [("ns", 1), ("us", 1_000), ("ms", MS), ("s", 1_000_000_000)]
)
@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
def test_integer_receive_times_are_told_apart_by_digit_count(
    tmp_path: Path, unit: str, unit_ns: int, compressed: bool
) -> None:
    data = timestamped(events(3), unit_ns)
    path = tmp_path / "capture.bin"
    path.write_bytes(gzip.compress(data) if compressed else data)
    assert sniff(path) is CaptureFormat.TIMESTAMPED
    assert detect_unit(path) == unit


def test_float_seconds_convert_exactly_to_ns() -> None:
    assert to_ns(b"1626992741.06217", "s") == 1_626_992_741_062_170_000
    assert to_ns(b"1723161255030314667", "ns") == 1_723_161_255_030_314_667
    assert to_ns(b"1660228022484228", "us") == 1_660_228_022_484_228_000


def test_an_ambiguous_unit_is_one_short_line_naming_the_fix(tmp_path: Path) -> None:
    big = b'{"stream":"x@trade","data":{"e":"trade","pad":"' + b"x" * 20_000 + b'"}}'
    path = tmp_path / "odd.log"
    path.write_bytes(b"17231612550303 " + big + b"\n")
    with pytest.raises(CaptureError) as err:
        detect_unit(path)
    message = str(err.value)
    assert "14 digits" in message
    assert "--ts-unit" in message
    assert "\n" not in message
    assert len(message) < 300
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(b"1723161255030 " + DEPTH + b"\n1723161255030314667 " + DEPTH + b"\n")
    with pytest.raises(CaptureError, match="mix units"):
        detect_unit(mixed)


def test_csv_archives_and_text_are_not_captures(tmp_path: Path) -> None:
    csv = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    csv.write_text("1,60000.5,0.1,1,1,1723075200000,true\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello world\n")
    assert sniff(csv) is None
    assert sniff(notes) is None


# -- import ------------------------------------------------------------------------------
def test_a_capture_imports_with_counts_and_equals_the_decoder(tmp_path: Path) -> None:
    data = timestamped(events(50), 1)
    garbage = b"1723161255030314667 {not json" + b"z" * 10_000
    data += garbage + b"\n"
    path = tmp_path / "btcusdt_20240808.gz"
    path.write_bytes(gzip.compress(data))
    store = EventStore(tmp_path / "events")
    (f,) = import_archives([path], store).files
    assert f.error is None
    assert f.counts is not None
    assert {k: v for k, v in f.counts.items() if v} == {
        "frames": 103,  # 100 events, 1 depth, 1 inline snapshot, 1 garbage
        "trade": 50,
        "book_top": 50,
        "depth": 1,
        "snapshot": 1,
        "malformed": 1,
    }
    (bad,) = f.bad_rows
    assert bad.line == 103
    assert bad.problem.startswith("bad_json")
    assert len(bad.problem) < 200
    expected = expected_tables(data.splitlines(), b" ", "ns")
    got = dict(stored(store))
    assert got.keys() == expected.keys() == {"trade", "book_top"}
    for kind, table in expected.items():
        assert same_rows(got[kind], table), kind
    assert got["trade"].column("ts_recv")[0].as_py() == (T0_MS * MS) + 7
    (again,) = import_archives([path], store).files
    assert (again.written, again.duplicates) == (0, 100)


def test_cryptofeed_logs_count_snapshots_rest_and_metadata(tmp_path: Path) -> None:
    evs = events(4)
    ws = [b"wss://fstream.binance.com/stream?streams=btcusdt@aggTrade <-> 1626992740.9"]
    ws += [
        b"%d.%06d: %s" % (e.ts_recv // 10**9, e.ts_recv // 1000 % 10**6, encode_combined(e))
        for e in evs
    ]
    (tmp_path / "BINANCE_FUTURES.ws.1.0").write_bytes(b"\n".join(ws) + b"\n")
    http = [
        b"configuration: {'log': {'filename': 'demo.log'}}",
        b"https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000 -> 1626992741.3: "
        + SNAPSHOT,
        b'https://fapi.binance.com/fapi/v1/exchangeInfo -> 1626992741.4: {"symbols":[]}',
        b"https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000 -> 1626992741.5: {}",
    ]
    (tmp_path / "BINANCE_FUTURES.http.0.0").write_bytes(b"\n".join(http) + b"\n")
    store = EventStore(tmp_path / "events")
    report = import_archives([tmp_path], store)  # a directory: captures found by content
    counts = {f.path.name: {k: v for k, v in (f.counts or {}).items() if v} for f in report.files}
    assert counts == {
        "BINANCE_FUTURES.http.0.0": {"snapshot": 1, "rest_other": 1, "meta": 1, "malformed": 1},
        "BINANCE_FUTURES.ws.1.0": {"frames": 8, "trade": 4, "book_top": 4, "meta": 1},
    }
    expected = expected_tables(ws[1:], b": ", "s")
    for kind, table in stored(store):
        assert same_rows(table, expected[kind])


def test_cli_prints_counts_and_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "btcusdt_20240808.gz"
    capture.write_bytes(gzip.compress(timestamped(events(5), 1)))
    unknown = tmp_path / "dump.json"
    unknown.write_bytes(b'{"x": "' + b"y" * 5_000 + b'"}\n')
    root = str(tmp_path / "events")
    assert main(["import", "--quiet", "--store", root, str(capture), str(unknown)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet: no progress, the summary still printed
    out = captured.out.splitlines()
    assert any("trade 5, book_top 5" in line and "snapshots 1" in line for line in out)
    (error,) = [line for line in out if "ERROR" in line]
    assert "not a Binance archive name" in error
    assert len(error) < 400
    assert out[-2].startswith("captures: 1 files, 12 frames")
    assert out[-1].startswith("total: 2 files, 10 new events")
    # forcing --kind on a capture reads it as CSV: the header error quotes a short prefix
    assert main(["import", "--quiet", "--store", root, "--kind", "aggTrades",
                 "--symbol", "BTCUSDT", str(capture)]) == 1  # fmt: skip
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "ERROR" in x]
    assert "not a aggTrades header" in line
    assert len(line) < 500


def test_cli_ts_unit_overrides_detection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "odd.log"
    evs = events(2)
    path.write_bytes(b"".join(b"%d %s\n" % (e.ts_recv // 10, encode_combined(e)) for e in evs))
    root = str(tmp_path / "events")
    assert main(["import", "--quiet", "--store", root, str(path)]) == 1
    assert "18 digits" in capsys.readouterr().out
    # read as ns the times are 10x too early: the override is obeyed, not second-guessed
    assert main(["import", "--quiet", "--store", root, "--ts-unit", "ns", str(path)]) == 0
    ts_recv = EventStore(Path(root)).read("trade").column("ts_recv")[0].as_py()
    assert ts_recv == evs[0].ts_recv // 10
    # read as µs they overflow int64 ns: malformed lines, never a crash
    (f,) = import_archives([path], EventStore(tmp_path / "other"), ts_unit="us").files
    assert f.counts is not None
    assert (f.counts["malformed"], f.good) == (4, 0)
    assert "overflows int64 ns" in f.bad_rows[0].problem


def test_progress_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cap.gz"
    path.write_bytes(gzip.compress(timestamped(events(3000), 1)))
    assert main(["import", "--store", str(tmp_path / "events"), str(path)]) == 0
    err = capsys.readouterr().err
    assert "cap.gz: 100% of" in err


# -- real captures -----------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow  # ~15 s: 170 k real frames imported, then decoded again to compare
def test_real_captures_import_through_the_cli_as_the_decoder_reads_them(
    realdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = realdata / "hftbacktest_usdm_2024-08-08"
    paths = [folder / "btcusdt_20240808.gz", folder / "ethusdt_20240808.gz"]
    cryptofeed = realdata / "cryptofeed_usdm_2021-07-22"
    collector = realdata / "collect-binancefutures_usdm_2022-08-11" / "btcusdt_20220811.dat"
    if not all(p.exists() for p in [*paths, cryptofeed, collector]):
        pytest.skip("a real capture is absent")
    root = tmp_path / "events"
    args = ["import", "--quiet", "--strict", "--store", str(root)]
    assert main([*args, *map(str, paths)]) == 0
    out = capsys.readouterr().out
    # README counts: btc 66089 bookTicker, 21313 trade, 6551 depth, 1 REST snapshot
    assert "93954 frames -> events [trade 21313, book_top 66089]" in out
    assert "depth updates 6551 (not stored), snapshots 1" in out
    assert "74655 frames -> events [trade 14076, book_top 53992]" in out
    assert "malformed 0" in out
    store = EventStore(root)
    for path in paths:
        with gzip.open(path, "rb") as f:
            expected = expected_tables(f.read().splitlines(), b" ", "ns")
        symbol = path.name.split("_")[0].upper()
        for kind, table in expected.items():
            assert same_rows(store.read(kind, symbols=[symbol]), table), (path.name, kind)
    # µs receive times (collect-binancefutures) and float seconds (cryptofeed)
    assert main([*args, str(collector), str(cryptofeed)]) == 0
    out = capsys.readouterr().out
    assert "1533 frames -> events [trade 1326]" in out
    assert "snapshots 4" in out  # the http log's four REST depth bodies
    assert "1535 frames -> events [trade 91, book_top 613, kline 67]" in out


def test_a_torn_gzip_keeps_the_lines_before_the_tear(tmp_path: Path) -> None:
    """A collector killed mid-write leaves a gzip without its end: the complete lines are
    imported and the file's report says where it ends, instead of the import failing."""
    whole = gzip.compress(timestamped(events(400), 1, snapshot=False))
    path = tmp_path / "btcusdt_torn.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    store = EventStore(tmp_path / "events")
    (f,) = import_archives([path], store).files
    assert f.error is not None
    assert "gzip ends early" in f.error
    assert f.counts is not None
    assert 0 < f.counts["trade"] < 400
    assert sum(t.num_rows for _, t in stored(store)) == f.counts["trade"] + f.counts["book_top"]
