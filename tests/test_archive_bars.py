"""Bar import: many kline files written in one pass (each partition once), progress, and
the vectorised reader equal to the per-row reference."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from csx_core.archive import import_archives
from csx_core.archive.convert import convert
from csx_core.archive.formats import spec_for
from csx_core.archive.reader import read_chunks, sources
from csx_core.cli import main
from csx_core.store import EventStore

H_MS = 3_600_000
T0_MS = 1_706_745_600_000  # 2024-02-01 00:00 UTC
SYMBOLS = ("BTC", "ETH", "SOL")
HOURS = 24 * 45  # February and half of March


def ohlcv_file(folder: Path, base: str, hours: int = HOURS, bad_line: int | None = None) -> Path:
    rows = ["timestamp,open,high,low,close,volume,datetime"]
    for i in range(hours):
        price = 100.0 + (i % 17) + len(base)
        rows.append(f"{T0_MS + i * H_MS},{price},{price + 2},{price - 1},{price + 0.5},{i % 9},x")
    if bad_line is not None:
        rows.insert(bad_line - 1, "oops,1,2")
    path = folder / f"{base}_USDT_1h.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return path


def per_row_reference(path: Path) -> pa.Table:
    """The slow reader (Python csv, one row at a time) through the same conversion."""
    spec = spec_for(path)
    (source,) = sources(path)
    chunks = read_chunks(source, spec.format, chunk_rows=10**6, slow=True, bad=print)
    return pa.concat_tables([convert(spec, c.table)[0] for c in chunks])


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("part-*.parquet"))


def test_many_bar_files_write_each_partition_once(tmp_path: Path) -> None:
    paths = [ohlcv_file(tmp_path, base) for base in SYMBOLS]
    store = EventStore(tmp_path / "events")
    report = import_archives(paths, store)
    assert [f.error for f in report.files] == [None] * 3
    (shared,) = report.shared
    assert (shared.rows, shared.written, report.written) == (3 * HOURS, 3 * HOURS, 3 * HOURS)
    assert all(f.shared and f.good == HOURS for f in report.files)
    partitions = [p for p in (tmp_path / "events" / "kind=kline").iterdir() if p.is_dir()]
    # one file per partition, whatever the partition span: never one per file per day
    assert len(parquet_files(tmp_path / "events")) == len(partitions)
    table = store.read("kline")
    assert table.num_rows == 3 * HOURS
    assert set(table.column("symbol").to_pylist()) == {f"{b}USDT" for b in SYMBOLS}
    assert store.verify() == []
    before = {p: p.read_bytes() for p in parquet_files(tmp_path / "events")}
    again = import_archives(paths, store)
    assert (again.written, again.good) == (0, 3 * HOURS)
    assert {p: p.read_bytes() for p in parquet_files(tmp_path / "events")} == before


def test_a_single_bar_file_keeps_its_own_counts(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    (f,) = import_archives([ohlcv_file(tmp_path, "BTC")], store).files
    assert (f.shared, f.written, f.duplicates) == (False, HOURS, 0)


def test_a_bad_row_in_a_batch_is_reported_once_and_nothing_is_counted_twice(
    tmp_path: Path,
) -> None:
    paths = [ohlcv_file(tmp_path, "BTC"), ohlcv_file(tmp_path, "ETH", bad_line=500)]
    report = import_archives(paths, EventStore(tmp_path / "events"), chunk_rows=100)
    btc, eth = report.files
    assert (btc.bad_count, eth.bad_count, eth.good) == (0, 1, HOURS)
    assert eth.bad_rows[0].line == 500
    assert report.written == 2 * HOURS


def test_the_vectorised_reader_equals_the_per_row_reference(tmp_path: Path) -> None:
    path = ohlcv_file(tmp_path, "SOL")
    (source,) = sources(path)
    spec = spec_for(path)
    fast = pa.concat_tables(
        convert(spec, c.table)[0]
        for c in read_chunks(source, spec.format, chunk_rows=300, slow=False, bad=print)
    )
    assert fast.equals(per_row_reference(path))


def test_cli_shows_bar_progress_and_quiet_keeps_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [str(ohlcv_file(tmp_path, base)) for base in SYMBOLS]
    root = str(tmp_path / "events")
    assert main(["import", "--store", root, *paths]) == 0
    captured = capsys.readouterr()
    assert "[3/3] SOL_USDT_1h.csv.gz: 100% of" in captured.err
    assert f"writing bars (2024-03): 100% of {3 * HOURS:,} rows" in captured.err
    assert f"bars of 3 files written in one pass: {3 * HOURS} rows" in captured.out
    assert main(["import", "--quiet", "--store", root, *paths]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""
    assert quiet.out.splitlines()[-1].startswith(f"total: 3 files, 0 new events, {3 * HOURS}")


@pytest.mark.realdata
@pytest.mark.slow  # 25 symbols, 1 M real bars
def test_real_hourly_bars_of_25_symbols_import_in_one_pass(realdata: Path, tmp_path: Path) -> None:
    folder = realdata / "spot_1h_multisymbol_mutthebug"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    store = EventStore(tmp_path / "events")
    report = import_archives([folder], store)
    assert len(report.files) == 25
    assert not report.errors
    assert report.bad_count == 0
    assert report.written == 1_000_507  # the README's row counts, summed
    partitions = [p for p in (tmp_path / "events" / "kind=kline").iterdir() if p.is_dir()]
    assert len(parquet_files(tmp_path / "events")) == len(partitions)
