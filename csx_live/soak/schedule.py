"""The fault schedule of a soak: which fault the exchange injects when, scaled to the run.

A 30-minute run gets the full schedule (drops every 60 s, 20 s stalls every 5 min, a slow-read
window, a 429 storm followed by a 418 ban, a 5xx window, 5 % malformed and a few oversized
frames throughout, connection lifetimes short enough to force rollovers). Shorter runs keep
every fault kind but compress the spacing and shorten the stalls, never below what the
runner's stale-stream watchdog needs to notice them. Pure: times are seconds from the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

FULL_RUN_S = 1800.0


@dataclass(frozen=True)
class FaultStep:
    """At ``at_s`` seconds into the run, POST ``body`` to the exchange's ``/_admin/faults``."""

    at_s: float
    name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class SoakPlan:
    """The schedule plus the runner settings it relies on: the watchdog shorter than a stall,
    planned rollovers due between two drops and earlier than the exchange's connection
    lifetime (so a rollover that does not happen shows up as a lifetime close)."""

    duration_s: float
    warmup_s: float
    speed: float
    stall_s: float
    stale_stream_s: float
    rollover_after_s: float
    max_lifetime_s: float
    universe_refresh_s: float
    initial_faults: dict[str, Any]
    steps: tuple[FaultStep, ...] = field(default=())


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def build_plan(duration_s: float, *, profile: str = "baseline") -> SoakPlan:
    """The schedule for a run of ``duration_s`` seconds. ``baseline`` replays at the
    market's own rate (speed 1), ``overload`` as fast as the exchange can send (``inf``)."""
    if duration_s < 30:
        raise ValueError(f"a soak needs at least 30 s, got {duration_s}")
    if profile not in ("baseline", "overload"):
        raise ValueError(f"unknown soak profile {profile!r} (baseline, overload)")
    scale = min(1.0, duration_s / FULL_RUN_S)
    warmup = _clamp(0.12 * duration_s, 10.0, 30.0)
    stall = _clamp(20.0 * scale, 8.0, 20.0)
    stale = _clamp(stall / 4, 2.0, 5.0)
    drop_every = _clamp(duration_s / 6, 15.0, 60.0)
    rollover_after = _clamp(0.6 * drop_every, 9.0, 300.0)
    end = duration_s - 5.0
    steps: list[FaultStep] = []

    t = warmup
    while t < end - stall:
        steps.append(FaultStep(t, "drop", {"drop_now": True}))
        t += drop_every
    n_stalls = max(1, int(duration_s // 300))
    for i in range(n_stalls):
        at = warmup + (i + 0.5) * (end - warmup - stall) / n_stalls
        steps.append(FaultStep(at, "stall", {"stall_s": stall}))

    def window(start_frac: float, length_frac: float, name: str, on: dict[str, Any]) -> None:
        start = warmup + start_frac * (end - warmup)
        stop = start + length_frac * (end - warmup)
        off = {k: 0.0 for k in on}
        steps.append(FaultStep(start, name, on))
        steps.append(FaultStep(stop, f"{name}_end", off))

    window(0.15, 0.10, "slow_reads", {"slow_send_s": 0.002})
    window(0.45, 0.10, "rest_5xx", {"rest_5xx_rate": 0.5})
    storm = _clamp(0.05 * duration_s, 5.0, 60.0)
    storm_at = warmup + 0.65 * (end - warmup)
    steps.append(FaultStep(storm_at, "rest_429_storm", {"rest_429_storm_s": storm}))
    steps.append(FaultStep(storm_at + storm, "rest_418_ban", {"rest_ban_s": storm / 2}))
    return SoakPlan(
        duration_s=duration_s,
        warmup_s=warmup,
        speed=1.0 if profile == "baseline" else math.inf,
        stall_s=stall,
        stale_stream_s=stale,
        rollover_after_s=rollover_after,
        max_lifetime_s=rollover_after * 1.5,
        universe_refresh_s=_clamp(duration_s / 40, 2.0, 30.0),
        initial_faults={
            "malformed_rate": 0.05,
            "oversized_rate": 0.0005,
            "oversized_bytes": 2_000_000,
            "max_lifetime_s": rollover_after * 1.5,
        },
        steps=tuple(sorted(steps, key=lambda s: s.at_s)),
    )
