"""Offline replay: the batch tick path against today's per-tick path, same process.

Both run ``csx_core.replay.replay_batches`` (fill, ticks, digest; no Parquet output) on the
same tables, and the digests are checked equal before any timing is reported:

* the simulator's default mix (20 symbols, ~40 events/s of data: ticks dominate);
* the real hftbacktest BTCUSDT + ETHUSDT captures (~6 min, ~490 events/s of data), read
  from ``../shared/realdata`` (skipped with a note when absent).

Run: ``python -m benchmarks replay_batch`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.harness import measure_interleaved, report
from csx_core.features import (
    WIDE_DICTIONARY_COLUMNS,
    FeatureEngine,
    SnapshotDigest,
    batches_to_table,
    drive_tables_batched,
)
from csx_core.replay import replay_batches, without_shadowed_klines

S = 1_000_000_000
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _compare(title: str, tables: dict[str, pa.Table], *, repeat: int) -> None:
    """The batch replay against the per-tick one, then where the batch replay's time goes:
    the tick path alone (no digest), and what the output alone allows (the same snapshot
    rows, computed once and kept, only digested; digested then encoded as the wide Parquet
    table a replay writes; the digest's bytes only hashed). All of them take turns, round
    after round, so a slow phase of the host slows each alike. The replay hashes one run
    while it computes the next, so it takes about the longer of the tick path and the
    digest, plus the contention of the two threads for the machine's cores (printed as CPU
    seconds per wall second)."""
    events = sum(t.num_rows for t in tables.values())
    batch = replay_batches([tables])
    per_tick = replay_batches([tables], per_tick=True)
    if batch != per_tick:
        raise SystemExit(f"{title}: batch and per-tick replays differ: {batch} != {per_tick}")
    runs = list(drive_tables_batched(FeatureEngine(), [tables]))

    def digest_only() -> None:
        digest = SnapshotDigest()
        for run in runs:
            digest.update_batch(run)

    def digest_and_parquet() -> None:
        digest_only()
        table = batches_to_table(runs)
        pq.write_table(table, pa.BufferOutputStream(), use_dictionary=WIDE_DICTIONARY_COLUMNS)

    # The digest is SHA-256 over a fixed byte stream (``SnapshotDigest``): hashing those
    # bytes, one core, no record building, bounds every replay that computes the digest.
    size = sum(
        len(run)
        * (12 + len("\n".join(run.symbols)) + 1 + 2 * len(run.symbols) + run.values[0].nbytes)
        for run in runs
        if len(run.symbols)
    )
    stream = bytes(size)
    m = measure_interleaved(
        {
            "batch ticks (replay_batches)": lambda: replay_batches([tables]),
            "per-tick (replay_batches per_tick=True)": lambda: replay_batches(
                [tables], per_tick=True
            ),
            "tick path": lambda: deque(drive_tables_batched(FeatureEngine(), [tables]), maxlen=0),
            "digest": digest_only,
            "digest + wide Parquet": digest_and_parquet,
            "sha256": lambda: hashlib.sha256(stream).digest(),
        },
        items=events,
        repeat=repeat,
    )
    report(
        f"{title}: {events:,} events, {batch.ticks:,} ticks, digest equal",
        m["batch ticks (replay_batches)"],
        m["per-tick (replay_batches per_tick=True)"],
        "events",
    )
    print(
        f"  tick path alone (fill and ticks, no digest): median "
        f"{m['tick path'].median_throughput:,.0f} events/s"
    )
    start_cpu, start = time.process_time(), time.perf_counter()
    replay_batches([tables])
    cores = (time.process_time() - start_cpu) / (time.perf_counter() - start)
    print(f"  the batch replay kept {cores:.2f} of this machine's {os.cpu_count()} cores busy")
    bounds = (
        ("digest", "the ceiling of any replay that computes the digest"),
        (
            "digest + wide Parquet",
            "on one core, the output work of a replay that writes the wide table",
        ),
    )
    rows = batch.rows
    for name, meaning in bounds:
        print(
            f"  output only ({name} of the {rows:,} rows, {rows / events:.2f} per event): "
            f"median {m[name].median_throughput:,.0f} events/s, {meaning}"
        )
    sha = m["sha256"]
    print(
        f"  SHA-256 alone of the digest's {size / 1e6:,.1f} MB ({size / events:,.0f} B per event, "
        f"{size / min(sha.seconds) / 1e9:.2f} GB/s here): median {sha.median_throughput:,.0f} "
        "events/s is the ceiling of any replay with this digest"
    )


def sim_default(minutes: int) -> dict[str, pa.Table]:
    """The first ``minutes`` of the simulator's default market (``SimConfig()``)."""
    from csx_core.sim import SimConfig, simulate_day

    day = simulate_day(SimConfig(days=1), 0)
    end = day["trade"]["ts_event"][0].as_py() + minutes * 60 * S
    return without_shadowed_klines(
        {k: t.filter(pc.less(t["ts_event"], end)) for k, t in day.items()}
    )


def real_captures() -> dict[str, pa.Table] | None:
    folder = REALDATA / "hftbacktest_usdm_2024-08-08"
    if not folder.is_dir():
        return None
    from tests.test_features_realdata import read_capture
    from tests.test_replay import tables_of

    events = read_capture(folder / "btcusdt_20240808.gz")
    events += read_capture(folder / "ethusdt_20240808.gz")
    return tables_of(sorted(events, key=lambda e: e.ts_event))


def run(*, quick: bool) -> None:
    minutes = 20 if quick else 120  # past the 61-minute warm-up: beta and warm rows too
    tables = sim_default(minutes)
    _compare(f"simulator default mix (20 symbols, {minutes} min), 1 s ticks", tables, repeat=5)
    real = real_captures()
    if real is None:
        print(f"\n## real captures: skipped, {REALDATA} is absent")
        return
    _compare("real captures (hftbacktest BTCUSDT+ETHUSDT, 2024-08-08), 1 s ticks", real, repeat=5)
