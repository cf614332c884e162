"""Turn what a soak observed into a ``SoakSummary`` (pure: no clocks, no I/O).

Inputs: periodic samples of the runner's ``/metrics``, ``/readyz`` and RSS; the exchange's
admin stats (injected-fault counters and its outage log, wall-clock ns); the runner's gap
ledger (``/api/gaps``, wall-clock ns); the runner's log text; whether the runner crashed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from csx_core.soak import SoakSummary

NS = 1_000_000_000
MATCH_SLACK_NS = 2 * NS
"""A gap matches an outage when it overlaps the outage window widened by this much."""


@dataclass(frozen=True)
class Sample:
    """One observation ``t_s`` seconds into the run (``None``: not answered)."""

    t_s: float
    wall_ns: int
    metrics: Mapping[str, float]
    ready: bool | None
    rss_mib: float | None


def parse_prometheus(text: str) -> dict[str, float]:
    """``{"name{labels}": value}`` of a Prometheus text exposition (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass(frozen=True)
class Outage:
    """An injected outage: from ``start_ns``, the exchange unavailable for ``length_ns``."""

    kind: str
    start_ns: int
    length_ns: int

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.length_ns


def injected_outages(exchange_outages: Sequence[Mapping[str, Any]]) -> list[Outage]:
    """Drops that cut at least one connection, and stalls, from the exchange's outage log."""
    found = []
    for entry in exchange_outages:
        kind = entry.get("kind")
        if kind == "drop" and int(entry.get("connections", 0)) > 0:
            found.append(Outage("drop", int(entry["wall_ns"]), 0))
        elif kind == "stall":
            length = int(float(entry.get("duration_s", 0.0)) * NS)
            found.append(Outage("stall", int(entry["wall_ns"]), length))
    return found


def _overlaps(gap: Mapping[str, Any], outage: Outage, end_default_ns: int) -> bool:
    start = int(gap["start_ns"])
    end = int(gap["end_ns"]) if gap.get("end_ns") is not None else end_default_ns
    return start <= outage.end_ns + MATCH_SLACK_NS and end >= outage.start_ns - MATCH_SLACK_NS


def match_gaps(
    outages: Sequence[Outage], gaps: Sequence[Mapping[str, Any]], now_ns: int
) -> tuple[int, list[float]]:
    """(outages with no overlapping gap entry, reconnect times in s). A closed gap's
    reconnect time runs from when the exchange was available again (the drop, or the end of
    the stall) to the first frame after it; gaps matching no outage count whole."""
    missing = sum(1 for o in outages if not any(_overlaps(g, o, now_ns) for g in gaps))
    times = []
    for gap in gaps:
        if gap.get("end_ns") is None:
            continue
        end = int(gap["end_ns"])
        available = int(gap["start_ns"])
        for outage in outages:
            if _overlaps(gap, outage, now_ns):
                available = max(available, outage.end_ns)
        times.append(max(0, end - available) / NS)
    return missing, times


def tick_drifts_ms(
    samples: Sequence[Sample],
    warmup_s: float,
    outages: Sequence[Outage],
    gaps: Sequence[Mapping[str, Any]],
    now_ns: int,
) -> list[float]:
    """|tick drift| in ms of the samples after warm-up and outside every outage (from the
    injected outage's start to the end of the gaps it caused, plus ``MATCH_SLACK_NS``): while
    the feed is down the runner fires ticks ``tick_fallback_s`` late on purpose, which is
    measured by the reconnect times, not by the tick drift."""
    windows = []
    for outage in outages:
        end = outage.end_ns
        for gap in gaps:
            if _overlaps(gap, outage, now_ns):
                end = max(end, int(gap["end_ns"]) if gap.get("end_ns") is not None else now_ns)
        windows.append((outage.start_ns - MATCH_SLACK_NS, end + MATCH_SLACK_NS))
    return [
        abs(s.metrics["csx_tick_drift_seconds"]) * 1000
        for s in samples
        if s.t_s >= warmup_s
        and "csx_tick_drift_seconds" in s.metrics
        and not any(lo <= s.wall_ns <= hi for lo, hi in windows)
    ]


def count_unhandled(log_text: str) -> int:
    """Error records with a traceback in the runner's JSON log, plus raw tracebacks (stderr
    output that bypassed logging)."""
    count = 0
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            count += line.startswith("Traceback (most recent call last)")
            continue
        if not isinstance(record, dict):
            continue
        level = str(record.get("level", "")).upper()
        if level in ("ERROR", "CRITICAL") and "Traceback" in str(record.get("exc", "")):
            count += 1
    return count


def readiness_flaps(samples: Sequence[Sample]) -> int:
    """Ready → not ready transitions after the runner first became ready."""
    flaps = 0
    previous: bool | None = None
    for s in samples:
        if s.ready is None:
            continue
        if previous and not s.ready:
            flaps += 1
        previous = s.ready
    return flaps


def summarize(
    *,
    profile: str,
    duration_s: float,
    warmup_s: float,
    samples: Sequence[Sample],
    final_metrics: Mapping[str, float],
    exchange_stats: Mapping[str, Any],
    gaps: Sequence[Mapping[str, Any]],
    log_text: str,
    crashes: int,
    now_ns: int,
) -> SoakSummary:
    """The summary. ``rss_start_mib`` is the first RSS sample after ``warmup_s`` (model
    loaded, feature state filled), so growth measures the steady state, not start-up."""
    m = final_metrics
    counters = exchange_stats.get("counters", {})
    outages = injected_outages(counters.get("outages", []))
    missing, reconnect_times = match_gaps(outages, gaps, now_ns)
    rss = [(s.t_s, s.rss_mib) for s in samples if s.rss_mib is not None]
    steady = [v for t, v in rss if t >= warmup_s] or [v for _, v in rss] or [0.0]
    drifts = tick_drifts_ms(samples, warmup_s, outages, gaps, now_ns)
    depth_max = max(
        [m.get("csx_queue_high_water", 0.0)]
        + [s.metrics.get("csx_queue_depth", 0.0) for s in samples]
    )
    frames_in = int(m.get("csx_ws_frames_received_total", 0))
    frames_malformed = int(m.get("csx_frames_malformed_total", 0))
    malformed_injected = int(counters.get("malformed_injected", 0)) + int(
        counters.get("oversized_injected", 0)
    )
    frames_sent = int(counters.get("frames_sent", 0))
    return SoakSummary(
        profile=profile,
        duration_s=round(duration_s, 3),
        frames_in=frames_in,
        frames_dropped=int(m.get("csx_queue_dropped_total", 0)),
        frames_malformed=frames_malformed,
        malformed_injected=malformed_injected,
        reconnects=int(m.get("csx_ws_reconnects_total", 0)),
        reconnect_time_p50_s=round(percentile(reconnect_times, 50), 3),
        reconnect_time_p99_s=round(percentile(reconnect_times, 99), 3),
        readiness_flaps=readiness_flaps(samples),
        gap_ledger_entries=len(gaps),
        injected_outages=len(outages),
        outages_without_gap_entry=missing,
        tick_drift_p99_ms=round(percentile(drifts, 99), 3),
        queue_depth_max=int(depth_max),
        queue_capacity=int(m.get("csx_queue_capacity", 0)),
        rss_start_mib=round(steady[0], 2),
        rss_max_mib=round(max(v for _, v in rss) if rss else 0.0, 2),
        rss_end_mib=round(steady[-1], 2),
        crashes=crashes,
        unhandled_exceptions=count_unhandled(log_text),
        ticks_skipped=int(m.get("csx_ticks_skipped_total", 0)),
        frames_sent=frames_sent,
        frames_lost_in_transit=max(0, frames_sent - frames_in) if frames_sent else 0,
        malformed_undelivered=max(0, malformed_injected - frames_malformed),
        malformed_discarded=int(counters.get("malformed_discarded", 0)),
        malformed_sent=int(counters.get("malformed_sent", 0)),
        malformed_queued=int(counters.get("malformed_queued", 0)),
    )
