"""One tick end to end: score every symbol, rank with hysteresis, alert, explain the top.

Reason codes (LightGBM ``pred_contrib``: 0.3–2 ms per row, far more than the batched
prediction) are computed only for symbols entering the top-K and for alerts that fire;
every other row's ``reasons`` stays empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from csx_core.contracts import RankEvent, ReasonCode
from csx_core.ml.scorer import Scorer, Scores, direction_enum
from csx_core.ranking.alerts import Alert, Alerter
from csx_core.ranking.ranker import Ranker

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TickOutput:
    scores: Scores
    events: list[RankEvent]
    alerts: list[Alert]


class TickPipeline:
    """Scorer → Ranker → Alerter for one tick at a time (time passed in, ns)."""

    def __init__(self, scorer: Scorer, ranker: Ranker, alerter: Alerter | None = None) -> None:
        self.scorer = scorer
        self.ranker = ranker
        self.alerter = alerter

    def run(self, ts: int, symbols: Sequence[str], x: FloatArray) -> TickOutput:
        scores = self.scorer.score(x, reason_rows=np.empty(0, dtype=np.int64))
        row_of = {s: i for i, s in enumerate(symbols)}
        reasons: dict[str, tuple[ReasonCode, ...]] = {}

        def explain(wanted: Sequence[str]) -> Mapping[str, tuple[ReasonCode, ...]]:
            missing = [s for s in wanted if s in row_of and s not in reasons]
            if missing:
                rows = np.array([row_of[s] for s in missing], dtype=np.int64)
                reasons.update(zip(missing, self.scorer.reasons(x[rows]), strict=True))
            return reasons

        events = self.ranker.update(ts, symbols, scores.p, explain)
        alerts: list[Alert] = []
        if self.alerter is not None:
            fired = self.alerter.update(ts, symbols, scores.p)
            explain([a.symbol for a in fired])
            alerts = [
                replace(
                    a,
                    direction=direction_enum(int(scores.direction[row_of[a.symbol]])),
                    reason_codes=reasons.get(a.symbol, ()),
                )
                for a in fired
            ]
        filled = list(scores.reasons)
        for s, codes in reasons.items():
            filled[row_of[s]] = codes
        return TickOutput(replace(scores, reasons=filled), events, alerts)
