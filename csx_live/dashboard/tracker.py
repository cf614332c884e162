"""Builds a ``DashboardView`` per tick from what the runner already has: the ranked
predictions, prices, new alerts, explanations and health. An explanation is shown as the
row's only while it matches the row (``csx_core.explain.binding``), else as older, with the
tick and numbers it was written for.

It keeps the only dashboard-specific state: sparkline history per symbol (sampled every
``spark_every_s`` over ``spark_window_s``), when each symbol entered the top, the recent
alerts (``max_alerts`` ride in every view; ``alert_history`` are kept for the paged history,
each joined with its resolved outcome once known) and bounded 1 s / 1 m candles of the
symbols it was given buckets for (``csx_live.dashboard.candles``). Time comes from the tick
(event time), never the wall clock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence

import msgspec

from csx_core.contracts import LLMExplainOutput, PredictionSnapshot, ReasonCode
from csx_core.explain import row_matches
from csx_live.dashboard.candles import Bucket, CandleBook
from csx_live.dashboard.model import (
    AlertHistory,
    AlertOutcome,
    AlertRow,
    DashboardView,
    ExplanationFor,
    HealthStrip,
    RankRow,
    ReasonTag,
    SymbolDetail,
)

AlertKey = tuple[str, int]
"""(symbol, alert tick in ms): how an outcome finds its alert."""
NS_PER_S = 1_000_000_000


def reason_tags(codes: Sequence[ReasonCode]) -> tuple[ReasonTag, ...]:
    return tuple(ReasonTag(code.value, code.label) for code in codes)


class DashboardTracker:
    def __init__(
        self,
        *,
        spark_window_s: int = 1800,
        spark_every_s: int = 10,
        max_alerts: int = 100,
        alert_history: int = 1000,
        max_symbols_tracked: int = 2000,
        candles: CandleBook | None = None,
    ) -> None:
        self._spark_len = max(2, spark_window_s // spark_every_s)
        self._spark_every_ns = spark_every_s * NS_PER_S
        self._max_symbols = max_symbols_tracked
        self._spark: dict[str, deque[tuple[float, float]]] = {}
        self._last_sample_ns: dict[str, int] = {}
        self._entered_ns: dict[str, int] = {}
        self._alerts: deque[AlertRow] = deque(maxlen=max_alerts)
        self._history: deque[AlertRow] = deque(maxlen=max(alert_history, max_alerts))
        self._outcomes: OrderedDict[AlertKey, AlertOutcome] = OrderedDict()
        self._max_outcomes = max(alert_history, max_alerts)
        self.candles = candles or CandleBook()
        self.horizon_s: float | None = None
        self.latest: DashboardView | None = None

    def update(
        self,
        ts_ns: int,
        ranked: Sequence[PredictionSnapshot],
        *,
        prices: Mapping[str, float],
        scored: Sequence[PredictionSnapshot] = (),
        new_alerts: Sequence[PredictionSnapshot] = (),
        explanations: Mapping[str, LLMExplainOutput] | None = None,
        health: HealthStrip,
        universe_size: int = 0,
        buckets: Mapping[str, Bucket] | None = None,
        outcomes: Mapping[AlertKey, AlertOutcome] | None = None,
    ) -> DashboardView:
        """``ranked`` is the top-K in rank order; ``scored`` every symbol scored this tick
        (their sparklines keep filling while they are outside the top); ``buckets`` this
        tick's price bucket per symbol (candles); ``outcomes`` resolved alerts so far."""
        for symbol, bucket in (buckets or {}).items():
            self.candles.add(ts_ns, symbol, bucket)
        for key, outcome in (outcomes or {}).items():
            self._outcomes[key] = outcome
            while len(self._outcomes) > self._max_outcomes:
                self._outcomes.popitem(last=False)
        for prediction in (*scored, *ranked):
            self._sample(
                ts_ns, prediction.symbol, prediction.p_inplay, prices.get(prediction.symbol)
            )
        in_top = {p.symbol for p in ranked}
        for symbol in list(self._entered_ns):
            if symbol not in in_top:
                del self._entered_ns[symbol]
        for prediction in ranked:
            self._entered_ns.setdefault(prediction.symbol, ts_ns)
        for alert in new_alerts:
            fired = AlertRow(
                ts_ms=alert.ts // 1_000_000,
                symbol=alert.symbol,
                p_inplay=alert.p_inplay,
                direction=alert.direction.value,
                backtest_net_edge_bps=alert.backtest_net_edge_bps,
                reasons=reason_tags(alert.reason_codes),
            )
            self._alerts.append(fired)
            self._history.append(fired)
        explained = explanations or {}
        rows = tuple(
            self._row(rank, prediction, ts_ns, explained.get(prediction.symbol))
            for rank, prediction in enumerate(ranked, start=1)
        )
        self.latest = DashboardView(
            ts_ms=ts_ns // 1_000_000,
            ranks=rows,
            alerts=tuple(self._with_outcome(a) for a in self._alerts),
            health=health,
            universe_size=universe_size,
        )
        return self.latest

    def _with_outcome(self, alert: AlertRow) -> AlertRow:
        outcome = self._outcomes.get((alert.symbol, alert.ts_ms))
        if outcome is None or alert.outcome == outcome:
            return alert
        return msgspec.structs.replace(alert, outcome=outcome)

    def alert_history(self) -> AlertHistory:
        """Every alert still held, newest first, with its outcome once resolved."""
        return AlertHistory(
            alerts=tuple(self._with_outcome(a) for a in reversed(self._history)),
            horizon_s=self.horizon_s,
        )

    def symbol_detail(self, symbol: str, timeframe: str) -> SymbolDetail | None:
        """The drill-down of ``symbol`` (None: the tracker knows nothing of it)."""
        view = self.latest
        row = next((r for r in view.ranks if r.symbol == symbol), None) if view else None
        alerts = tuple(self._with_outcome(a) for a in reversed(self._history) if a.symbol == symbol)
        if row is None and not alerts and symbol not in self.candles:
            return None
        return SymbolDetail(
            symbol=symbol,
            timeframe=timeframe,
            ts_ms=view.ts_ms if view else 0,
            candles=self.candles.candles(symbol, timeframe),
            alerts=alerts,
            row=row,
        )

    def _sample(self, ts_ns: int, symbol: str, p: float, price: float | None) -> None:
        last = self._last_sample_ns.get(symbol)
        if last is not None and ts_ns - last < self._spark_every_ns:
            return
        if symbol not in self._spark and len(self._spark) >= self._max_symbols:
            return  # bounded: a flood of new symbols cannot grow memory without limit
        history = self._spark.setdefault(symbol, deque(maxlen=self._spark_len))
        previous_px = history[-1][1] if history else float("nan")
        history.append((p, price if price is not None else previous_px))
        self._last_sample_ns[symbol] = ts_ns

    def _row(
        self,
        rank: int,
        prediction: PredictionSnapshot,
        ts_ns: int,
        explanation: LLMExplainOutput | None,
    ) -> RankRow:
        history = self._spark.get(prediction.symbol, ())
        current = explanation is not None and row_matches(explanation, prediction)
        return RankRow(
            rank=rank,
            symbol=prediction.symbol,
            p_inplay=prediction.p_inplay,
            direction=prediction.direction.value,
            direction_confidence=prediction.direction_confidence,
            backtest_net_edge_bps=prediction.backtest_net_edge_bps,
            reasons=reason_tags(prediction.reason_codes),
            explanation=explanation.text if explanation and current else None,
            explanation_source=explanation.source.value if explanation and current else None,
            explanation_older=explanation.text if explanation and not current else None,
            explanation_for=written_for(explanation, ts_ns, current) if explanation else None,
            time_in_top_s=(ts_ns - self._entered_ns.get(prediction.symbol, ts_ns)) / NS_PER_S,
            spark_p=tuple(p for p, _ in history),
            spark_px=tuple(px for _, px in history if px == px),  # drop NaN (no price yet)
        )


def written_for(explanation: LLMExplainOutput, ts_ns: int, current: bool) -> ExplanationFor:
    return ExplanationFor(
        ts_ms=explanation.ts // 1_000_000,
        age_s=max(0.0, (ts_ns - explanation.ts) / NS_PER_S),
        p_inplay=explanation.p_inplay,
        direction=explanation.direction.value,
        backtest_net_edge_bps=explanation.backtest_net_edge_bps,
        source=explanation.source.value,
        current=current,
    )
