"""Runner: event-time ticks through the real FeatureEngine, the baseline scorer, ranker and
alerter; counters for malformed frames and queue overflow; the wall-clock fallback; sinks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from csx_core.contracts import BookTop, MarketEvent, Trade
from csx_core.features import FEATURE_NAMES, EngineConfig, FeatureEngine
from csx_core.ml.baseline import BaselineScorer
from csx_core.ml.calibration import Calibrator
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_live.connectors import GapLedger
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner, RunnerConfig
from csx_live.sinks import JsonlSink
from csx_live.state import NS_PER_S, LiveState

T0 = 1_700_000_000 * NS_PER_S
SYMBOLS = ("AAAUSDT", "BBBUSDT", "BTCUSDT")


def json_decode(frame: bytes, recv_ns: int) -> Sequence[MarketEvent]:
    """A hand-written stand-in for csx_core.wire: combined aggTrade/bookTicker frames."""
    d = json.loads(frame)["data"]
    if d["e"] == "aggTrade":
        return [
            Trade(
                symbol=d["s"],
                ts_event=d["T"] * 1_000_000,
                ts_recv=recv_ns,
                trade_id=d["a"],
                price=float(d["p"]),
                qty=float(d["q"]),
                buyer_is_maker=d["m"],
            )
        ]
    if d["e"] == "bookTicker":
        return [
            BookTop(
                symbol=d["s"],
                ts_event=d["E"] * 1_000_000,
                ts_recv=recv_ns,
                update_id=d["u"],
                bid_price=float(d["b"]),
                bid_qty=float(d["B"]),
                ask_price=float(d["a"]),
                ask_qty=float(d["A"]),
            )
        ]
    return []


def frames(seconds: int, *, start_ms: int = T0 // 1_000_000) -> list[bytes]:
    out = []
    n = 0
    for sec in range(seconds):
        for k, sym in enumerate(SYMBOLS):
            for j in range(4):
                ms = start_ms + sec * 1000 + k * 10 + j * 200
                px = 100.0 * (k + 1) * (1 + 0.002 * sec * (k + 1)) + j * 0.01
                n += 1
                trade = {"e": "aggTrade", "E": ms, "T": ms, "a": n, "s": sym,
                         "p": f"{px:.4f}", "q": f"{1 + j + sec % 3}", "m": bool(j % 2)}  # fmt: skip
                book = {"e": "bookTicker", "E": ms, "T": ms, "u": n, "s": sym,
                        "b": f"{px - 0.01:.4f}", "B": "5", "a": f"{px + 0.01:.4f}",
                        "A": "5"}  # fmt: skip
                out.append(
                    json.dumps({"stream": f"{sym.lower()}@aggTrade", "data": trade}).encode()
                )
                out.append(
                    json.dumps({"stream": f"{sym.lower()}@bookTicker", "data": book}).encode()
                )
    return out


WARMUP_S = 63 * 60  # the engine's 60-minute baselines, in whole minutes


def warmup_frames(step_s: int = 10) -> list[bytes]:
    """A coarse hour of history ending at T0 (one trade and book per symbol every
    ``step_s``): afterwards every symbol's features are warm."""
    start_ms = T0 // 1_000_000 - WARMUP_S * 1000
    out = []
    for i, sec in enumerate(range(0, WARMUP_S, step_s)):
        for k, sym in enumerate(SYMBOLS):
            ms = start_ms + sec * 1000 + k
            px = 100.0 * (k + 1) + (i % 7) * 0.01
            trade = {"e": "aggTrade", "E": ms, "T": ms, "a": 10_000_000 + i * 10 + k, "s": sym,
                     "p": f"{px:.4f}", "q": "1", "m": bool(i % 2)}  # fmt: skip
            book = {"e": "bookTicker", "E": ms, "T": ms, "u": 10_000_000 + i * 10 + k,
                    "s": sym, "b": f"{px - 0.01:.4f}", "B": "5", "a": f"{px + 0.01:.4f}",
                    "A": "5"}  # fmt: skip
            out.append(json.dumps({"stream": f"{sym.lower()}@aggTrade", "data": trade}).encode())
            out.append(json.dumps({"stream": f"{sym.lower()}@bookTicker", "data": book}).encode())
    return out


def warm_up(runner: Runner) -> None:
    for frame in warmup_frames():
        runner.on_frame(frame, T0)
    runner.process(runner.queue.get_nowait_batch(1_000_000))


def baseline() -> BaselineScorer:
    return BaselineScorer(
        names=FEATURE_NAMES,
        calibrator=Calibrator("platt", a=1.0, b=-1.0),
        term_means=np.zeros(3),
    )


class Wall:
    def __init__(self) -> None:
        self.ns = T0

    def __call__(self) -> int:
        return self.ns


MakeRunner = Callable[..., tuple[Runner, LiveState, list[float]]]


@pytest.fixture
def make_runner(tmp_path: Path) -> Iterator[MakeRunner]:
    sinks: list[JsonlSink] = []

    def make(
        *, bound: int = 100_000, wall: Callable[[], int] | None = None, sub: str = ""
    ) -> tuple[Runner, LiveState, list[float]]:
        state = LiveState(connected=lambda: True)
        observed: list[float] = []
        pipeline = TickPipeline(
            baseline(), Ranker(RankerConfig(k=2)), Alerter(AlertConfig(threshold=0.3))
        )
        sink = JsonlSink(tmp_path / sub, prefix="ranks")
        sinks.append(sink)
        runner = Runner(
            state=state,
            queue=DropOldestQueue(bound),
            decode=json_decode,
            engine=FeatureEngine(EngineConfig()),
            pipeline=pipeline,
            sink=sink,
            observe_tick_s=observed.append,
            config=RunnerConfig(top_k=2, tick_fallback_s=1.0),
            wall_ns=wall or Wall(),
        )
        return runner, state, observed

    yield make
    for sink in sinks:
        sink.close()


def test_event_time_ticks_rank_alert_and_sink(tmp_path: Path, make_runner: MakeRunner) -> None:
    runner, state, observed = make_runner()
    warm_up(runner)
    assert state.warm_symbols == 3
    assert state.scored_universe == 3
    ticks = state.counters.ticks
    observed.clear()
    for frame in frames(6):
        runner.on_frame(frame, T0)
    runner.process(runner.queue.get_nowait_batch(1_000_000))
    # The warm-up's last event lies at T0-10s: the first frame releases T0-9s .. T0, and event
    # time then crosses T0+1s .. T0+5s.
    assert state.counters.ticks - ticks == 15
    assert state.last_tick_ns == T0 + 5 * NS_PER_S
    assert len(observed) == 15
    assert state.scored_symbols == 3
    assert [r["rank"] for r in state.ranks] == [1, 2]
    assert {r["symbol"] for r in state.ranks} <= set(SYMBOLS)
    assert all(0.0 <= r["p_inplay"] <= 1.0 for r in state.ranks)
    view = runner.symbol_view("BTCUSDT")
    assert view is not None
    assert set(view["features"]) == set(FEATURE_NAMES)
    assert runner.symbol_view("NOPE") is None
    lines = [
        json.loads(x) for f in tmp_path.glob("ranks-*.jsonl") for x in f.read_text().splitlines()
    ]
    assert {x["type"] for x in lines} >= {"rank"}
    assert sum(x["type"] == "rank" for x in lines) == state.counters.rank_events
    assert sum(x["type"] == "alert" for x in lines) == state.counters.alerts


def test_symbols_still_warming_up_are_neither_ranked_nor_alerted(make_runner: MakeRunner) -> None:
    runner, state, _ = make_runner()
    state.min_warm_share = 0.5
    for frame in frames(30):
        runner.on_frame(frame, T0)
    runner.process(runner.queue.get_nowait_batch(1_000_000))
    assert state.counters.ticks == 29
    assert (state.warm_symbols, state.scored_universe, state.scored_symbols) == (0, 3, 0)
    assert state.ranks == []
    assert state.counters.alerts == 0
    view = runner.symbol_view("BTCUSDT")
    assert view is not None
    assert view["warm"] is False
    assert "p_inplay" not in view
    state.last_event_wall_ns = T0
    ready, reasons = state.readiness(T0, fresh_s=10.0)
    assert not ready
    assert "warming up: 0 of 3 symbols warm (ready at 50%)" in reasons


def test_malformed_and_ignored_frames_are_counted(make_runner: MakeRunner) -> None:
    runner, state, _ = make_runner()
    runner.on_frame(b"{not json", T0)
    runner.on_frame(b'{"stream":"x@aggTrade","data":{"e":"aggTrade"}}', T0)
    runner.on_frame(b'{"stream":"x","data":{"e":"somethingElse"}}', T0)
    runner.on_frame(frames(1)[0], T0)
    assert (state.ingest.frames, state.ingest.malformed, state.ingest.ignored) == (4, 2, 1)
    assert state.ingest.events == 1


def test_queue_overflow_drops_oldest_and_counts(make_runner: MakeRunner) -> None:
    runner, state, _ = make_runner(bound=10)
    batch = frames(2)
    for frame in batch:
        runner.on_frame(frame, T0)
    assert runner.queue.dropped == len(batch) - 10
    assert len(runner.queue) == 10
    assert state.ingest.events == len(batch)


def test_same_frames_give_the_same_rank_stream(tmp_path: Path, make_runner: MakeRunner) -> None:
    outputs = []
    for run in ("a", "b"):
        runner, _, _ = make_runner(sub=run)
        for frame in frames(8):
            runner.on_frame(frame, T0)
        runner.process(runner.queue.get_nowait_batch(1_000_000))
        outputs.append([f.read_text() for f in sorted((tmp_path / run).glob("*.jsonl"))])
    assert outputs[0] == outputs[1]
    assert outputs[0] != [""]


async def test_wall_clock_fallback_ticks_a_quiet_feed(make_runner: MakeRunner) -> None:
    wall = Wall()
    runner, state, _ = make_runner(wall=wall)
    for frame in frames(2):
        runner.on_frame(frame, T0)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: state.counters.ticks == 1)
        # The feed goes quiet while wall time moves on 2.5 s from the last event (at 1.62 s):
        # boundaries 2 s and 3 s are due once they are tick_fallback_s (1 s) in the past.
        wall.ns = T0 + 2 * NS_PER_S + NS_PER_S // 2
        await eventually(lambda: state.counters.ticks == 3)
        assert state.last_tick_ns == T0 + 3 * NS_PER_S
        assert state.tick_drift_s == pytest.approx(2.5 - (3 - 1.62))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_closed_outage_marks_a_gap_for_its_symbols_only(make_runner: MakeRunner) -> None:
    runner, _, _ = make_runner()
    for frame in frames(4):
        runner.on_frame(frame, T0)
    runner.process(runner.queue.get_nowait_batch(1_000_000))
    ledger = GapLedger()
    ledger.on_close.append(runner.on_gap)
    ledger.open("public-0", ("aaausdt@bookTicker", "aaausdt@aggTrade"), T0 + NS_PER_S, "closed")
    ledger.close("public-0", T0 + 2 * NS_PER_S)
    runner.tick(T0 + 4 * NS_PER_S)
    gapped, clean = runner.symbol_view("AAAUSDT"), runner.symbol_view("BBBUSDT")
    assert gapped is not None
    assert clean is not None
    assert (gapped["gap"], clean["gap"]) == (True, False)


async def test_old_event_times_do_not_flood_catch_up_ticks(make_runner: MakeRunner) -> None:
    """A replayed feed from years ago: the fallback maps wall time through the last event,
    so it adds one tick per elapsed second, not one per second since the events' epoch."""
    wall = Wall()
    wall.ns = T0 + 10**9 * NS_PER_S  # wall clock ~30 years ahead of the events
    runner, state, _ = make_runner(wall=wall)
    for frame in frames(3):
        runner.on_frame(frame, wall.ns)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: state.counters.ticks == 2)
        wall.ns += 3 * NS_PER_S // 2
        await eventually(lambda: state.counters.ticks == 3)
        assert state.last_tick_ns == T0 + 3 * NS_PER_S
        assert state.tick_drift_s == pytest.approx(1.5 - (3 - 2.62))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
