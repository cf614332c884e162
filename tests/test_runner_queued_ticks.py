"""The runner computes the boundaries a batch releases one at a time with one
``engine.tick_many`` (``Runner.process``); every frame, digest, late-event count and listener
report must equal ticking each boundary on the spot, the per-tick reference below."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from csx_core.contracts import MarketEvent
from csx_core.features import EngineConfig, FeatureEngine, SnapshotDigest, TickBatch, TickFrame
from csx_core.features.buckets import MAX_AHEAD_S
from csx_core.features.drive import EventClock, EventDriver
from csx_core.features.shadow import ShadowKlines
from csx_core.store.merge import merge_day
from csx_live.connectors.gaps import GapEntry, gap_symbols
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner, RunnerConfig, TickReport
from csx_live.state import LiveState
from tests.test_features_realdata import read_capture
from tests.test_replay_batch import sim_tables

S = 1_000_000_000


class CountingEngine(FeatureEngine):
    """The real engine, counting how many ticks each ``tick_many`` call computed."""

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.batch_sizes: list[int] = []

    def tick_many(self, ts: Sequence[int]) -> list[TickBatch]:
        self.batch_sizes.append(len(ts))
        return super().tick_many(ts)


def per_tick(
    events: Sequence[MarketEvent], config: EngineConfig, gaps: dict[int, GapEntry]
) -> tuple[SnapshotDigest, list[TickFrame], FeatureEngine]:
    """The reference: each released boundary ticked before its event is applied, and a gap
    marked where the runner's ledger closes it (before event ``k`` of ``gaps``)."""
    engine = FeatureEngine(config)
    driver = EventDriver(engine, EventClock(config.cadence_s), ShadowKlines())
    digest = SnapshotDigest()
    frames: list[TickFrame] = []
    for k, event in enumerate(events):
        if k in gaps:
            entry = gaps[k]
            assert entry.end_ns is not None
            for symbol in gap_symbols(entry):
                engine.mark_gap(symbol, entry.start_ns, entry.end_ns)
        for boundary in driver.due(event):
            frame = engine.tick(boundary)
            digest.update(frame)
            frames.append(frame)
        driver.apply(event)
    return digest, frames, engine


def _seen(frame: TickFrame) -> tuple[int, tuple[str, ...]]:
    return frame.ts, tuple(frame.symbols)


def queued(
    events: Sequence[MarketEvent],
    config: EngineConfig,
    gaps: dict[int, GapEntry],
    *,
    seed: int,
    max_batch: int,
) -> tuple[Runner, CountingEngine, list[tuple[int, tuple[str, ...]]]]:
    """The runner fed ``events`` in batches of random sizes; gaps close between batches."""
    engine = CountingEngine(config)
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(10_000),
        decode=lambda frame, recv_ns: (),
        engine=engine,
        config=RunnerConfig(cadence_s=config.cadence_s),
    )
    reports: list[tuple[int, tuple[str, ...]]] = []

    def listen(report: TickReport) -> None:
        assert report.frame is not None
        reports.append(_seen(report.frame))

    runner.tick_listeners.append(listen)
    rng = random.Random(seed)
    cuts = sorted({*gaps, *(rng.randrange(len(events)) for _ in range(len(events) // max_batch))})
    lo = 0
    for hi in [*cuts, len(events)]:
        if lo in gaps:
            runner.on_gap(gaps[lo])
        runner.process(events[lo:hi])
        lo = hi
    return runner, engine, reports


def assert_same(
    events: Sequence[MarketEvent],
    config: EngineConfig | None = None,
    gaps: dict[int, GapEntry] | None = None,
    *,
    seed: int = 1,
    max_batch: int = 500,
) -> CountingEngine:
    gaps = gaps or {}
    config = config or EngineConfig()
    digest, _, reference = per_tick(events, config, gaps)
    runner, engine, reports = queued(events, config, gaps, seed=seed, max_batch=max_batch)
    assert runner.digest.ticks == digest.ticks > 0
    assert runner.digest.rows == digest.rows
    assert runner.digest.hexdigest() == digest.hexdigest()
    assert engine.late_events == reference.late_events
    assert runner.state.counters.tick_errors == 0
    # listeners see the warm rows of every tick, in tick order
    assert [ts for ts, _ in reports] == sorted({ts for ts, _ in reports})
    assert len(reports) == runner.state.counters.ticks
    return engine


def sim_events(minutes: int) -> list[MarketEvent]:
    """The simulator's first ``minutes`` for 3 symbols (the last one kline-only)."""
    return list(merge_day(sim_tables(1, 3, minutes), batch_rows=50_000))


@pytest.mark.parametrize("max_batch", [500, 50_000])
def test_simulated_market_ticks_in_batches_to_the_per_tick_digest(max_batch: int) -> None:
    engine = assert_same(sim_events(20), max_batch=max_batch)
    assert max(engine.batch_sizes) > 1  # boundaries were computed together
    if max_batch > 10_000:  # batches span minutes: the queue stops where the ring ends
        assert MAX_AHEAD_S - 5 <= max(engine.batch_sizes) <= MAX_AHEAD_S


def test_late_events_silences_and_a_symbol_seen_late_give_the_per_tick_digest() -> None:
    events = sim_events(20)
    t0 = events[0].ts_event
    late_symbol = events[-1].symbol
    kept = [
        e
        for e in events
        if not (t0 + 300 * S <= e.ts_event < t0 + 600 * S)  # a silence longer than the ring
        and not (e.symbol == late_symbol and e.ts_event < t0 + 700 * S)
    ]
    rng = random.Random(7)
    for _ in range(200):  # events delivered out of order: late for the ticks before them
        k = rng.randrange(len(kept) - 40)
        kept.insert(k + rng.randrange(5, 40), kept.pop(k))
    engine = assert_same(kept, seed=3)
    assert engine.late_events > 0
    assert max(engine.batch_sizes) > 1


def test_gaps_marked_between_batches_give_the_per_tick_digest() -> None:
    events = sim_events(15)
    t0 = events[0].ts_event
    at = {k: e.ts_event for k, e in enumerate(events)}
    k1 = next(k for k, ts in at.items() if ts >= t0 + 400 * S)
    k2 = next(k for k, ts in at.items() if ts >= t0 + 700 * S)
    stream = f"{events[0].symbol.lower()}@aggTrade"
    gaps = {
        k1: GapEntry("s0", (stream,), t0 + 380 * S, t0 + 395 * S, "test"),
        k2: GapEntry("s1", ("!markPrice@arr@1s",), t0 + 690 * S, t0 + 699 * S, "test"),
    }
    assert_same(events, EngineConfig(gap_after_s=30, stale_after_s=3), gaps)


def test_a_bar_cadence_runner_ticks_like_the_per_tick_reference() -> None:
    config = EngineConfig(cadence_s=7, beta_minutes=20, min_beta_points=5)
    engine = assert_same(sim_events(20), config, seed=5, max_batch=2_000)
    assert max(engine.batch_sizes) > 1


def test_real_captures_in_arrival_order_tick_in_batches_to_the_per_tick_digest(
    realdata: Path,
) -> None:
    folder = realdata / "hftbacktest_usdm_2024-08-08"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    events = read_capture(folder / "btcusdt_20240808.gz")
    events += read_capture(folder / "ethusdt_20240808.gz")
    events.sort(key=lambda e: e.ts_recv)  # as the sockets delivered them: some are late
    engine = assert_same(events, max_batch=4_000)
    assert engine.late_events > 0
    assert max(engine.batch_sizes) > 1


class FailingOnce(CountingEngine):
    def __init__(self) -> None:
        super().__init__(EngineConfig())
        self.failed = False

    def tick_many(self, ts: Sequence[int]) -> list[TickBatch]:
        if not self.failed and len(ts) > 1:
            self.failed = True
            self.batch_sizes.append(len(ts))
            raise FloatingPointError("injected")
        return super().tick_many(ts)


def test_a_failed_batch_counts_each_of_its_ticks_and_the_runner_goes_on() -> None:
    engine = FailingOnce()
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(10_000),
        decode=lambda frame, recv_ns: (),
        engine=engine,
    )
    events = sim_events(5)
    runner.process(events[: len(events) // 2])
    assert engine.failed
    failed = runner.state.counters.tick_errors
    assert failed == engine.batch_sizes[0] > 1
    runner.process(events[len(events) // 2 :])
    assert runner.state.counters.tick_errors == failed
    assert runner.state.counters.ticks > 0


async def test_the_run_loop_holds_ticks_while_events_wait_and_computes_them_when_idle() -> None:
    events = sim_events(10)
    digest, _, _ = per_tick(events, EngineConfig(), {})
    engine = CountingEngine(EngineConfig())
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(len(events) + 1),
        decode=lambda frame, recv_ns: (),
        engine=engine,
        # 100 events (~12 s of this market) per batch, no fallback tick, no wall-time bound
        config=RunnerConfig(batch_max=100, tick_fallback_s=3600.0, max_tick_queue_s=60.0),
    )
    runner.queue.put_many(events)
    task = asyncio.create_task(runner.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while runner.digest.ticks < digest.ticks:
            assert loop.time() < deadline, "queued ticks were not computed once the feed idled"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert runner.digest.hexdigest() == digest.hexdigest()
    assert max(engine.batch_sizes) > 100  # held across batches, up to the ring's reach


def test_a_tick_that_fails_to_score_inside_a_batch_is_left_out_of_the_digest_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = sim_events(5)
    engine = CountingEngine(EngineConfig())
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(10_000),
        decode=lambda frame, recv_ns: (),
        engine=engine,
    )
    reference, frames, _ = per_tick(events, EngineConfig(), {})
    failing = frames[len(frames) // 2].ts
    score = runner._score

    def score_or_fail(frame: TickFrame) -> object:
        if frame.ts == failing:
            raise FloatingPointError("injected")
        return score(frame)

    monkeypatch.setattr(runner, "_score", score_or_fail)
    runner.process(events)
    assert max(engine.batch_sizes) > 1
    assert runner.state.counters.tick_errors == 1
    assert runner.digest.ticks == reference.ticks - 1
    digest = SnapshotDigest()
    for frame in frames:
        if frame.ts != failing:
            digest.update(frame)
    assert runner.digest.hexdigest() == digest.hexdigest()


def test_reading_the_parity_view_computes_the_ticks_still_queued() -> None:
    events = sim_events(5)
    digest, _, _ = per_tick(events, EngineConfig(), {})
    runner = Runner(
        state=LiveState(),
        queue=DropOldestQueue(10_000),
        decode=lambda frame, recv_ns: (),
        engine=FeatureEngine(EngineConfig()),
    )
    runner.process(events, flush=False)  # as ``run`` leaves them while events wait
    assert runner.digest.ticks < digest.ticks
    view = runner.parity()
    assert (view["ticks"], view["digest"]) == (digest.ticks, digest.hexdigest())
