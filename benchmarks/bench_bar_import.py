"""Bar import: vectorised CSV reader vs the per-row reference, and the whole `csx import`.

Parse+convert: pyarrow's CSV reader vs Python's ``csv`` module one row at a time, both
through the same conversion, on the same hourly-bar files (the real 25-symbol set in
``../shared/realdata`` when present, else synthetic). End to end: ``import_archives`` of
every file into a fresh store (klines partitioned by month: each partition costs ~5
fsyncs), timed ``repeat`` times into fresh stores, with the store's partition and file
counts and the ratio to the per-row parse+convert reference (which writes nothing, so the
ratio understates the gain). Target: >= 200 k rows/s end to end (issue 17). Then once
into a store whose klines already have day partitions (a recorder wrote first, so the
import follows its days): what month partitions save.

Run: ``.venv/bin/python -m benchmarks bar_import [--quick]``
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

from benchmarks.harness import measure, report
from csx_core.archive import import_archives
from csx_core.archive.convert import convert
from csx_core.archive.formats import spec_for
from csx_core.archive.reader import read_chunks, sources
from csx_core.contracts import Kline
from csx_core.store import EventStore

TARGET_ROWS_S = 200_000
REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "spot_1h_multisymbol_mutthebug"


def _synthetic(folder: Path, n_files: int, hours: int) -> list[Path]:
    paths = []
    t0 = 1_577_836_800_000  # 2020-01-01
    for k in range(n_files):
        rows = ["timestamp,open,high,low,close,volume,datetime"]
        for i in range(hours):
            p = 100.0 + (i * 7 + k) % 31
            rows.append(f"{t0 + i * 3_600_000},{p},{p + 1.5},{p - 1},{p + 0.5},{i % 13}.25,x")
        path = folder / f"S{k}_USDT_1h.csv.gz"
        path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), compresslevel=1))
        paths.append(path)
    return paths


def _recorded_bar() -> Kline:
    """One closed 1m bar as the live recorder would have written it (2019-01-01)."""
    t = 1_546_300_800 * 10**9
    return Kline(symbol="BTCUSDT", ts_event=t, ts_recv=t, interval="1m", open_time=t - 60 * 10**9,
                 close_time=t - 10**6, open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0,
                 quote_volume=1.0, trades=1, taker_buy_volume=0.0, taker_buy_quote_volume=0.0,
                 closed=True)  # fmt: skip


def _parse(paths: list[Path], *, slow: bool) -> int:
    rows = 0
    for path in paths:
        spec = spec_for(path)
        for source in sources(path):
            for chunk in read_chunks(
                source, spec.format, chunk_rows=500_000, slow=slow, bad=lambda row: None
            ):
                rows += convert(spec, chunk.table)[0].num_rows
    return rows


def run(*, quick: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if REAL.is_dir():
            files = sorted(REAL.glob("*_USDT_1h.csv.gz"))
            source = "real 1h bars"
        else:
            files = _synthetic(folder, 25, 24 * 365 * 2)
            source = "synthetic 1h bars"
        parse_files = files[:2] if quick else files[:5]
        all_files = files[:3] if quick else files
        rows = _parse(parse_files, slow=False)
        repeat = 2 if quick else 3
        fast = measure("vectorised (pyarrow csv)", lambda: _parse(parse_files, slow=False),
                       items=rows, repeat=repeat)  # fmt: skip
        slow = measure("per-row reference (csv module)", lambda: _parse(parse_files, slow=True),
                       items=rows, repeat=repeat)  # fmt: skip
        report(f"parse + convert, {len(parse_files)} files of {source}", fast, slow, "rows")

        stores = iter(range(10**6))

        def import_all() -> int:
            root = folder / f"events-{next(stores)}"
            return import_archives(all_files, EventStore(root)).good

        total = import_all()
        end_to_end = measure(
            "import_archives (fresh store)", import_all, items=total, repeat=1 if quick else 3
        )
        report(f"end to end, {len(all_files)} files of {source}", end_to_end, slow, "rows")
        store_root = folder / "events-0"
        partitions = len(EventStore(store_root).partitions("kline"))
        parquet = sum(1 for _ in store_root.rglob("part-*.parquet"))
        target = "meets" if end_to_end.median_throughput >= TARGET_ROWS_S else "MISSES"
        print(
            f"  {total:,} rows; store: {partitions:,} partitions, {parquet:,} Parquet files;"
            f" {target} the {TARGET_ROWS_S:,} rows/s target"
        )

        def import_into_daily() -> int:
            store = EventStore(folder / f"events-{next(stores)}")
            store.write_events([_recorded_bar()])  # a recorder came first: klines stay daily
            return import_archives(all_files, store).good

        daily = measure("import_archives (daily kline store)", import_into_daily, items=total,
                        repeat=1)  # fmt: skip
        report("end to end, month vs day partitions", end_to_end, daily, "rows")
        daily_root = folder / f"events-{next(stores) - 1}"
        print(f"  daily store: {len(EventStore(daily_root).partitions('kline')):,} partitions")
