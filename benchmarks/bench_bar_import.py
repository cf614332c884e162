"""Bar import: vectorised CSV reader vs the per-row reference, and the whole `csx import`.

Parse+convert: pyarrow's CSV reader vs Python's ``csv`` module one row at a time, both
through the same conversion, on the same hourly-bar files (the real 25-symbol set in
``../shared/realdata`` when present, else synthetic). End to end: ``import_archives`` of
every file into a fresh store, once (its cost is mostly the store's fsyncs, ~5 per
partition), with the store's partition and file counts.

Run: ``.venv/bin/python -m benchmarks bar_import [--quick]``
"""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path

from benchmarks.harness import measure, report
from csx_core.archive import import_archives
from csx_core.archive.convert import convert
from csx_core.archive.formats import spec_for
from csx_core.archive.reader import read_chunks, sources
from csx_core.store import EventStore

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

        store_root = folder / "events"
        start = time.perf_counter()
        result = import_archives(all_files, EventStore(store_root))
        seconds = time.perf_counter() - start
        partitions = sum(1 for p in (store_root / "kind=kline").iterdir() if p.is_dir())
        parquet = sum(1 for _ in store_root.rglob("part-*.parquet"))
        print(f"\n## end to end, import_archives of {len(all_files)} files of {source}")
        print(
            f"  {result.good:,} rows in {seconds:.1f} s = {result.good / seconds:,.0f} rows/s;"
            f" store: {partitions:,} partitions, {parquet:,} Parquet files"
        )
