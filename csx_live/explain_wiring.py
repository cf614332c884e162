"""Explanations in the live runner, off the hot path.

:class:`LiveExplain` is a tick listener. For each symbol that enters the top-K (and each
alert) it builds the evidence packet from that tick — the prediction (p, direction, net
edge, reason codes), the value of the feature behind each reason code in this tick's frame
(``csx_core.explain.mapping``), and the cost breakdown the model's own ``CostModel`` prices
from the tick's book — and hands it to :meth:`ExplainService.request`, which only enqueues
(O(1)); the service's workers call the explainer and keep ``latest(symbol)``. The listener
then copies the latest text into ``/api/ranks`` rows; the dashboard reads
:meth:`LiveExplain.explanations`. Nothing here awaits: the tick never waits on the LLM.

Without a model cost (a scorer loaded without a package's ``CostModel``) no packet is built:
the net edge would not be net of the costs the packet shows (``skipped_no_cost`` counts it).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from csx_core.contracts import FeatureSnapshot, LLMExplainInput, PredictionSnapshot, ReasonCode
from csx_core.contracts.explain import LLMExplainOutput
from csx_core.explain import build_evidence, reason_evidence
from csx_core.explain.mapping import feature_for_codes
from csx_core.features import FEATURE_NAMES, FEATURE_VERSION, PRICE_COLUMNS, TickFrame
from csx_core.ml.costs import CostModel, CostModelError
from csx_core.ranking.tick import TickOutput
from csx_live.llm import ExplainService
from csx_live.runner import TickReport
from csx_live.state import LiveState

log = logging.getLogger(__name__)

LastTick = Callable[[], tuple[TickFrame, TickOutput | None] | None]
_BID, _ASK = PRICE_COLUMNS.index("px_bid"), PRICE_COLUMNS.index("px_ask")


@dataclass
class ExplainCounts:
    requested: int = 0
    skipped_no_cost: int = 0
    skipped_no_row: int = 0
    skipped_bad_book: int = 0


class LiveExplain:
    """Asks for explanations of new top-K entrants and alerts; attaches the latest ones."""

    def __init__(
        self,
        service: ExplainService,
        *,
        state: LiveState,
        last_tick: LastTick,
        max_per_tick: int = 8,
    ) -> None:
        self.service = service
        self._state = state
        self._last_tick = last_tick
        self._max_per_tick = max_per_tick
        self._cost: CostModel | None = None
        self._feature_for: Mapping[ReasonCode, str] = feature_for_codes(FEATURE_NAMES)
        self._in_top: set[str] = set()
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
        ranked = {p.symbol: p for p in report.ranked}
        wanted: dict[str, PredictionSnapshot] = {
            s: p for s, p in ranked.items() if s not in self._in_top
        }
        for alert in report.alerts:
            wanted[alert.symbol] = alert
        self._in_top = set(ranked)
        if wanted:
            self._request(list(wanted.values())[: self._max_per_tick])
        self._annotate_ranks()

    def _request(self, predictions: list[PredictionSnapshot]) -> None:
        if self._cost is None:
            self.counts.skipped_no_cost += len(predictions)
            return
        last = self._last_tick()
        if last is None:
            self.counts.skipped_no_row += len(predictions)
            return
        frame = last[0]
        for prediction in predictions:
            evidence = self.evidence(prediction, frame, self._cost)
            if evidence is not None:
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

    def _annotate_ranks(self) -> None:
        for row in self._state.ranks:
            latest = self.service.latest(row["symbol"])
            row["explanation"] = latest.text if latest is not None else None
            row["explanation_source"] = latest.source.value if latest is not None else None
