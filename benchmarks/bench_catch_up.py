"""Live runner catching up: a simulated warm-up hour through ``Runner.process`` in full
batches (queued ticks, one ``tick_many`` per batch) against ticking every boundary on the
spot (the per-tick engine path the runner used before), digests held equal."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyarrow.compute as pc

from benchmarks.harness import measure, report
from csx_core.contracts import MarketEvent
from csx_core.features import EngineConfig, FeatureEngine, SnapshotDigest
from csx_core.features.drive import EventClock, EventDriver
from csx_core.features.shadow import ShadowKlines
from csx_core.sim import SimConfig, simulate_day
from csx_core.store.merge import merge_day
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner, RunnerConfig
from csx_live.state import LiveState

S = 1_000_000_000


def _events(symbols: int, minutes: int) -> list[MarketEvent]:
    day = simulate_day(SimConfig(days=1, n_symbols=symbols, seed=7), 0)
    end = day["trade"]["ts_event"][0].as_py() + minutes * 60 * S
    tables = {k: t.filter(pc.less(t["ts_event"], end)) for k, t in day.items()}
    return list(merge_day(tables, batch_rows=100_000))


def _queued(events: Sequence[MarketEvent], batch: int) -> SnapshotDigest:
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(10),
        decode=lambda frame, recv_ns: (),
        engine=FeatureEngine(EngineConfig()),
        config=RunnerConfig(batch_max=batch),
    )
    for lo in range(0, len(events), batch):
        runner.process(events[lo : lo + batch])
    return runner.digest


def _per_tick(events: Sequence[MarketEvent]) -> SnapshotDigest:
    engine = FeatureEngine(EngineConfig())
    driver = EventDriver(engine, EventClock(1), ShadowKlines())
    digest = SnapshotDigest()
    for event in events:
        for boundary in driver.due(event):
            digest.update(engine.tick(boundary))
        driver.apply(event)
    return digest


def run(*, quick: bool) -> None:
    symbols, minutes = (5, 10) if quick else (20, 62)
    start = time.perf_counter()
    events = _events(symbols, minutes)
    print(f"  {len(events):,} events, {symbols} symbols, {minutes} min (built in "
          f"{time.perf_counter() - start:.1f} s)")  # fmt: skip
    got, want = _queued(events, 8192), _per_tick(events)
    if got.hexdigest() != want.hexdigest() or got.ticks != want.ticks:
        raise SystemExit("catch-up: the queued ticks' digest differs from the per-tick one")
    repeat = 2 if quick else 3
    subject = measure(
        "Runner.process, 8,192-event batches", lambda: _queued(events, 8192),
        items=len(events), repeat=repeat,
    )  # fmt: skip
    reference = measure(
        "per-tick engine (reference)", lambda: _per_tick(events), items=len(events), repeat=repeat
    )
    # The subject also does the runner's bookkeeping per tick (state, counters, listeners'
    # reports); no model is loaded, as during the warm-up.
    report("runner catch-up", subject, reference, "events")
    print(f"  ticks {got.ticks:,}: {got.ticks / min(subject.seconds):,.0f} ticks/s queued, "
          f"{got.ticks / min(reference.seconds):,.0f} ticks/s per tick (best runs)")  # fmt: skip
