"""What the dashboard shows, as typed structs encoded once per tick for every open page."""

from __future__ import annotations

import msgspec

from csx_live.dashboard.candles import Candle


class ReasonTag(msgspec.Struct, frozen=True):
    code: str
    label: str


class ExplanationFor(msgspec.Struct, frozen=True, kw_only=True):
    """The tick and numbers an explanation was written for, and whether it still matches
    its row (``csx_core.explain.binding``); ``age_s`` is the row's tick minus ``ts_ms``."""

    ts_ms: int
    age_s: float
    p_inplay: float
    direction: str
    backtest_net_edge_bps: float | None = None
    source: str
    current: bool


class RankRow(msgspec.Struct, frozen=True, kw_only=True):
    """``backtest_net_edge_bps`` None is shown as "unknown"; ``direction`` "EITHER" as
    "either way". ``explanation`` holds the text only while it matches this row at this
    tick; otherwise the latest text is ``explanation_older``, shown with its age and the
    numbers in ``explanation_for``."""

    rank: int
    symbol: str
    p_inplay: float
    direction: str
    direction_confidence: float | None = None
    backtest_net_edge_bps: float | None = None
    reasons: tuple[ReasonTag, ...]
    explanation: str | None = None
    explanation_source: str | None = None
    explanation_older: str | None = None
    explanation_for: ExplanationFor | None = None
    time_in_top_s: float
    spark_p: tuple[float, ...] = ()
    spark_px: tuple[float, ...] = ()


class AlertOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What an alert realised at t+H (``csx_core.outcomes.promise``): ``net_bps`` None and
    ``hit`` None when the outcome is unknown (e.g. a stop needed the price path)."""

    hit: bool | None = None
    net_bps: float | None = None


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    """``outcome`` None: not resolved (yet), or no called direction (not a trade)."""

    ts_ms: int
    symbol: str
    p_inplay: float
    direction: str
    backtest_net_edge_bps: float | None = None
    reasons: tuple[ReasonTag, ...]
    outcome: AlertOutcome | None = None


class AlertHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Every alert the tracker still holds, newest first; ``horizon_s`` is H (None until a
    model with a label definition resolves outcomes), after which an alert resolves."""

    alerts: tuple[AlertRow, ...]
    horizon_s: float | None = None


class OutcomeRow(msgspec.Struct, frozen=True, kw_only=True):
    """One role's live resolved metrics (``champion`` or the shadow ``challenger``) over the
    rolling window; None while nothing has resolved."""

    role: str
    model_id: str
    brier: float | None = None
    ece: float | None = None
    topk_hit_rate: float | None = None
    resolved_total: int = 0


class Promise(msgspec.Struct, frozen=True, kw_only=True):
    """What the backtest promised for alerts (None pieces: unknown)."""

    hit_rate: float | None = None
    hit_rate_ci: tuple[float, float] | None = None
    net_bps: float | None = None
    net_bps_ci: tuple[float, float] | None = None
    source: str = ""


class Realised(msgspec.Struct, frozen=True, kw_only=True):
    """What resolved live alerts did so far; ``diverged``: outside the promise."""

    n: int = 0
    hit_rate: float | None = None
    net_bps: float | None = None
    diverged: bool = False


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
    warm_symbols: int | None = None
    scored_universe: int | None = None
    promise: Promise | None = None
    realised: Realised | None = None


class DashboardView(msgspec.Struct, frozen=True, kw_only=True):
    """One tick's worth of dashboard state; ``ts_ms`` is the tick's event time."""

    ts_ms: int
    ranks: tuple[RankRow, ...]
    alerts: tuple[AlertRow, ...]
    health: HealthStrip
    universe_size: int = 0


class SymbolDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's drill-down: its candles in ``timeframe`` (oldest first), its alerts
    (newest first) and its row while it is ranked (None outside the top)."""

    symbol: str
    timeframe: str
    ts_ms: int
    candles: tuple[Candle, ...]
    alerts: tuple[AlertRow, ...]
    row: RankRow | None = None
