"""Event store: batched writes (sort, dedup, hash, manifest, fsync) vs plain Parquet writes."""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import measure, report
from csx_core.archive import import_archives
from csx_core.contracts import Trade
from csx_core.store import EventStore

DAY_NS = 86_400 * 10**9
T0 = 19_943 * DAY_NS


def _trades(n: int, seed: int = 7) -> pa.Table:
    """``n`` trades of 20 symbols within one day, per-symbol increasing ids."""
    rng = np.random.default_rng(seed)
    symbols = np.array([f"SYM{i}USDT" for i in range(20)])
    which = rng.integers(0, 20, n)
    ts = T0 + np.sort(rng.integers(0, DAY_NS, n))
    return pa.Table.from_arrays(
        [
            pa.array(symbols[which]),
            pa.array(ts),
            pa.array(ts + rng.integers(0, 5_000_000, n)),
            pa.array(np.arange(n, dtype=np.int64)),
            pa.array(np.round(100 + rng.standard_normal(n), 2)),
            pa.array(np.round(rng.exponential(1.0, n), 3) + 0.001),
            pa.array(rng.random(n) < 0.5),
        ],
        schema=Trade.arrow_schema(),
    )


def _batches(table: pa.Table, rows: int) -> list[pa.Table]:
    return [table.slice(i, rows) for i in range(0, table.num_rows, rows)]


def _fresh(base: Path, fn: Callable[[Path], object]) -> Callable[[], None]:
    def run() -> None:
        target = base / "run"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        fn(target)

    return run


def _agg_trades_csv(path: Path, table: pa.Table) -> None:
    ms = (table.column("ts_event").to_numpy() // 1_000_000).tolist()
    rows = zip(
        table.column("trade_id").to_pylist(),
        table.column("price").to_pylist(),
        table.column("qty").to_pylist(),
        ms,
        table.column("buyer_is_maker").to_pylist(),
        strict=True,
    )
    path.write_text(
        "".join(f"{i},{p},{q},{i},{i},{t},{str(m).lower()}\n" for i, p, q, t, m in rows)
    )


def _naive_import(path: Path, out: Path) -> None:
    """The obvious importer: csv.reader, one contract object per row, to_arrow, parquet."""
    with path.open(newline="") as f:
        events = [
            Trade(
                symbol="SYM0USDT",
                ts_event=int(r[5]) * 1_000_000,
                ts_recv=int(r[5]) * 1_000_000,
                trade_id=int(r[0]),
                price=float(r[1]),
                qty=float(r[2]),
                buyer_is_maker=r[6] == "true",
            )
            for r in csv.reader(f)
        ]
    pq.write_table(Trade.to_arrow(events), out / "naive.parquet")


def run(*, quick: bool) -> None:
    n = 200_000 if quick else 2_000_000
    batch_rows = 100_000 if quick else 250_000
    repeat = 3
    table = _trades(n)
    batches = _batches(table, batch_rows)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)

        def store_write(root: Path) -> None:
            store = EventStore(root)
            for batch in batches:
                store.write("trade", batch)

        def plain_write(root: Path) -> None:
            for i, batch in enumerate(batches):
                pq.write_table(batch, root / f"{i}.parquet")

        subject = measure(
            "EventStore.write (dedup+sort+sha+fsync)",
            _fresh(base, store_write),
            items=n,
            repeat=repeat,
        )
        ref = measure(
            "pq.write_table per batch (reference)",
            _fresh(base, plain_write),
            items=n,
            repeat=repeat,
        )
        report(f"write {n:,} trades in batches of {batch_rows:,}", subject, ref, "events")

        events = Trade.from_arrow(table.slice(0, n // 10))
        py_batches = [
            events[i : i + batch_rows // 10] for i in range(0, len(events), batch_rows // 10)
        ]

        def store_events(root: Path) -> None:
            store = EventStore(root)
            for chunk in py_batches:
                store.write_events(chunk)

        def pylist_events(root: Path) -> None:
            for i, chunk in enumerate(py_batches):
                rows = [
                    e.to_json() and {f: getattr(e, f) for f in e.__struct_fields__} for e in chunk
                ]
                pq.write_table(pa.Table.from_pylist(rows), root / f"{i}.parquet")

        subject = measure(
            "EventStore.write_events", _fresh(base, store_events), items=len(events), repeat=repeat
        )
        ref = measure(
            "Trade.to_arrow → parquet (reference)",
            _fresh(base, pylist_events),
            items=len(events),
            repeat=repeat,
        )
        report(f"write {len(events):,} Trade objects", subject, ref, "events")

        root = base / "kept"
        store = EventStore(root)
        for batch in batches:
            store.write("trade", batch)
        dup = measure(
            "EventStore.write of stored rows (no-op)",
            lambda: store.write("trade", batches[-1]),
            items=batches[-1].num_rows,
            repeat=repeat,
        )
        ref = measure(
            "pq.write_table of the same batch",
            lambda: pq.write_table(batches[-1], base / "dup.parquet"),
            items=batches[-1].num_rows,
            repeat=repeat,
        )
        report("idempotent re-write (dedup against the stored day)", dup, ref, "events")

        reader = EventStore(root, hash_on_read=True)
        subject = measure(
            "EventStore.read (sha cached)", lambda: reader.read("trade"), items=n, repeat=repeat
        )
        files = reader.committed_files("trade")
        ref = measure(
            "pq.read_table of the same files",
            lambda: pa.concat_tables([pq.read_table(f) for f in files]),
            items=n,
            repeat=repeat,
        )
        report("read one day", subject, ref, "events")

        k = min(n, 200_000)
        small = EventStore(base / "small")
        small.write("trade", table.slice(0, k))
        subject = measure(
            "EventStore.iter_events",
            lambda: sum(1 for _ in small.iter_events()),
            items=k,
            repeat=repeat,
        )
        ref = measure(
            "Trade.from_arrow(read()) (reference)",
            lambda: len(Trade.from_arrow(small.read("trade"))),
            items=k,
            repeat=repeat,
        )
        report("events back as contract objects", subject, ref, "events")

        k = 100_000 if quick else 1_000_000
        source = base / "SYM0USDT-aggTrades-2024-08-08.csv"
        _agg_trades_csv(source, table.slice(0, k))

        def importer(root: Path) -> None:
            import_archives([source], EventStore(root))

        subject = measure(
            "import_archives (pyarrow csv, vectorised)",
            _fresh(base, importer),
            items=k,
            repeat=repeat,
        )
        ref = measure(
            "csv.reader → Trade → to_arrow (reference)",
            _fresh(base, lambda root: _naive_import(source, root)),
            items=k,
            repeat=repeat,
        )
        report(f"import an aggTrades CSV of {k:,} rows", subject, ref, "rows")
