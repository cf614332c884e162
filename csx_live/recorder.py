"""The record → replay bridge: decoded market events into the Parquet event store, plus the
gap ledger, so ``csx_core.replay.replay_store`` can rebuild exactly the features live saw.

``BatchRecorder`` collects events and writes them with ``EventStore.write_events`` one batch
at a time, rotating every ``batch_events`` events or ``flush_s`` seconds. Each store write is
atomic (temp file + rename + manifest), so a crash — even SIGKILL in the middle of a write —
loses only what was not yet committed: the open batch and at most one batch being written by
the background writer thread; everything committed still reads and verifies. The runner can
feed it directly (``Runner.recorder = recorder.add``) so a live session records what its
engine consumed; ``csx record`` runs the same connectors without the screener, and with
``--raw`` also keeps every raw frame (``csx_live.raw_frames``) for re-decoding later.

``GapJournal`` appends one JSON line per closed outage to ``<store>/gaps.jsonl`` (fsynced);
``replay_gaps`` reads them back in the replay's ``(symbol or None, start_ns, end_ns)`` form.
A restart on a store that already holds events journals the recorder's own downtime too
(``DowntimeGap``): every symbol (``None``), from the last committed event time to the first
new one, reason ``recorder_downtime``.
Gap times are the ledger's wall-clock ns, which match event time on a live feed (not on a
replay of old data unless the exchange rebases time).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from csx_core.contracts import MarketEvent
from csx_core.store import KIND_ORDER, EventStore, InvalidRowsError, WriteReport
from csx_core.store.errors import StoreCorruption
from csx_core.store.manifest import load_manifest
from csx_live.config import LiveSettings
from csx_live.connectors.gaps import GapEntry, gap_symbols
from csx_live.raw_frames import RAW_DIR, RawFrameWriter

log = logging.getLogger(__name__)

GAPS_FILE = "gaps.jsonl"
DOWNTIME_REASON = "recorder_downtime"
Gap = tuple[str | None, int, int]


@dataclass
class RecorderStats:
    """Monotone counts: events offered, committed to the store, dropped as duplicates by the
    store, in rejected writes; committed batches; time of the last commit (wall ns)."""

    events_in: int = 0
    events_written: int = 0
    duplicates: int = 0
    events_rejected: int = 0
    batches: int = 0
    write_errors: int = 0
    last_commit_ns: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class BatchRecorder:
    """Batches events into ``store``; ``add`` is cheap and never raises on a bad write.

    ``background=True`` writes in one worker thread, so the event loop keeps reading sockets
    during a write; a rotation waits for the previous write first (at most one in flight).
    """

    def __init__(
        self,
        store: EventStore,
        *,
        batch_events: int = 50_000,
        flush_s: float = 5.0,
        background: bool = True,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if batch_events < 1:
            raise ValueError("batch_events must be >= 1")
        if not flush_s > 0:
            raise ValueError("flush_s must be > 0")
        self.store = store
        self.batch_events = batch_events
        self.flush_ns = int(flush_s * 1e9)
        self.stats = RecorderStats()
        self._wall_ns = wall_ns
        self._open: list[MarketEvent] = []
        self._opened_ns = wall_ns()
        self._pool = ThreadPoolExecutor(1, "csx-recorder") if background else None
        self._inflight: Future[None] | None = None

    @property
    def pending(self) -> int:
        """Events in the open batch (not yet handed to the writer)."""
        return len(self._open)

    def add(self, events: Sequence[MarketEvent]) -> None:
        """Append ``events``; rotate when the batch is full or ``flush_s`` has passed."""
        if not self._open:
            self._opened_ns = self._wall_ns()
        self._open.extend(events)
        self.stats.events_in += len(events)
        if len(self._open) >= self.batch_events:
            self.rotate()
        else:
            self.poll()

    def poll(self) -> None:
        """Rotate if the open batch is older than ``flush_s`` (call it periodically)."""
        if self._open and self._wall_ns() - self._opened_ns >= self.flush_ns:
            self.rotate()

    def rotate(self) -> None:
        """Hand the open batch to the writer (waiting for the previous write to finish)."""
        if not self._open:
            return
        batch, self._open = self._open, []
        self._opened_ns = self._wall_ns()
        self._wait()
        if self._pool is None:
            self._write(batch)
        else:
            self._inflight = self._pool.submit(self._write, batch)

    def flush(self) -> None:
        """Commit everything added so far (blocking): the graceful-shutdown path."""
        self.rotate()
        self._wait()

    def close(self) -> None:
        """Flush and stop the writer thread; later batches are written synchronously."""
        self.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _wait(self) -> None:
        if self._inflight is not None:
            self._inflight.result()
            self._inflight = None

    def _write(self, batch: list[MarketEvent]) -> None:
        try:
            reports: list[WriteReport] = self.store.write_events(batch)
        except (InvalidRowsError, OSError, ValueError) as exc:
            self.stats.write_errors += 1
            self.stats.events_rejected += len(batch)
            log.error("recording a batch failed", extra={"events": len(batch), "error": str(exc)})
            return
        self.stats.events_written += sum(r.rows_written for r in reports)
        self.stats.duplicates += sum(r.duplicates for r in reports)
        self.stats.batches += 1
        self.stats.last_commit_ns = self._wall_ns()
        log.info(
            "batch committed",
            extra={
                "batch": self.stats.batches,
                "events": len(batch),
                "events_written": self.stats.events_written,
            },
        )


class GapJournal:
    """Closed outages as JSON lines (``GapLedger.on_close`` listener), fsynced per line.

    ``position`` gives the event time (ns) the consumer had reached when the gap closed; it
    is stored as ``declared_at_ns`` because that is where the live engine learnt of the
    gap (a replay that declares it there, not up front, reproduces the live ticks)."""

    def __init__(self, path: Path, position: Callable[[], int | None] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._position = position
        self.written = 0

    def append(self, entry: GapEntry, *, symbols: Sequence[str | None] | None = None) -> None:
        """Journal ``entry`` (if closed); ``symbols`` overrides those of its streams."""
        if entry.end_ns is None:
            return
        if symbols is None:
            symbols = sorted(gap_symbols(entry), key=lambda s: "" if s is None else s)
        declared_at = self._position() if self._position is not None else None
        record = {**entry.to_dict(), "symbols": list(symbols), "declared_at_ns": declared_at}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.written += 1


def last_committed_ns(store: EventStore) -> int | None:
    """The latest ts_event committed to ``store`` (any kind, any symbol), from the manifests
    of each kind's newest non-empty partition (no data read); ``None`` for an empty store."""
    latest: int | None = None
    for kind in KIND_ORDER:
        for day in reversed(store.dates(kind)):
            try:
                manifest = load_manifest(store.partition_path(kind, day))
            except StoreCorruption as exc:
                log.warning("unreadable manifest", extra={"error": str(exc)})
                continue
            if manifest is not None and manifest.files:
                ts_max = max(f.ts_max for f in manifest.files)
                latest = ts_max if latest is None else max(latest, ts_max)
                break
    return latest


class DowntimeGap:
    """The recorder's own outage on a restart: journalled once, for every symbol (``None``),
    as ``[since_ns, first new event time)`` when the first events arrive. ``since_ns`` is
    the store's last committed event time (``None``: a fresh store, nothing to journal); no
    entry either if the new events are not later (e.g. a replay of old data)."""

    SHARD_ID = "recorder"

    def __init__(self, journal: GapJournal, since_ns: int | None) -> None:
        self._journal = journal
        self.since_ns = since_ns
        self.entry: GapEntry | None = None

    def on_events(self, events: Sequence[MarketEvent]) -> None:
        if self.since_ns is None or not events:
            return
        since, self.since_ns = self.since_ns, None
        first = min(e.ts_event for e in events)
        if first <= since:
            return
        entry = GapEntry(self.SHARD_ID, (), since, first, DOWNTIME_REASON)
        try:
            self._journal.append(entry, symbols=[None])
        except OSError as exc:
            log.error("journalling the recorder downtime failed", extra={"error": str(exc)})
            return
        self.entry = entry
        log.info(
            "recorder downtime journalled",
            extra={"start_ns": since, "end_ns": first, "duration_ns": first - since},
        )


def read_gaps(path: Path) -> list[dict[str, Any]]:
    """The journal's records in order; a torn last line (crash mid-append) is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("end_ns"), int):
            out.append(record)
    return out


def replay_gaps(store_root: Path) -> list[Gap]:
    """``<store>/gaps.jsonl`` as ``replay_store(..., gaps=...)`` takes them: one
    ``(symbol or None for every symbol, start_ns, end_ns)`` per silenced symbol."""
    gaps: list[Gap] = []
    for record in read_gaps(Path(store_root) / GAPS_FILE):
        for symbol in record.get("symbols", [None]):
            gaps.append((symbol, int(record["start_ns"]), int(record["end_ns"])))
    return gaps


@dataclass
class RecordSummary:
    """What a recording session did (printed as JSON by ``csx record`` on exit)."""

    frames: int
    malformed: int
    ignored: int
    gaps: int
    recorder: dict[str, int]
    raw: dict[str, int] | None = None
    """``RawStats`` of ``--raw`` (``None`` without it)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class FrameRecorder:
    """The connectors' frame handler: keep the raw frame (``raw``), decode, count, hand
    events to the recorder."""

    def __init__(
        self,
        decode: Callable[[bytes, int], Sequence[MarketEvent]],
        sink: BatchRecorder,
        on_events: Callable[[Sequence[MarketEvent]], None] | None = None,
        raw: Callable[[bytes, int], None] | None = None,
    ):
        self._decode, self._sink, self._raw = decode, sink, raw
        self.on_events = on_events
        """Called with each frame's events before they are recorded (``DowntimeGap``)."""
        self.frames = self.malformed = self.ignored = 0
        self.last_event_ns: int | None = None

    def on_frame(self, frame: bytes, recv_ns: int) -> None:
        self.frames += 1
        if self._raw is not None:  # before decoding: a frame the decoder rejects is kept too
            self._raw(frame, recv_ns)
        try:
            events = self._decode(frame, recv_ns)
        except Exception:  # the decoder's typed errors: counted, never fatal
            self.malformed += 1
            return
        if events:
            if self.on_events is not None:
                self.on_events(events)
            self._sink.add(events)
            self.last_event_ns = events[-1].ts_event
        else:
            self.ignored += 1


async def record(
    settings: LiveSettings,
    store_root: Path,
    *,
    stop: asyncio.Event,
    batch_events: int = 50_000,
    flush_s: float = 5.0,
    decode: Callable[[bytes, int], Sequence[MarketEvent]] | None = None,
    raw_max_bytes: int | None = None,
) -> RecordSummary:
    """Record until ``stop`` (an ``asyncio.Event``) is set, then flush the open batch.

    ``raw_max_bytes``: also keep every raw frame under ``<store>/raw/`` in gzip files of at
    most about that many bytes (``csx_live.raw_frames``); ``None``: decoded events only.

    ``settings`` is a ``LiveSettings``: the same universe, channels, shards, backoff and
    REST limits as ``csx live``, wired from the same components (connectors, universe,
    REST client, wire decoder), without the screener.
    """
    import contextlib
    import random

    import aiohttp

    from csx_core.resilience.backoff import Backoff, BackoffPolicy
    from csx_core.resilience.breaker import BreakerPolicy, CircuitBreaker
    from csx_core.resilience.governor import RestGovernor
    from csx_live.app import default_decoder
    from csx_live.connectors import (
        GapLedger,
        ShardManager,
        StreamTiming,
        plan_shards,
        streams_for,
    )
    from csx_live.rest import RestClient
    from csx_live.universe import Universe, UniverseWatcher

    s = settings
    store = EventStore(store_root)
    recorder = BatchRecorder(store, batch_events=batch_events, flush_s=flush_s)
    raw: RawFrameWriter | None = None
    if raw_max_bytes is not None:
        raw = RawFrameWriter(Path(store_root) / RAW_DIR, max_bytes=raw_max_bytes)
        await asyncio.to_thread(raw.start)  # recovering a crash's part reads a whole file
    keep_raw = None if raw is None else raw.add
    frames = FrameRecorder(decode or default_decoder(), recorder, raw=keep_raw)
    journal = GapJournal(Path(store_root) / GAPS_FILE, position=lambda: frames.last_event_ns)
    frames.on_events = DowntimeGap(journal, last_committed_ns(store)).on_events
    ledger = GapLedger()
    ledger.on_close.append(journal.append)
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession() as session:
        rest = RestClient(
            session,
            s.rest_url,
            governor=RestGovernor(
                weight_budget_1m=s.rest_weight_budget_1m,
                max_concurrency=s.rest_max_concurrency,
                max_queue=s.rest_max_queue,
            ),
            breaker=CircuitBreaker(BreakerPolicy(failure_threshold=5, open_s=30.0)),
            timeout_s=s.rest_timeout_s,
        )
        policy = BackoffPolicy(
            base_s=s.backoff_base_s, cap_s=s.backoff_cap_s, healthy_after_s=s.backoff_reset_after_s
        )
        shards = ShardManager(
            ws_base=s.ws_url,
            session=session,
            on_frame=frames.on_frame,
            backoff_policy=policy,
            timing=StreamTiming(
                stale_s=s.stale_stream_s,
                rollover_after_s=s.rollover_after_s,
                heartbeat_s=s.heartbeat_s or None,
            ),
            ledger=ledger,
        )

        async def on_universe(universe: Universe) -> None:
            plans = plan_shards(
                streams_for(universe.symbols, s.channels),
                max_per_connection=s.max_streams_per_connection,
            )
            await shards.apply(plans)

        watcher = UniverseWatcher(
            rest,
            quote_asset=s.quote_asset,
            override=s.symbols,
            refresh_s=s.universe_refresh_s,
            on_change=on_universe,
            shard=(s.shard_index, s.shard_count),
        )

        async def start() -> None:
            loop = asyncio.get_running_loop()
            backoff = Backoff(policy, random.SystemRandom().random)
            while True:
                try:
                    await watcher.refresh()
                    break
                except Exception as exc:
                    log.warning("universe fetch failed, retrying", extra={"error": str(exc)})
                    await asyncio.sleep(backoff.failure(loop.time()) or s.backoff_cap_s)
            await watcher.run()

        async def rotate() -> None:
            while True:
                await asyncio.sleep(min(1.0, flush_s / 4))
                recorder.poll()

        tasks += [asyncio.create_task(start()), asyncio.create_task(rotate())]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await shards.stop()
            await asyncio.to_thread(recorder.close)
            if raw is not None:
                await asyncio.to_thread(raw.close)
    return RecordSummary(
        frames=frames.frames,
        malformed=frames.malformed,
        ignored=frames.ignored,
        gaps=journal.written,
        recorder=recorder.stats.to_dict(),
        raw=None if raw is None else raw.stats.to_dict(),
    )
