"""``run_soak``: the fake exchange replaying a market under a fault schedule, the live runner
against it, sampled every second; the result is a ``SoakSummary`` (and its JSON file)."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csx_core.soak import SoakSummary
from csx_live.soak.fixtures import ensure_market, ensure_model
from csx_live.soak.measures import Sample, parse_prometheus, summarize
from csx_live.soak.processes import (
    Managed,
    http_get,
    http_post_json,
    rss_mib,
    start_exchange,
    start_live,
)
from csx_live.soak.schedule import SoakPlan, build_plan

log = logging.getLogger(__name__)
SAMPLE_EVERY_S = 1.0
TRACKED = (
    "csx_tick_drift_seconds",
    "csx_queue_depth",
    "csx_ws_frames_received_total",
    "csx_ws_connections",
    "csx_gaps_open",
)
"""Metrics kept per sample in ``soak_record.json`` (the summary keeps only aggregates)."""
QUIESCE_S = 1.5
"""At the end of a run the exchange's writers are frozen (a stall, left out of the injected
outages) and the runner gets this long to read what is still in the kernel buffers before
both are asked for their counts, so the exchange's ``frames_sent`` and the runner's
``frames_in`` count the same frames (shorter than the plan's stale-stream watchdog, 2 s at
least, so the runner does not close its links meanwhile)."""
QUIESCE_STALL_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SoakRecord:
    """Everything observed, kept for the summary and written beside it for debugging."""

    samples: list[Sample] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)
    final_metrics: dict[str, float] = field(default_factory=dict)
    exchange_stats: dict[str, Any] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    crashes: int = 0
    crash_detail: str = ""


def live_env(plan: SoakPlan) -> dict[str, str]:
    """Runner settings the schedule relies on (see ``SoakPlan``)."""
    return {
        "CSX_PROFILE": "DEV",
        "CSX_STALE_STREAM_S": str(plan.stale_stream_s),
        "CSX_ROLLOVER_AFTER_S": str(plan.rollover_after_s),
        "CSX_UNIVERSE_REFRESH_S": str(plan.universe_refresh_s),
    }


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _get_with_retries(url: str, attempts: int = 3) -> tuple[int, bytes]:
    """The end-of-run reads matter most: retry a runner too busy to answer at once."""
    status, body = 0, b""
    for _ in range(attempts):
        status, body = http_get(url)
        if status == 200:
            break
        time.sleep(1.0)
    return status, body


def drive(
    plan: SoakPlan, live: Managed, exchange: Managed, live_url: str, admin_url: str
) -> SoakRecord:
    """Fire the schedule and sample until ``plan.duration_s`` has passed or a process dies
    (only the runner's death counts as a crash; the exchange's ends the run with a note)."""
    record = SoakRecord()
    steps = list(plan.steps)
    started = time.monotonic()
    next_sample = 0.0
    while (elapsed := time.monotonic() - started) < plan.duration_s:
        while steps and steps[0].at_s <= elapsed:
            step = steps.pop(0)
            status, answer = http_post_json(f"{admin_url}/_admin/faults", step.body)
            record.fired.append({"at_s": round(elapsed, 2), "name": step.name, "status": status})
            if status != 200:
                log.warning("fault %s refused: %s %s", step.name, status, answer)
        if live.exited() is not None:
            record.crashes = 1
            record.crash_detail = f"csx live exited with {live.exited()} at {elapsed:.1f} s"
            break
        if exchange.exited() is not None:
            record.crash_detail = f"csx exchange exited with {exchange.exited()} at {elapsed:.1f} s"
            break
        if elapsed >= next_sample:
            next_sample += SAMPLE_EVERY_S
            status, body = http_get(f"{live_url}/metrics")
            ready_status, _ = http_get(f"{live_url}/readyz")
            record.samples.append(
                Sample(
                    t_s=round(elapsed, 3),
                    wall_ns=time.time_ns(),
                    metrics=parse_prometheus(body.decode()) if status == 200 else {},
                    ready=None if ready_status == 0 else ready_status == 200,
                    rss_mib=rss_mib(live.pid),
                )
            )
        time.sleep(0.05)
    quiesced_ns = time.time_ns()
    if not record.crashes and exchange.exited() is None:
        http_post_json(f"{admin_url}/_admin/faults", {"stall_s": QUIESCE_STALL_S})
        time.sleep(QUIESCE_S)
    status, body = _get_with_retries(f"{live_url}/metrics")
    answered = [s.metrics for s in record.samples if s.metrics]
    if status == 200:
        record.final_metrics = parse_prometheus(body.decode())
    elif answered:  # a starved runner: its last answer is the best final figure there is
        record.final_metrics = dict(answered[-1])
        record.crash_detail += " final /metrics unanswered, using the last sample"
    gaps = _json(_get_with_retries(f"{live_url}/api/gaps")[1])
    record.gaps = list(gaps.get("gaps", [])) if isinstance(gaps, dict) else []
    stats = _json(http_get(f"{admin_url}/_admin/stats")[1])
    record.exchange_stats = stats if isinstance(stats, dict) else {}
    counters = record.exchange_stats.get("counters")
    if isinstance(counters, dict):  # the quiescing stall is no injected outage
        counters["outages"] = [
            o for o in counters.get("outages", []) if int(o.get("wall_ns", 0)) < quiesced_ns
        ]
    return record


def run_soak(
    *,
    data_dir: Path,
    minutes: float,
    profile: str = "baseline",
    store: Path | None = None,
    model_source: str | None = None,
    out: Path | None = None,
    seed: int = 0,
) -> SoakSummary:
    """Run one soak of ``minutes`` and return its summary (also written to ``out``, default
    ``data_dir/soak_summary.json``). ``data_dir`` holds the logs, the cached simulated market
    (unless ``store`` is given) and model package (unless ``model_source`` is given)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    plan = build_plan(minutes * 60.0, profile=profile)
    store = store or ensure_market(data_dir / "store")
    model = model_source or str(ensure_model(data_dir / "model"))
    speed = "max" if math.isinf(plan.speed) else f"{plan.speed:g}"
    exchange, admin_url = start_exchange(
        store, data_dir / "exchange.log", speed=speed, max_lifetime_s=plan.max_lifetime_s,
        seed=seed,
    )  # fmt: skip
    live: Managed | None = None
    try:
        status, answer = http_post_json(f"{admin_url}/_admin/faults", plan.initial_faults)
        if status != 200:
            raise RuntimeError(f"exchange refused the initial faults: {answer}")
        port = free_port()
        live_url = f"http://127.0.0.1:{port}"
        ws_url = admin_url.replace("http://", "ws://", 1)
        argv = [
            "--ws-url", ws_url, "--rest-url", admin_url, "--port", str(port),
            "--sink-dir", str(data_dir / "live"), "--model-source", model,
        ]  # fmt: skip
        live = start_live(argv, live_env(plan), data_dir / "live.log", live_url)
        record = drive(plan, live, exchange, live_url, admin_url)
        rc = live.stop()
        if not record.crashes and rc != 0:
            record.crashes = 1
            record.crash_detail = f"csx live exited with {rc} after SIGTERM"
    finally:
        if live is not None:
            live.stop()
        exchange.stop()
    summary = summarize(
        profile=profile,
        duration_s=record.samples[-1].t_s if record.samples else 0.0,
        warmup_s=plan.warmup_s,
        samples=record.samples,
        final_metrics=record.final_metrics,
        exchange_stats=record.exchange_stats,
        gaps=record.gaps,
        log_text=(data_dir / "live.log").read_text(errors="replace"),
        crashes=record.crashes,
        now_ns=time.time_ns(),
    )
    out = out or data_dir / "soak_summary.json"
    out.write_bytes(summary.to_json())
    write_record(data_dir / "soak_record.json", plan, record)
    return summary


def write_record(path: Path, plan: SoakPlan, record: SoakRecord) -> None:
    """The raw observations beside the summary: the schedule as fired, the exchange's stats,
    the gap ledger, the final metrics and a few metrics per sample (for a human reading a
    failed soak)."""
    path.write_text(
        json.dumps(
            {
                "plan": {k: v for k, v in vars(plan).items() if k != "steps"},
                "fired": record.fired,
                "crash_detail": record.crash_detail,
                "exchange_stats": record.exchange_stats,
                "gaps": record.gaps,
                "final_metrics": record.final_metrics,
                "samples": [
                    {
                        "t_s": s.t_s,
                        "ready": s.ready,
                        "rss_mib": s.rss_mib,
                        **{k: s.metrics.get(k) for k in TRACKED},
                    }
                    for s in record.samples
                ],
            },
            indent=1,
            default=str,
        )
    )
