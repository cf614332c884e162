"""Replay: stored events -> FeatureEngine (event-time ticks) -> wide Parquet + digest.

The digest (``csx_core.features.table``) is a SHA-256 over the snapshot stream, so the
same events and config give the same digest in any process, on any batch split, live or
offline. Output layout under ``out``: ``date=YYYY-MM-DD/features.parquet`` (by tick time,
UTC; each written to a temp file and renamed) and ``replay.json`` with the digest, the
counts, the feature version and the config.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from csx_core.ahead import ahead
from csx_core.features import (
    FEATURE_VERSION,
    WIDE_DICTIONARY_COLUMNS,
    WIDE_SCHEMA,
    EngineConfig,
    FeatureEngine,
    SnapshotDigest,
    TickBatch,
    TickFrame,
    batches_to_table,
    drive_tables,
    drive_tables_batched,
)
from csx_core.features.shadow import NS_PER_DAY, ShadowTables
from csx_core.features.shadow import without_shadowed_klines as without_shadowed_klines

EPOCH = date(1970, 1, 1)
Gap = tuple[str | None, int, int]


@dataclass(frozen=True)
class ReplayResult:
    """What a replay produced: ``digest`` identifies the snapshot stream."""

    digest: str
    ticks: int
    rows: int
    events: int
    late_events: int
    feature_version: str
    files: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


class _Background:
    """One task at a time in a thread of its own, in the order submitted: ``submit`` waits
    for the task before it, whose error (if any) it raises, as ``wait`` does. Hashing and
    Parquet encoding release the GIL, so the engine computes the next ticks meanwhile."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[None] | None = None

    def submit(self, fn: Callable[..., None], *args: object) -> None:
        self.wait()
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        """Until the task submitted last is done (its error, if any, raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def shutdown(self) -> None:
        """Stop the thread (after its task, if one is running)."""
        self._pool.shutdown(wait=True)


class _DayWriter:
    """Wide rows into one Parquet file per UTC day of tick time, each written atomically.

    Each flushed table is stacked and encoded in a thread of its own while the engine
    computes the next ticks (both release the GIL: encoding alone was a quarter of a day's
    replay on one core). One table at a time, in order: the files are byte for byte the
    same."""

    def __init__(self, out: Path, flush_rows: int) -> None:
        self.out, self.flush_rows = out, flush_rows
        self.day: date | None = None
        self.batches: list[TickBatch] = []
        self.rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.tmp: Path | None = None
        self.files: list[str] = []
        self._encoder = _Background("csx-parquet")

    def add(self, batch: TickBatch) -> None:
        days = batch.ts // NS_PER_DAY
        cuts = np.flatnonzero(days[1:] != days[:-1]) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(batch)], strict=True):
            day = EPOCH + timedelta(days=int(days[lo]))
            if day != self.day:
                self.close()
                self.day = day
            part = batch if (lo, hi) == (0, len(batch)) else _ticks(batch, lo, hi)
            self.batches.append(part)
            self.rows += len(part) * len(part.symbols)
            if self.rows >= self.flush_rows:
                self._flush()

    def _flush(self) -> None:
        if not self.rows or self.day is None:
            return
        if self.writer is None:
            final = self.out / f"date={self.day.isoformat()}" / "features.parquet"
            final.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = final.with_name(f".features.parquet.{os.getpid()}.tmp")
            self.writer = pq.ParquetWriter(
                self.tmp, WIDE_SCHEMA, use_dictionary=WIDE_DICTIONARY_COLUMNS
            )
        batches, self.batches, self.rows = self.batches, [], 0
        self._encoder.submit(_write_batches, self.writer, batches)

    def shutdown(self) -> None:
        """Stop the encoder thread (after its table, if one is being written)."""
        self._encoder.shutdown()

    def close(self) -> None:
        self._flush()
        self._encoder.wait()
        if self.writer is not None and self.tmp is not None:
            self.writer.close()
            final = self.tmp.with_name("features.parquet")
            self.tmp.replace(final)
            self.files.append(str(final.relative_to(self.out)))
        self.writer, self.tmp, self.batches, self.rows = None, None, [], 0


def _write_batches(writer: pq.ParquetWriter, batches: list[TickBatch]) -> None:
    """Stack the batches into the wide table and encode it (in the encoder thread: the
    column transposes release the GIL too, and took 5.8 s of a 3-day replay's main
    thread)."""
    writer.write_table(batches_to_table(batches))


def _ticks(batch: TickBatch, lo: int, hi: int) -> TickBatch:
    return TickBatch(
        batch.ts[lo:hi],
        batch.symbols,
        batch.warm[lo:hi],
        batch.gap[lo:hi],
        batch.prices[lo:hi],
        batch.values[lo:hi],
    )


def _single(frame: TickFrame) -> TickBatch:
    """One tick of the per-tick path as a batch (for the shared writer and digest)."""
    return TickBatch(
        np.array([frame.ts], dtype=np.int64),
        frame.symbols,
        frame.warm[None],
        frame.gap[None],
        frame.prices[None],
        frame.values[None],
    )


def replay_batches(
    batches: Iterable[Mapping[str, pa.Table]],
    *,
    config: EngineConfig | None = None,
    gaps: Sequence[Gap] = (),
    out: Path | None = None,
    flush_rows: int = 250_000,
    per_tick: bool = False,
) -> ReplayResult:
    """Replay time-ordered batches of per-kind tables; write the wide table under ``out``
    (if given) and return the digest. ``gaps`` (symbol or None, start ns, end ns) are
    registered before the first event, as a gap ledger would declare them.

    Ticks are computed in runs (``drive_tables_batched``); ``per_tick=True`` computes them
    one by one as the live runner does (the reference: same digest, same table)."""
    engine = FeatureEngine(config)
    for symbol, start, end in gaps:
        engine.mark_gap(symbol, start, end)
    digest = SnapshotDigest()
    writer = _DayWriter(out, flush_rows) if out is not None else None
    counted = _Counted(batches)
    runs = (
        (_single(f) for f in drive_tables(engine, counted))
        if per_tick
        else drive_tables_batched(engine, counted)
    )
    # A run per tick would pay the thread hand-off per tick: the per-tick path (the
    # reference) hashes inline, as it always has.
    hasher = _Background("csx-digest") if writer is None and not per_tick else None
    try:
        for run in runs:
            if writer is not None:
                # Hashed here, not by the encoder: the encoder bounds a replay that writes
                # (Parquet, then the digest, were ~3/4 of its time) while this thread
                # waited on it a third of the time; a demo-lake replay took ~5% less.
                writer.add(run)
                digest.update_batch(run)
            elif hasher is not None:  # one run hashed while the next is computed
                hasher.submit(digest.update_batch, run)
            else:
                digest.update_batch(run)
        if writer is not None:
            writer.close()
        if hasher is not None:
            hasher.wait()
    finally:
        if writer is not None:
            writer.shutdown()
        if hasher is not None:
            hasher.shutdown()
    result = ReplayResult(
        digest=digest.hexdigest(),
        ticks=digest.ticks,
        rows=digest.rows,
        events=counted.events,
        late_events=engine.late_events,
        feature_version=FEATURE_VERSION,
        files=tuple(writer.files) if writer is not None else (),
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        meta = {**json.loads(result.to_json()), "config": dataclasses.asdict(engine.config)}
        (out / "replay.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return result


class _Counted:
    def __init__(self, batches: Iterable[Mapping[str, pa.Table]]) -> None:
        self.batches, self.events = batches, 0

    def __iter__(self) -> Iterator[Mapping[str, pa.Table]]:
        for batch in self.batches:
            self.events += sum(t.num_rows for t in batch.values())
            yield batch


REPLAY_WINDOW_S = 3600
"""Store replays read an hour of every kind at a time (``EventStore.windows``): a day of a
few hundred perpetuals is tens of millions of events, an hour a few million."""


def store_batches(
    root: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    symbols: Sequence[str] | None = None,
    window_s: int = REPLAY_WINDOW_S,
) -> Iterator[dict[str, pa.Table]]:
    """The event store at ``root`` as time-ordered batches, one per ``window_s`` of a UTC
    day that has rows in it (every kind of that window), shadowed klines dropped."""
    from csx_core.store import KIND_ORDER, EventStore

    shadow = ShadowTables()
    windows = EventStore(root).windows(
        KIND_ORDER, start=start, end=end, symbols=symbols, window_s=window_s
    )
    for batch in ahead(windows):  # the next window is decoded while this one is replayed
        if any(table.num_rows for table in batch.values()):
            yield shadow.apply(batch)


def replay_store(
    root: Path,
    out: Path | None,
    *,
    start: date | None = None,
    end: date | None = None,
    symbols: Sequence[str] | None = None,
    config: EngineConfig | None = None,
    gaps: Sequence[Gap] = (),
    per_tick: bool = False,
) -> ReplayResult:
    """``csx replay``: the event store at ``root`` through the engine into ``out``."""
    batches = store_batches(root, start=start, end=end, symbols=symbols)
    return replay_batches(batches, config=config, gaps=gaps, out=out, per_tick=per_tick)
