"""Live outcome resolution and the shadow challenger, as a tick listener.

Each tick, :class:`LiveOutcomes` hands the resolver (``csx_core.outcomes``) the tick's whole
frame (prices and gap flags of every symbol: a missing row is a missing tick for the label)
and the champion's predictions for every scored symbol, with the top-K mask taken from the
ranks the runner published. An optional challenger is scored on the same frame by a
``ShadowScorer`` — never ranked, never alerted — and resolved beside the champion (by the
champion's resolver when its label definition is the same, else by one of its own).

Resolving is O(symbols) per tick; the rolling Brier / ECE / top-K hit rate cost a sort of
the window, so :meth:`LiveOutcomes.refresh` computes them in a worker thread every
``refresh_s`` and the ``/metrics`` collector and the API read the cached result.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from csx_core.ml.baseline import BaselineScorer
from csx_core.ml.costs import CostModel
from csx_core.ml.edge import EdgeTable
from csx_core.ml.labels import LabelConfig
from csx_core.ml.package import PackagedScorer
from csx_core.ml.scorer import Scorer
from csx_core.outcomes import (
    CHAMPION,
    GAUGE_NAMES,
    LiveMetrics,
    OutcomeResolver,
    PredictionBatch,
    ResolverConfig,
    ShadowScorer,
    label_config_of,
)
from csx_core.outcomes.promise import AlertBook
from csx_live.runner import TickReport

log = logging.getLogger(__name__)

SUMMARY_FIELDS = ("brier", "ece", "topk_hit_rate", "count", "resolved_total", "pending")


def labels_of(scorer: Scorer) -> LabelConfig | None:
    """The label definition a packaged model was trained on (None for other scorers, e.g.
    the DEV baseline fallback, which carry no training record)."""
    if isinstance(scorer, PackagedScorer):
        return label_config_of(scorer.contents.training)
    return None


def edge_table_of(scorer: Scorer) -> EdgeTable | None:
    """The backtest net edge table a scorer reads its edges from (None: every edge is
    unknown)."""
    if isinstance(scorer, PackagedScorer):
        return scorer.edge
    if isinstance(scorer, BaselineScorer):
        return scorer.edge
    return None


class LiveOutcomes:
    """Feeds the resolver(s) every tick and keeps the latest per-role metrics."""

    def __init__(self, *, window_s: int, top_k: int, alert_window: int = 50) -> None:
        self._alert_window = alert_window
        self.alerts: AlertBook | None = None
        """Promise vs reality of the champion's alerts (None until a champion is served)."""
        self._config = ResolverConfig(window_s=window_s, top_k=top_k)
        self.champion: OutcomeResolver | None = None
        self._champion_id = ""
        self.challenger: ShadowScorer | None = None
        self._challenger_resolver: OutcomeResolver | None = None
        self._challenger_label: tuple[CostModel, LabelConfig] | None = None
        self._latest: dict[str, LiveMetrics] = {}
        self.errors = 0

    # -- models ----------------------------------------------------------------------------
    def use_champion(
        self, model_id: str, cost: CostModel, labels: LabelConfig, edge: EdgeTable | None = None
    ) -> None:
        self.champion = OutcomeResolver(cost, labels, self._config)
        self._champion_id = model_id
        self.alerts = AlertBook(
            edge=edge,
            horizon_ns=labels.horizon_ns,
            window=self._alert_window,
            role=CHAMPION,
        )
        self._place_challenger()

    def use_challenger(self, scorer: Scorer, cost: CostModel, labels: LabelConfig) -> None:
        """Shadow-score ``scorer``; judged by the champion's resolver when it answers the
        same question (same cost-model version and label), else by its own."""
        self.challenger = ShadowScorer(scorer)
        self._challenger_label = (cost, labels)
        self._place_challenger()

    def _place_challenger(self) -> None:
        if self._challenger_label is None:
            return
        cost, labels = self._challenger_label
        if self.champion is not None and self.champion.accepts(cost, labels):
            self._challenger_resolver = None
        else:
            self._challenger_resolver = OutcomeResolver(cost, labels, self._config)

    # -- the tick --------------------------------------------------------------------------
    def on_tick(self, report: TickReport) -> None:
        frame, out = report.frame, report.output
        if frame is None:
            return
        champion: list[PredictionBatch] = []
        if out is not None and len(frame):
            ranked = {p.symbol for p in report.ranked}
            top = np.fromiter((s in ranked for s in frame.symbols), bool, len(frame))
            champion.append(
                PredictionBatch.from_scores(
                    CHAMPION, self._champion_id, frame.symbols, out.scores, top_k=top
                )
            )
        shadow: list[PredictionBatch] = []
        if self.challenger is not None and len(frame):
            shadow.append(self.challenger.score_frame(frame))
        if self._challenger_resolver is not None:
            self._challenger_resolver.on_frame(frame, shadow)
            shadow = []
        if self.alerts is not None:
            self.alerts.on_alerts(report.alerts)
        if self.champion is not None:
            resolved = self.champion.on_frame(frame, [*champion, *shadow])
            if self.alerts is not None:
                self.alerts.on_resolved(frame.ts, resolved)

    # -- metrics ---------------------------------------------------------------------------
    def _jobs(self) -> list[Callable[[], LiveMetrics]]:
        jobs: list[Callable[[], LiveMetrics]] = []
        for resolver in (self.champion, self._challenger_resolver):
            if resolver is not None:
                jobs.extend(resolver.metrics_job(role) for role in resolver.roles)
        return jobs

    async def refresh(self) -> None:
        """Recompute every role's rolling metrics in a worker thread (the captures are taken
        on the loop, between ticks)."""
        for job in self._jobs():
            metrics = await asyncio.to_thread(job)
            self._latest[metrics.role] = metrics

    async def run(self, refresh_s: float) -> None:
        while True:
            await asyncio.sleep(refresh_s)
            try:
                await self.refresh()
            except Exception:
                self.errors += 1
                log.exception("live outcome metrics refresh failed")

    def latest(self) -> Mapping[str, LiveMetrics]:
        return dict(self._latest)

    def gauges(self) -> dict[str, dict[str, float]]:
        """``{role: {metric name: value}}`` of the last refresh (``csx_live.metrics``)."""
        return {role: m.to_gauges() for role, m in self._latest.items()}

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per role, the headline numbers (JSON-safe: NaN becomes null) and the model id."""
        out: dict[str, dict[str, Any]] = {}
        for role, m in self._latest.items():
            values = m.to_dict()
            row: dict[str, Any] = {"model_id": m.model_id, "window_s": m.window_s}
            for name in SUMMARY_FIELDS:
                v = values[name]
                row[name] = None if isinstance(v, float) and not math.isfinite(v) else v
            out[role] = row
        return out


__all__ = ["GAUGE_NAMES", "LiveOutcomes", "labels_of"]
