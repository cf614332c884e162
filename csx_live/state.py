"""LiveState: what the runner knows now, read by the HTTP server, the metrics and the dashboard.

The runner is its only writer (one event loop, no locks); readers take plain values. Time
fields are integer nanoseconds: ``*_ns`` event/wall times since the epoch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class ModelInfo:
    """The scorer in use. ``verified``: its package manifest checked out (SHA-256)."""

    model_id: str
    version: str = ""
    alias: str = ""
    data_digest: str = ""
    source: str = ""
    verified: bool = False
    fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "version": self.version,
            "alias": self.alias,
            "data_digest": self.data_digest,
            "source": self.source,
            "verified": self.verified,
            "fallback": self.fallback,
        }


@dataclass
class IngestCounters:
    """Decoder-side counters: frames handed in, events produced, frames rejected."""

    frames: int = 0
    events: int = 0
    malformed: int = 0
    ignored: int = 0


@dataclass
class TickCounters:
    ticks: int = 0
    ticks_skipped: int = 0
    """Due boundaries not ticked because the runner was behind the feed (load shedding)."""
    tick_errors: int = 0
    rank_events: int = 0
    alerts: int = 0
    sink_errors: int = 0
    webhook_sent: int = 0
    webhook_failed: int = 0
    webhook_dropped: int = 0


@dataclass
class LiveState:
    """Shared runtime state. ``connected`` is injected by the composition root."""

    connected: Callable[[], bool] = lambda: False
    universe: tuple[str, ...] = ()
    model: ModelInfo | None = None
    model_error: str = ""
    prod_requires_verified: bool = False
    model_gate: tuple[bool, str] | None = None
    """The served champion's gate record (``model.champion_gate_record``): (ok, note); None
    when not checked (a package directory or pinned version). ``note`` is "" for a passing
    record, else why not, or that the version was force-promoted (an override, ok)."""
    last_tick_ns: int | None = None
    last_tick_wall_ns: int | None = None
    last_event_ns: int | None = None
    last_event_wall_ns: int | None = None
    tick_drift_s: float = 0.0
    last_tick_duration_s: float = 0.0
    scored_symbols: int = 0
    warm_symbols: int = 0
    """Symbols of the last tick whose features are warm (every window fully observed): only
    these are scored, ranked, alerted and explained; the model was trained on warm rows."""
    scored_universe: int = 0
    """Symbols of the last tick, warm or not."""
    min_warm_share: float = 0.0
    """Readiness waits until this share of the last tick's symbols is warm."""
    promise: dict[str, Any] | None = None
    """What the served package's backtest promises per alert (``csx_live.promise``)."""
    realised: dict[str, Any] | None = None
    """The last resolved alerts' realised hit rate and net bps against the promise."""
    ranks: list[dict[str, Any]] = field(default_factory=list)
    alerts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    ingest: IngestCounters = field(default_factory=IngestCounters)
    counters: TickCounters = field(default_factory=TickCounters)

    def data_age_s(self, now_wall_ns: int) -> float | None:
        """Seconds since the last market event was received (None before the first)."""
        if self.last_event_wall_ns is None:
            return None
        return max(0.0, (now_wall_ns - self.last_event_wall_ns) / NS_PER_S)

    def readiness(self, now_wall_ns: int, fresh_s: float) -> tuple[bool, list[str]]:
        """Ready only when connected, a model is loaded (verified in PROD, with a passing
        gate record in PROD when it came through an alias) and data is fresher than
        ``fresh_s``; otherwise the reasons, most fundamental first. The reasons may be
        non-empty while ready: a failing gate record in DEV, a forced promotion anywhere."""
        reasons: list[str] = []
        if not self.connected():
            reasons.append("not_connected")
        if self.model is None:
            reasons.append(f"model_not_loaded{': ' + self.model_error if self.model_error else ''}")
        elif self.prod_requires_verified and (not self.model.verified or self.model.fallback):
            reasons.append("model_not_verified")
        age = self.data_age_s(now_wall_ns)
        if age is None:
            reasons.append("no_data_yet")
        elif age > fresh_s:
            reasons.append(f"data_stale: {age:.1f} s > {fresh_s:.1f} s")
        if self.last_tick_ns is None:
            reasons.append("warming_up: no tick yet")
        elif (
            self.scored_universe and self.warm_symbols < self.min_warm_share * self.scored_universe
        ):
            reasons.append(
                f"warming up: {self.warm_symbols} of {self.scored_universe} symbols warm "
                f"(ready at {self.min_warm_share:.0%})"
            )
        # A champion alias moved around the gates blocks in PROD; DEV reports it and stays
        # ready, as it does a force-promoted champion (the operator's override) everywhere.
        blocking = bool(reasons)
        if self.model is not None and self.model_gate is not None and self.model_gate[1]:
            gate_ok, note = self.model_gate
            reasons.append(f"{'model_gate_override' if gate_ok else 'model_gate_failed'}: {note}")
            blocking = blocking or (not gate_ok and self.prod_requires_verified)
        return (not blocking, reasons)
