"""Explanations in the live runner, off the hot path, each bound to the tick it describes.

:class:`LiveExplain` is a tick listener. It asks for an explanation of every ranked row (and
alert) whose latest explanation does not match it (``csx_core.explain.binding``: the same
direction, and the probability and backtest net edge as the text renders them) — a row new to
the top, or one that changed materially — at most once per ``refresh_min_s`` of tick time per
symbol. The evidence packet comes from that tick: the prediction (p, direction and its
confidence, the backtest net edge or None, reason codes), the value of the feature behind each
reason code in this tick's frame (``csx_core.explain.mapping``), and the cost breakdown the
model's own ``CostModel`` prices from the tick's book. :meth:`ExplainService.request` only
enqueues (O(1)); its workers call the explainer and keep ``latest(symbol)``.

Serving: each tick the listener annotates the ``/api/ranks`` rows (see
:func:`explanation_fields`): ``explanation`` holds the text only while it matches the row at
that tick; otherwise the latest text moves to ``explanation_older``, and ``explanation_for``
always says which tick (``ts`` ns, ``age_s``) and which numbers it was written for. The
dashboard applies the same rule (``csx_live.dashboard.tracker``). Nothing here awaits.

Without a model cost (a scorer loaded without a package's ``CostModel``) no packet is built:
the packet's costs would not be the model's (``skipped_no_cost`` counts it).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from csx_core.contracts import (
    Direction,
    FeatureSnapshot,
    LLMExplainInput,
    PredictionSnapshot,
    ReasonCode,
)
from csx_core.contracts.explain import LLMExplainOutput
from csx_core.explain import build_evidence, explanation_matches, reason_evidence, row_matches
from csx_core.explain.mapping import feature_for_codes
from csx_core.features import FEATURE_NAMES, FEATURE_VERSION, PRICE_COLUMNS, TickFrame
from csx_core.ml.costs import CostModel, CostModelError
from csx_live.llm import ExplainService
from csx_live.runner import TickReport
from csx_live.state import NS_PER_S, LiveState

log = logging.getLogger(__name__)

_BID, _ASK = PRICE_COLUMNS.index("px_bid"), PRICE_COLUMNS.index("px_ask")


@dataclass
class ExplainCounts:
    requested: int = 0
    skipped_no_cost: int = 0
    skipped_no_row: int = 0
    skipped_bad_book: int = 0


def explanation_fields(
    latest: LLMExplainOutput | None,
    *,
    ts: int,
    p_inplay: float | None,
    direction: Direction | str | None,
    backtest_net_edge_bps: float | None,
    direction_confidence: float | None = None,
) -> dict[str, Any]:
    """The explanation keys of one ``/api/ranks`` row at tick ``ts`` (ns)."""
    if latest is None:
        return {
            "explanation": None,
            "explanation_source": None,
            "explanation_older": None,
            "explanation_for": None,
        }
    current = explanation_matches(
        latest,
        p_inplay=p_inplay,
        direction=direction,
        backtest_net_edge_bps=backtest_net_edge_bps,
        direction_confidence=direction_confidence,
    )
    return {
        "explanation": latest.text if current else None,
        "explanation_source": latest.source.value if current else None,
        "explanation_older": None if current else latest.text,
        "explanation_for": {
            "ts": latest.ts,
            "age_s": max(0.0, (ts - latest.ts) / NS_PER_S),
            "p_inplay": latest.p_inplay,
            "direction": latest.direction.value,
            "direction_confidence": latest.direction_confidence,
            "backtest_net_edge_bps": latest.backtest_net_edge_bps,
            "source": latest.source.value,
            "current": current,
        },
    }


class LiveExplain:
    """Asks for explanations of ranked rows and alerts that have none matching them; serves
    the latest ones bound to their tick."""

    def __init__(
        self,
        service: ExplainService,
        *,
        state: LiveState,
        max_per_tick: int = 8,
        refresh_min_s: float = 2.0,
    ) -> None:
        self.service = service
        self._state = state
        self._max_per_tick = max_per_tick
        self._refresh_min_ns = int(refresh_min_s * NS_PER_S)
        self._cost: CostModel | None = None
        self._feature_for: Mapping[ReasonCode, str] = feature_for_codes(FEATURE_NAMES)
        self._asked_ns: dict[str, int] = {}
        self.counts = ExplainCounts()

    def use_model(self, cost: CostModel | None, feature_names: Iterable[str]) -> None:
        """A model was loaded: price packets with its cost model and show the features it
        uses for each reason code (the engine's names fill codes it has none for)."""
        self._cost = cost
        mapping = feature_for_codes(feature_names)
        for code, name in feature_for_codes(FEATURE_NAMES).items():
            mapping.setdefault(code, name)
        self._feature_for = mapping

    def explanations(self, symbols: Iterable[str]) -> dict[str, LLMExplainOutput]:
        out: dict[str, LLMExplainOutput] = {}
        for symbol in symbols:
            latest = self.service.latest(symbol)
            if latest is not None:
                out[symbol] = latest
        return out

    def on_tick(self, report: TickReport) -> None:
        wanted: dict[str, PredictionSnapshot] = {}
        for prediction in (*report.alerts, *report.ranked):
            symbol = prediction.symbol
            if symbol in wanted or self._is_current(prediction) or not self._due(prediction):
                continue
            wanted[symbol] = prediction
        if wanted:
            self._request(list(wanted.values())[: self._max_per_tick], report.frame)
        self._annotate_ranks(report.ts)

    def _is_current(self, prediction: PredictionSnapshot) -> bool:
        latest = self.service.latest(prediction.symbol)
        return latest is not None and row_matches(latest, prediction)

    def _due(self, prediction: PredictionSnapshot) -> bool:
        """At most one request per symbol per ``refresh_min_s`` of tick time: a row whose
        numbers move every tick does not turn into an LLM call every tick."""
        asked = self._asked_ns.get(prediction.symbol)
        return asked is None or prediction.ts - asked >= self._refresh_min_ns

    def _request(self, predictions: list[PredictionSnapshot], frame: TickFrame | None) -> None:
        if self._cost is None:
            self.counts.skipped_no_cost += len(predictions)
            return
        if frame is None:
            self.counts.skipped_no_row += len(predictions)
            return
        for prediction in predictions:
            evidence = self.evidence(prediction, frame, self._cost)
            if evidence is not None:
                self._asked_ns[prediction.symbol] = prediction.ts
                self.service.request(evidence)
                self.counts.requested += 1

    def evidence(
        self, prediction: PredictionSnapshot, frame: TickFrame, cost: CostModel
    ) -> LLMExplainInput | None:
        """The packet for ``prediction`` from ``frame`` (the tick it was made on)."""
        i = bisect.bisect_left(frame.symbols, prediction.symbol)
        if frame.ts != prediction.ts or i == len(frame) or frame.symbols[i] != prediction.symbol:
            self.counts.skipped_no_row += 1
            return None
        try:
            costs = cost.breakdown(float(frame.prices[i, _BID]), float(frame.prices[i, _ASK]))
        except CostModelError:
            self.counts.skipped_bad_book += 1
            return None
        features = FeatureSnapshot(
            symbol=prediction.symbol,
            ts=frame.ts,
            feature_version=FEATURE_VERSION,
            names=FEATURE_NAMES,
            values=tuple(float(v) for v in frame.values[i]),
            warm=bool(frame.warm[i]),
            gap=bool(frame.gap[i]),
        )
        reasons = reason_evidence(prediction.reason_codes, features, self._feature_for)
        return build_evidence(prediction, reasons, costs)

    def _annotate_ranks(self, ts: int) -> None:
        for row in self._state.ranks:
            row.update(
                explanation_fields(
                    self.service.latest(row["symbol"]),
                    ts=ts,
                    p_inplay=row.get("p_inplay"),
                    direction=row.get("direction"),
                    backtest_net_edge_bps=row.get("backtest_net_edge_bps"),
                    direction_confidence=row.get("direction_confidence"),
                )
            )
