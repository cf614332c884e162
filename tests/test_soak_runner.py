"""The soak runner: schedule scaling, the pure measures behind the summary, the CLI's
argument forms, and (slow) a real soak of ``csx live`` against ``csx exchange``."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import pytest

from csx_core.cli import main
from csx_core.soak import check_summary, format_results, load_thresholds
from csx_core.soak.summary import SoakSummary
from csx_core.soak.thresholds import ThresholdResult
from csx_live.commands.soak import COMMAND
from csx_live.soak import Sample, build_plan, parse_prometheus, run_soak, summarize
from csx_live.soak.measures import (
    count_unhandled,
    injected_outages,
    match_gaps,
    percentile,
    readiness_flaps,
)
from tests.conftest import REPO_ROOT

NS = 1_000_000_000
T0 = 1_795_000_000 * NS
THRESHOLDS = REPO_ROOT / "monitoring" / "soak_thresholds.yml"


@pytest.mark.parametrize("minutes", [0.5, 2, 30])
def test_every_fault_kind_is_scheduled_inside_the_run(minutes: float) -> None:
    plan = build_plan(minutes * 60)
    names = {s.name for s in plan.steps}
    assert {"drop", "stall", "slow_reads", "rest_5xx", "rest_429_storm", "rest_418_ban"} <= names
    assert all(plan.warmup_s <= s.at_s < plan.duration_s for s in plan.steps)
    assert plan.stale_stream_s < plan.stall_s
    assert plan.rollover_after_s < plan.max_lifetime_s
    assert plan.initial_faults["malformed_rate"] == 0.05
    storm = next(s for s in plan.steps if s.name == "rest_429_storm")
    ban = next(s for s in plan.steps if s.name == "rest_418_ban")
    assert ban.at_s > storm.at_s


def test_the_full_length_run_gets_the_full_schedule() -> None:
    plan = build_plan(1800)
    assert plan.stall_s == 20
    drops = [s.at_s for s in plan.steps if s.name == "drop"]
    assert len(drops) >= 25
    assert {round(b - a, 6) for a, b in itertools.pairwise(drops)} == {60.0}
    assert sum(s.name == "stall" for s in plan.steps) == 6


@pytest.mark.parametrize(("seconds", "profile"), [(10, "baseline"), (120, "chaos")])
def test_bad_plans_are_refused(seconds: float, profile: str) -> None:
    with pytest.raises(ValueError, match=r"at least|unknown soak profile"):
        build_plan(seconds, profile=profile)


def test_prometheus_text_parses_with_labels() -> None:
    text = (
        "# HELP csx_x help\n# TYPE csx_x counter\ncsx_x_total 12.0\n"
        'csx_rest_rate_limited_total{status="429"} 3.0\ncsx_queue_depth 1e+02\n'
    )
    assert parse_prometheus(text) == {
        "csx_x_total": 12.0,
        'csx_rest_rate_limited_total{status="429"}': 3.0,
        "csx_queue_depth": 100.0,
    }


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0


def gap(start_s: float, end_s: float | None) -> dict[str, object]:
    return {
        "shard_id": "s",
        "streams": ["btcusdt@aggTrade"],
        "start_ns": T0 + int(start_s * NS),
        "end_ns": None if end_s is None else T0 + int(end_s * NS),
        "reason": "closed",
    }


EXCHANGE_OUTAGES = [
    {"kind": "drop", "wall_ns": T0 + 10 * NS, "connections": 2, "streams": 20},
    {"kind": "drop", "wall_ns": T0 + 20 * NS, "connections": 0, "streams": 0},
    {"kind": "stall", "wall_ns": T0 + 30 * NS, "duration_s": 8.0},
    {"kind": "drop", "wall_ns": T0 + 50 * NS, "connections": 2, "streams": 20},
]


def test_outages_match_gaps_and_reconnect_time_starts_when_the_exchange_is_back() -> None:
    outages = injected_outages(EXCHANGE_OUTAGES)
    assert [o.kind for o in outages] == ["drop", "stall", "drop"]  # no-op drop ignored
    gaps = [gap(10.0, 10.4), gap(29.9, 39.0)]  # the stall ends at 38 s
    missing, times = match_gaps(outages, gaps, T0 + 60 * NS)
    assert missing == 1  # the drop at 50 s left no gap entry
    assert times == pytest.approx([0.4, 1.0])


def test_readiness_flaps_count_ready_to_not_ready_after_first_ready() -> None:
    states = [None, False, False, True, True, False, None, True, False, False, True]
    samples = [Sample(float(i), T0, {}, r, 100.0) for i, r in enumerate(states)]
    assert readiness_flaps(samples) == 2


def test_unhandled_exceptions_are_error_records_with_tracebacks() -> None:
    lines = [
        {"level": "ERROR", "msg": "tick failed", "exc": "Traceback (most recent call last):\n.."},
        {"level": "WARNING", "msg": "x", "exc": "Traceback (most recent call last):\n.."},
        {"level": "ERROR", "msg": "no model"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nTraceback (most recent call last):\n"
    assert count_unhandled(text) == 2


def test_summary_from_observations() -> None:
    samples = [
        Sample(
            float(t),
            T0 + t * NS,
            {"csx_tick_drift_seconds": 0.002 if t != 31 else 2.0, "csx_queue_depth": t},
            t > 3,
            200.0 + t / 10,
        )
        for t in range(60)
    ]
    final = {
        "csx_ws_frames_received_total": 5000.0,
        "csx_queue_dropped_total": 0.0,
        "csx_frames_malformed_total": 250.0,
        "csx_ws_reconnects_total": 6.0,
        "csx_queue_high_water": 80.0,
        "csx_queue_capacity": 1000.0,
    }
    stats = {
        "counters": {
            "malformed_injected": 249,
            "oversized_injected": 1,
            "outages": EXCHANGE_OUTAGES,
        }
    }
    summary = summarize(
        profile="baseline",
        duration_s=60.0,
        warmup_s=10.0,
        samples=samples,
        final_metrics=final,
        exchange_stats=stats,
        gaps=[gap(10.0, 10.4), gap(29.9, 39.0), gap(50.0, 50.2)],
        log_text="",
        crashes=0,
        now_ns=T0 + 60 * NS,
    )
    assert summary.frames_in == 5000
    assert summary.frames_malformed == 250
    assert summary.malformed_injected == 250
    assert summary.injected_outages == 3
    assert summary.outages_without_gap_entry == 0
    assert summary.reconnect_time_p99_s == pytest.approx(1.0)
    assert summary.tick_drift_p99_ms == pytest.approx(2.0)  # the 2 s tick was in the stall
    assert summary.queue_depth_max == 80
    assert summary.rss_start_mib == pytest.approx(201.0)
    assert summary.rss_end_mib == pytest.approx(205.9)
    assert summary.readiness_flaps == 0


def test_cli_rejects_a_too_short_soak(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["soak", "--minutes", "0.1"])
    assert exc.value.code == 2
    assert "at least" in capsys.readouterr().err


def _failure(results: list[ThresholdResult], summary: SoakSummary, data_dir: Path) -> str:
    """The thresholds table plus every raw field (a CI run's temporary files are gone by
    the time anyone reads its log) and where the record and logs were."""
    return f"{format_results(results)}\n{summary.to_json().decode()}\nrecord: {data_dir}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_short_soak_passes_the_baseline_thresholds(tmp_path: Path) -> None:
    summary = run_soak(data_dir=tmp_path, minutes=1.25, profile="baseline")
    results = check_summary(summary, load_thresholds(THRESHOLDS, "baseline"))
    assert all(r.passed for r in results), _failure(results, summary, tmp_path)
    assert summary.injected_outages >= 3
    assert summary.gap_ledger_entries >= summary.injected_outages
    assert summary.malformed_injected > 0
    assert (
        0.8 * summary.malformed_injected <= summary.frames_malformed <= summary.malformed_injected
    )
    assert SoakSummary.from_json((tmp_path / "soak_summary.json").read_bytes()) == summary
    record = json.loads((tmp_path / "soak_record.json").read_text())
    assert all(step["status"] == 200 for step in record["fired"])
    counters = record["exchange_stats"]["counters"]
    assert counters["rest_429"] > 0
    assert counters["rest_418"] > 0
    assert record["final_metrics"]["csx_ws_rollovers_total"] > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_short_overload_soak_holds_every_overload_threshold(tmp_path: Path) -> None:
    """Replay at max speed under the full fault schedule: every threshold of the overload
    profile holds (tick drift, reconnect p99, every outage in the gap ledger, every injected
    bad frame decoded by the runner or reported discarded or queued by the exchange), and
    the runner sheds ticks (counted) instead of ticking every second late."""
    summary = run_soak(data_dir=tmp_path, minutes=1.5, profile="overload")
    results = check_summary(summary, load_thresholds(THRESHOLDS, "overload"))
    assert all(r.passed for r in results), _failure(results, summary, tmp_path)
    assert summary.ticks_skipped > 0
    assert summary.injected_outages >= 3
    assert summary.gap_ledger_entries >= summary.injected_outages
    assert summary.malformed_injected > 0
    # the exchange's ledger is exact, and what it handed to the kernel the runner decoded:
    # the exchange's buffers are small, a rollover reads the old link to its close frame
    # and the run ends with the exchange frozen while the runner drains its sockets
    assert summary.malformed_injected == (
        summary.malformed_sent + summary.malformed_discarded + summary.malformed_queued
    )
    assert summary.frames_malformed == summary.malformed_sent
    record = json.loads((tmp_path / "soak_record.json").read_text())
    # /metrics answered at least once every 5 s (the sampler's timeout) all run long
    times = [s["t_s"] for s in record["samples"]]
    assert max(b - a for a, b in itertools.pairwise(times)) < 5.0
    assert all(s["ready"] is not None for s in record["samples"])


def soak_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csx soak")
    COMMAND.configure(parser)
    return parser


def test_run_is_the_default_action() -> None:
    plain = soak_parser().parse_args(["--minutes", "3", "--profile", "overload"])
    explicit = soak_parser().parse_args(["run", "--minutes", "3", "--profile", "overload"])
    assert plain.action is None
    assert explicit.action == "run"
    assert vars(plain) | {"action": "run"} == vars(explicit)
    before = soak_parser().parse_args(["--minutes", "3", "run"])
    assert before.minutes == 3


def test_check_keeps_its_arguments(tmp_path: Path) -> None:
    args = soak_parser().parse_args(["check", str(tmp_path / "s.json")])
    assert args.action == "check"
    assert args.profile is None
    assert args.summary == tmp_path / "s.json"
