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


class OutcomeRow(msgspec.Struct, frozen=True, kw_only=True):
    """One role's live resolved metrics (``champion`` or the shadow ``challenger``) over the
    rolling window; None while nothing has resolved."""

    role: str
    model_id: str
    brier: float | None = None
    ece: float | None = None
    topk_hit_rate: float | None = None
    resolved_total: int = 0


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
    live_outcomes: tuple[OutcomeRow, ...] = ()


class DashboardView(msgspec.Struct, frozen=True, kw_only=True):
    """One tick's worth of dashboard state; ``ts_ms`` is the tick's event time."""

    ts_ms: int
    ranks: tuple[RankRow, ...]
    alerts: tuple[AlertRow, ...]
    health: HealthStrip
    universe_size: int = 0
