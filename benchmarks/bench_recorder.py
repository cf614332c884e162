"""The record → replay bridge: recorder throughput into the Parquet store and the runner's
route merge, each against the plain way of doing the same job.

* ``BatchRecorder`` (atomic Parquet batches through ``EventStore.write_events``) vs appending
  the events as JSON lines (stdlib ``json`` + dicts), both fsynced once per batch.
* ``RouteMerge`` (streaming watermark merge of /public and /market in arrival batches) vs
  buffering every event and sorting once at the end (not streaming; the cost floor).
* ``Runner.process`` with and without kline shadowing (the per-event type check it adds).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path

import msgspec

from benchmarks.harness import measure, report
from csx_core.contracts import BookTop, MarketEvent
from csx_core.features import FeatureEngine
from csx_core.sim import SimConfig, simulate_day
from csx_core.store import EventStore
from csx_live.queue import DropOldestQueue
from csx_live.recorder import BatchRecorder
from csx_live.route_merge import RouteMerge
from csx_live.runner import Runner, RunnerConfig
from csx_live.state import LiveState

BATCH = 50_000


def _events(n_symbols: int, limit: int) -> list[MarketEvent]:
    config = SimConfig(seed=5, start=date(2026, 2, 1), days=1, n_symbols=n_symbols)
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp))
        for kind, table in simulate_day(config, 0).items():
            store.write(kind, table)
        out = []
        for event in store.iter_events():
            out.append(event)
            if len(out) >= limit:
                break
    return out


def _arrivals(events: list[MarketEvent], size: int) -> list[list[MarketEvent]]:
    """Arrival batches as two sockets deliver them: each route in order, routes alternating
    in chunks of ``size`` events, the /market chunk first (running ahead)."""
    public = [e for e in events if type(e) is BookTop]
    market = [e for e in events if type(e) is not BookTop]
    out: list[list[MarketEvent]] = []
    for i in range(0, max(len(public), len(market)), size):
        for lane in (market, public):
            if lane[i : i + size]:
                out.append(lane[i : i + size])
    return out


def _record_parquet(events: list[MarketEvent]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rec = BatchRecorder(EventStore(Path(tmp)), batch_events=BATCH, background=False)
        for i in range(0, len(events), 512):
            rec.add(events[i : i + 512])
        rec.close()


def _record_jsonl(events: list[MarketEvent]) -> None:
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "events.jsonl").open("w") as f:
        for i in range(0, len(events), BATCH):
            for event in events[i : i + BATCH]:
                f.write(json.dumps(msgspec.to_builtins(event)) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _merge(batches: list[list[MarketEvent]]) -> None:
    merge = RouteMerge(idle_s=1.0)
    out = 0
    for batch in batches:
        out += len(merge.push(batch, 0))
    out += len(merge.release(2_000_000_000))


def _sort_all(batches: list[list[MarketEvent]]) -> None:
    everything = [e for batch in batches for e in batch]
    everything.sort(key=lambda e: e.ts_event)


def _process(events: list[MarketEvent], shadow: bool) -> None:
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(16),
        decode=lambda frame, recv_ns: (),
        engine=FeatureEngine(),
        config=RunnerConfig(shadow_klines=shadow, merge_idle_s=None),
    )
    for i in range(0, len(events), 8192):
        runner.process(events[i : i + 8192])


def run(*, quick: bool) -> None:
    n = 60_000 if quick else 300_000
    events = _events(10 if quick else 30, n)
    n = len(events)
    repeat = 2 if quick else 5
    print(f"  {n:,} simulated events (every kind), batches of {BATCH:,}")
    report(
        "Recording decoded events (fsync per batch)",
        measure("BatchRecorder -> Parquet store", lambda: _record_parquet(events), items=n,
                repeat=repeat),
        measure("reference: JSON lines (stdlib json)", lambda: _record_jsonl(events), items=n,
                repeat=repeat),
        "events",
    )  # fmt: skip
    batches = _arrivals(events, 512)
    report(
        "Merging /public and /market into event-time order",
        measure("RouteMerge (streaming)", lambda: _merge(batches), items=n, repeat=repeat),
        measure("reference: buffer all + sort once", lambda: _sort_all(batches), items=n,
                repeat=repeat),
        "events",
    )  # fmt: skip
    report(
        "Runner.process (engine, event-time ticks, no scorer)",
        measure("kline shadowing on", lambda: _process(events, True), items=n, repeat=repeat),
        measure("kline shadowing off", lambda: _process(events, False), items=n, repeat=repeat),
        "events",
    )
