"""Feeds the dashboard (``csx_live.dashboard``) from the runner's ticks and live health.

A tick listener: each tick it samples health (connections, frames/s, drops, malformed, tick
p99 over the last 300 ticks, model, data age, readiness, how many symbols are warm, and the
backtest's promise for alerts next to what resolved alerts did) and asks the dashboard's tracker
for a new ``DashboardView`` (with the latest LLM explanation of each ranked symbol, when
explanations are wired) and champion vs challenger live Brier / ECE / top-K hit rate in the
health strip (when live outcomes are wired); the dashboard routes serve the latest one.

It also feeds the drill-down and the alert history (it is a ``DashboardHistory``): each tick
the 1-second price bucket, spread and 10 s volume of every ranked or alerted symbol (from
``LiveState.symbol_view``, the runner's last frame: top-K lookups, not the whole universe)
become candles, and the champion's resolved alerts (``LiveState.realised``, published from
``AlertBook.summary``) are joined to the alerts they resolve.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from csx_core.contracts.explain import LLMExplainOutput
from csx_core.features import FEATURE_INDEX, PRICE_COLUMNS
from csx_core.ml.scorer import known
from csx_live.connectors.stream import LinkStats
from csx_live.dashboard.candles import Bucket
from csx_live.dashboard.model import (
    AlertHistory,
    AlertOutcome,
    DashboardView,
    HealthStrip,
    OutcomeRow,
    Promise,
    Realised,
    SymbolDetail,
)
from csx_live.dashboard.tracker import AlertKey, DashboardTracker
from csx_live.runner import TickReport
from csx_live.state import NS_PER_S, LiveState

_PX_LAST, _PX_HIGH, _PX_LOW = (PRICE_COLUMNS.index(f"px_{n}") for n in ("last", "high", "low"))
_SPREAD, _QVOL_10S = FEATURE_INDEX["spread_bps"], FEATURE_INDEX["qvol_10s"]


class _Counted(Protocol):
    dropped: int


Explanations = Callable[[Iterable[str]], Mapping[str, LLMExplainOutput]]
"""The latest checked explanation of each of the given symbols (``LiveExplain``)."""

Outcomes = Callable[[], Mapping[str, Mapping[str, Any]]]
"""Per role, the live resolved metrics (``LiveOutcomes.summary``)."""


class DashboardFeed:
    def __init__(
        self,
        *,
        state: LiveState,
        link: LinkStats,
        queue: _Counted,
        connections: Callable[[], int],
        fresh_s: float,
        wall_ns: Callable[[], int] = time.time_ns,
        tracker: DashboardTracker | None = None,
        explanations: Explanations | None = None,
        outcomes: Outcomes | None = None,
    ) -> None:
        self._state = state
        self._link = link
        self._queue = queue
        self._connections = connections
        self._fresh_s = fresh_s
        self._wall_ns = wall_ns
        self._tracker = tracker or DashboardTracker()
        self.explanations = explanations
        self.outcomes = outcomes
        self._durations: deque[float] = deque(maxlen=300)
        self._last_frames = 0
        self._last_wall: int | None = None
        self._rate = 0.0
        self.latest: DashboardView | None = None

    def view(self) -> DashboardView | None:
        return self.latest

    def symbol_detail(self, symbol: str, timeframe: str) -> SymbolDetail | None:
        return self._tracker.symbol_detail(symbol, timeframe)

    def alert_history(self) -> AlertHistory:
        return self._tracker.alert_history()

    def health(self) -> HealthStrip:
        st = self._state
        now = self._wall_ns()
        frames = self._link.frames_in
        # Frames over the last whole second or more. Health is read on every tick, and a
        # replay fires several ticks between two frames: a rate since the previous tick
        # read 0 frames/s in the middle of a busy feed.
        if self._last_wall is None:
            self._last_frames, self._last_wall = frames, now
        elif now - self._last_wall >= NS_PER_S:
            self._rate = (frames - self._last_frames) * NS_PER_S / (now - self._last_wall)
            self._last_frames, self._last_wall = frames, now
        rate = self._rate
        ordered = sorted(self._durations)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
        ready, reasons = st.readiness(now, self._fresh_s)
        age = st.data_age_s(now)
        # getattr: the runner's warm-up counts may not exist on an older LiveState
        warm = _optional_int(getattr(st, "warm_symbols", None))
        universe = _optional_int(getattr(st, "scored_universe", None))
        return HealthStrip(
            ready=ready,
            not_ready_reasons=tuple(reasons),
            connections=self._connections(),
            frames_per_s=round(rate, 1),
            dropped_total=self._queue.dropped,
            malformed_total=st.ingest.malformed,
            tick_p99_ms=round(p99 * 1000, 3),
            model_version=st.model.version or st.model.model_id if st.model else None,
            model_alias=st.model.alias or None if st.model else None,
            data_age_s=None if age is None else round(age, 3),
            warming_up=(
                st.last_tick_ns is None
                or (st.scored_symbols == 0 and st.model is not None)
                or (warm == 0 and bool(universe))
            ),
            feed_stale=age is not None and age > self._fresh_s,
            live_outcomes=self._outcome_rows(),
            warm_symbols=warm,
            scored_universe=universe,
            promise=promise_view(getattr(st, "promise", None)),
            realised=realised_view(getattr(st, "realised", None)),
        )

    def _outcome_rows(self) -> tuple[OutcomeRow, ...]:
        if self.outcomes is None:
            return ()
        return tuple(
            OutcomeRow(
                role=role,
                model_id=str(m["model_id"]),
                brier=m["brier"],
                ece=m["ece"],
                topk_hit_rate=m["topk_hit_rate"],
                resolved_total=int(m["resolved_total"]),
            )
            for role, m in sorted(self.outcomes().items(), key=lambda kv: kv[0] != "champion")
        )

    def _buckets(self, report: TickReport) -> dict[str, Bucket]:
        p_of = {p.symbol: p.p_inplay for p in (*report.alerts, *report.ranked)}
        frame = report.frame
        row_of = {s: i for i, s in enumerate(frame.symbols)} if frame is not None else {}
        out: dict[str, Bucket] = {}
        for symbol, mid in report.prices.items():
            i = row_of.get(symbol)
            if frame is None or i is None:
                out[symbol] = Bucket(last=mid, p=p_of.get(symbol))
                continue
            prices, values = frame.prices[i], frame.values[i]
            last = known(prices[_PX_LAST])
            out[symbol] = Bucket(
                last=last if last is not None else mid,
                high=float(prices[_PX_HIGH]),
                low=float(prices[_PX_LOW]),
                gap=bool(frame.gap[i]),
                p=p_of.get(symbol),
                spread_bps=known(values[_SPREAD]),
                qvol_10s=known(values[_QVOL_10S]),
            )
        return out

    def _resolved(self) -> dict[AlertKey, AlertOutcome]:
        realised = getattr(self._state, "realised", None) or {}
        horizon = _optional_float(realised.get("horizon_s"))
        if horizon is not None:
            self._tracker.horizon_s = horizon
        out: dict[AlertKey, AlertOutcome] = {}
        for item in realised.get("resolved_alerts") or ():
            hit = item.get("hit")
            out[(str(item["symbol"]), int(item["ts"]) // 1_000_000)] = AlertOutcome(
                hit=hit if isinstance(hit, bool) else None,
                net_bps=_optional_float(item.get("net_bps")),
            )
        return out

    def on_tick(self, report: TickReport) -> None:
        self._durations.append(self._state.last_tick_duration_s)
        self.latest = self._tracker.update(
            report.ts,
            report.ranked,
            prices=report.prices,
            new_alerts=report.alerts,
            explanations=(
                self.explanations(p.symbol for p in report.ranked) if self.explanations else None
            ),
            health=self.health(),
            universe_size=len(self._state.universe),
            buckets=self._buckets(report),
            outcomes=self._resolved(),
        )


def _optional_int(value: object) -> int | None:
    f = _optional_float(value)
    return None if f is None else int(f)


def _optional_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _interval(value: object) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lo, hi = _optional_float(value[0]), _optional_float(value[1])
    return None if lo is None or hi is None else (lo, hi)


def promise_view(promise: Mapping[str, Any] | None) -> Promise | None:
    """``LiveState.promise`` (what the backtest promised for alerts) for the health strip;
    missing or non-finite pieces become None ("unknown")."""
    if promise is None:
        return None
    return Promise(
        hit_rate=_optional_float(promise.get("hit_rate")),
        hit_rate_ci=_interval(promise.get("hit_rate_ci")),
        net_bps=_optional_float(promise.get("net_bps")),
        net_bps_ci=_interval(promise.get("net_bps_ci")),
        source=str(promise.get("source") or ""),
    )


def realised_view(realised: Mapping[str, Any] | None) -> Realised | None:
    """``LiveState.realised`` (resolved live alerts so far) for the health strip."""
    if realised is None:
        return None
    return Realised(
        # AlertBook.summary names the count "resolved"
        n=_optional_int(realised.get("resolved", realised.get("n"))) or 0,
        hit_rate=_optional_float(realised.get("hit_rate")),
        net_bps=_optional_float(realised.get("net_bps")),
        diverged=bool(realised.get("diverged", False)),
    )
