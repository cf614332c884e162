"""What the dashboard shows, as typed structs encoded once per tick for every open page."""

from __future__ import annotations

import msgspec


class ReasonTag(msgspec.Struct, frozen=True):
    code: str
    label: str


class RankRow(msgspec.Struct, frozen=True, kw_only=True):
    rank: int
    symbol: str
    p_inplay: float
    direction: str
    expected_net_edge_bps: float
    reasons: tuple[ReasonTag, ...]
    explanation: str | None = None
    explanation_source: str | None = None
    time_in_top_s: float
    spark_p: tuple[float, ...] = ()
    spark_px: tuple[float, ...] = ()


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    ts_ms: int
    symbol: str
    p_inplay: float
    direction: str
    reasons: tuple[ReasonTag, ...]


class HealthStrip(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    not_ready_reasons: tuple[str, ...] = ()
    connections: int
    frames_per_s: float
    dropped_total: int
    malformed_total: int
    tick_p99_ms: float
    model_version: str | None = None
    model_alias: str | None = None
    data_age_s: float | None = None
    warming_up: bool = False
    feed_stale: bool = False


class DashboardView(msgspec.Struct, frozen=True, kw_only=True):
    """One tick's worth of dashboard state; ``ts_ms`` is the tick's event time."""

    ts_ms: int
    ranks: tuple[RankRow, ...]
    alerts: tuple[AlertRow, ...]
    health: HealthStrip
    universe_size: int = 0
