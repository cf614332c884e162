"""Overload: the runner sheds ticks it cannot afford when it is behind its feed (counted,
drift bounded), and the soak summary reconciles injected malformed frames with what the
runner counted and what never reached it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from csx_core.features import EngineConfig, FeatureEngine
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_core.soak import SoakSummary, check_summary, load_thresholds
from csx_live.config import ConfigError, load_settings
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner, RunnerConfig
from csx_live.soak import summarize
from csx_live.state import NS_PER_S, LiveState
from tests.conftest import REPO_ROOT
from tests.test_live_runner import T0, Wall, baseline, frames, json_decode


def make(wall: Wall, *, bound: int = 1_000_000, **config: object) -> tuple[Runner, LiveState]:
    state = LiveState(connected=lambda: True)
    pipeline = TickPipeline(
        baseline(), Ranker(RankerConfig(k=2)), Alerter(AlertConfig(threshold=0.3))
    )
    runner = Runner(
        state=state,
        queue=DropOldestQueue(bound),
        decode=json_decode,
        engine=FeatureEngine(EngineConfig()),
        pipeline=pipeline,
        config=RunnerConfig(top_k=2, merge_idle_s=None, **config),  # type: ignore[arg-type]
        wall_ns=wall,
    )
    return runner, state


def receive(runner: Runner, seconds: int, *, start_s: int, recv_ns: int) -> None:
    for frame in frames(seconds, start_ms=(T0 + start_s * NS_PER_S) // 1_000_000):
        runner.on_frame(frame, recv_ns)


def feed(runner: Runner, seconds: int, *, start_s: int, recv_ns: int) -> None:
    receive(runner, seconds, start_s=start_s, recv_ns=recv_ns)
    runner.process(runner.queue.get_nowait_batch(10_000_000))


def test_a_runner_far_behind_its_feed_skips_to_the_present_and_counts_it() -> None:
    wall = Wall()
    runner, state = make(wall, bound=4_000, max_tick_lag_s=2.0, catch_up_tick_s=60)
    # 200 s of market (4 800 events) received at T0 + 1 s into a 4 000-event queue (the
    # oldest 800 dropped), still queued when the feed's newest frame arrives 300 s later:
    # the runner is 5 minutes behind its feed with a full queue.
    wall.ns = T0 + 300 * NS_PER_S
    receive(runner, 200, start_s=0, recv_ns=T0 + NS_PER_S)
    runner.on_frame(frames(1, start_ms=(T0 + 200 * NS_PER_S) // 1_000_000)[0], wall.ns)
    assert runner.queue.dropped > 0
    first = runner.queue.get_nowait_batch(1)
    runner.process(first)  # the first event starts the clock
    c = state.counters
    released = 200 - first[0].ts_event // NS_PER_S + T0 // NS_PER_S  # up to 200 s
    while len(runner.queue):
        runner.process(runner.queue.get_nowait_batch(500))
    # while more than half the queue is backlog: one catch-up tick per 60 event seconds
    # (the engine's buckets stay within reach), every other due boundary skipped and
    # counted; then every boundary ticks; the present (200 s) ticks last
    assert c.ticks_skipped >= 50  # the ~2 000 oldest events span ~83 event seconds
    assert c.ticks + c.ticks_skipped == released
    assert state.last_tick_ns == T0 + 200 * NS_PER_S
    assert c.tick_errors == 0
    assert 0 <= state.tick_drift_s < 2.0
    # caught up (processing what was just received): every boundary ticks, drift bounded
    skipped = c.ticks_skipped
    feed(runner, 5, start_s=201, recv_ns=wall.ns)
    assert c.ticks_skipped == skipped
    assert state.last_tick_ns == T0 + 205 * NS_PER_S
    assert 0 <= state.tick_drift_s < 2.0


def test_behind_its_newest_frame_without_a_backlog_is_not_shed() -> None:
    """A max-speed replay the runner drains (``RouteMerge`` holding one route for seconds,
    as in the parity test) is behind its newest frame but has no backlog: it ticks every
    boundary, as offline replay does."""
    wall = Wall()
    runner, state = make(wall, bound=1_000_000, max_tick_lag_s=2.0)
    wall.ns = T0 + 300 * NS_PER_S
    receive(runner, 200, start_s=0, recv_ns=T0 + NS_PER_S)
    runner.on_frame(frames(1, start_ms=(T0 + 200 * NS_PER_S) // 1_000_000)[0], wall.ns)
    while len(runner.queue):
        runner.process(runner.queue.get_nowait_batch(500))
    assert state.counters.ticks == 200
    assert state.counters.ticks_skipped == 0


def test_a_burst_of_released_boundaries_is_cut_after_the_wall_clock_budget() -> None:
    """Back from an outage, a replay's next event lies 10 minutes of event time past the
    last tick. Ticking all 597 boundaries blocks the loop: once the burst's ticks took
    ``max_tick_lag_s`` (each costs 0.5 s here), the rest are shed but one per 60 event
    seconds and the present."""
    wall = Wall()
    runner, state = make(wall, max_tick_lag_s=2.0, catch_up_tick_s=60)
    feed(runner, 5, start_s=0, recv_ns=wall.ns)
    assert state.counters.ticks == 4

    def slow_tick(_: object) -> None:
        wall.ns += NS_PER_S // 2

    runner.tick_listeners.append(slow_tick)
    feed(runner, 2, start_s=600, recv_ns=wall.ns)
    c = state.counters
    # the 600 s event releases 5 s … 600 s: 5 s … 9 s within the budget, catch-ups at
    # 69 s, 129 s … 549 s, and 600 s (its last); the 601 s event releases 601 s
    assert c.ticks == 4 + 5 + 9 + 1 + 1
    assert c.ticks + c.ticks_skipped == 4 + 597
    assert state.last_tick_ns == T0 + 601 * NS_PER_S


def test_without_shedding_the_same_runner_ticks_every_second_minutes_late() -> None:
    wall = Wall()
    runner, state = make(wall, max_tick_lag_s=None)
    drifts: list[float] = []
    runner.tick_listeners.append(lambda _: drifts.append(state.tick_drift_s))
    wall.ns = T0 + 300 * NS_PER_S
    receive(runner, 200, start_s=0, recv_ns=T0 + NS_PER_S)
    runner.on_frame(frames(1, start_ms=(T0 + 200 * NS_PER_S) // 1_000_000)[0], wall.ns)
    while len(runner.queue):
        runner.process(runner.queue.get_nowait_batch(500))
    assert state.counters.ticks == 200
    assert state.counters.ticks_skipped == 0
    assert max(drifts) > 290  # minutes behind: what the overload soak saw before shedding


def test_a_runner_keeping_up_never_skips() -> None:
    """Fast replay is not falling behind: event time racing ahead of wall time (a max-speed
    replay processed as it arrives) ticks every boundary (the parity tests rely on it)."""
    wall = Wall()
    runner, state = make(wall, max_tick_lag_s=2.0)
    for second in range(0, 200, 10):  # 10 event seconds per wall 50 ms
        wall.ns += 50_000_000
        feed(runner, 10, start_s=second, recv_ns=wall.ns)
    assert state.counters.ticks == 199
    assert state.counters.ticks_skipped == 0
    assert abs(state.tick_drift_s) < 1.0


def summary_with(counters: Mapping[str, object], metrics: dict[str, float]) -> SoakSummary:
    return summarize(
        profile="overload",
        duration_s=60.0,
        warmup_s=10.0,
        samples=[],
        final_metrics=metrics,
        exchange_stats={"counters": counters},
        gaps=[],
        log_text="",
        crashes=0,
        now_ns=T0,
    )


def test_the_summary_reconciles_injected_malformed_frames() -> None:
    metrics = {
        "csx_ws_frames_received_total": 9_000.0,
        "csx_frames_malformed_total": 410.0,
        "csx_ticks_skipped_total": 77.0,
    }
    counters = {"frames_sent": 9_400, "malformed_injected": 480, "oversized_injected": 20}
    s = summary_with(counters, metrics)
    assert s.malformed_injected == 500
    assert s.frames_malformed == 410
    assert s.malformed_undelivered == 90  # injected, never decoded: cut with their link
    assert s.frames_sent == 9_400
    assert s.frames_lost_in_transit == 400
    assert s.ticks_skipped == 77
    assert s.malformed_discarded == 0
    assert s.value("malformed_unaccounted") == 90  # the exchange does not say where they went
    # an exchange that counts what it discarded unsent closes the ledger
    s = summary_with({**counters, "malformed_discarded": 90}, metrics)
    assert s.value("malformed_unaccounted") == 0
    assert s.malformed_injected == s.frames_malformed + s.malformed_discarded
    # the exchange's own ledger: injected = handed to the kernel + discarded unsent
    assert s.value("malformed_ledger_error") == 0  # not reported: nothing to judge
    s = summary_with({**counters, "malformed_discarded": 90, "malformed_sent": 400}, metrics)
    assert s.value("malformed_ledger_error") == 10
    s = summary_with({**counters, "malformed_discarded": 90, "malformed_sent": 410}, metrics)
    assert s.value("malformed_ledger_error") == 0
    # frames still queued in the exchange when its stats were read are in the ledger too
    queued = {"malformed_discarded": 90, "malformed_sent": 400, "malformed_queued": 10}
    assert summary_with({**counters, **queued}, metrics).value("malformed_ledger_error") == 0
    # ... and are not lost: a run that ends with the exchange frozen leaves some queued
    frozen = {"malformed_discarded": 80, "malformed_sent": 410, "malformed_queued": 10}
    s = summary_with({**counters, **frozen}, metrics)
    assert s.value("malformed_ledger_error") == 0
    assert s.value("malformed_unaccounted") == 0


def test_summaries_without_the_new_fields_still_load() -> None:
    s = summary_with({}, {})
    raw = s.to_json()
    old = raw.replace(b',"ticks_skipped":0', b"")
    assert type(s).from_json(old).ticks_skipped == 0


def test_overload_thresholds_bound_tick_drift_and_reconnects() -> None:
    thresholds = load_thresholds(REPO_ROOT / "monitoring" / "soak_thresholds.yml", "overload")
    by_name = {t.measure: t for t in thresholds}
    drift = by_name["tick_drift_p99_ms"].maximum
    assert drift is not None
    assert drift <= 5_000
    assert by_name["outages_without_gap_entry"].maximum == 0
    # every measure named is one the summary knows
    check_summary(summary_with({}, {}), thresholds)


@pytest.mark.parametrize("path", [Path("monitoring/soak_thresholds.yml")])
def test_threshold_file_parses_for_both_profiles(path: Path) -> None:
    for profile in ("baseline", "overload"):
        assert load_thresholds(REPO_ROOT / path, profile)


def test_a_gap_in_event_time_ticks_every_boundary_it_releases() -> None:
    """Parity: a feed quiet for 10 minutes of event time (or a replay back from an outage)
    releases 600 boundaries with one event. A runner that keeps up ticks all of them, as
    offline replay does; shedding them would make live and offline digests differ."""
    wall = Wall()
    runner, state = make(wall)
    assert runner.config.max_tick_lag_s == 2.0  # shedding is on by default
    feed(runner, 5, start_s=0, recv_ns=wall.ns)
    assert state.counters.ticks == 4
    wall.ns += NS_PER_S
    feed(runner, 2, start_s=600, recv_ns=wall.ns)
    c = state.counters
    assert c.ticks_skipped == 0
    assert c.ticks == 4 + 597  # 5 s … 601 s
    assert state.last_tick_ns == T0 + 601 * NS_PER_S


@pytest.mark.parametrize(("value", "expected"), [("3.5", 3.5), ("0", 0.0)])
def test_max_tick_lag_is_a_live_setting(value: str, expected: float) -> None:
    settings = load_settings(env={"CSX_MAX_TICK_LAG_S": value})
    assert settings.max_tick_lag_s == expected
    assert load_settings().max_tick_lag_s == RunnerConfig().max_tick_lag_s


@pytest.mark.parametrize("value", ["-1", "inf", "nan", "soon"])
def test_a_bad_max_tick_lag_fails_naming_the_field(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"CSX_MAX_TICK_LAG_S": value})
    assert info.value.field == "max_tick_lag_s"
    assert "max_tick_lag_s" in str(info.value)
