"""The ``Scorer`` interface the live runner and the backtest share.

A scorer maps a rows × features matrix (columns in ``feature_names`` order) to calibrated
probabilities, a raw score, a direction and reason codes. The LightGBM model and the
baseline both implement it, so the runner can fall back to the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from csx_core.contracts import Direction, PredictionSnapshot, ReasonCode
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import matrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Scores:
    """Per row: calibrated ``p``, ``raw`` score, ``direction`` (+1 up, −1 down, 0 flat),
    ``expected_gross_bps`` (best move expected within the horizon, before costs) and
    ``reasons`` (empty tuples for rows whose reasons were not requested)."""

    p: FloatArray
    raw: FloatArray
    direction: npt.NDArray[np.int8]
    expected_gross_bps: FloatArray
    reasons: list[tuple[ReasonCode, ...]]


class Scorer(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    def score(self, x: FloatArray, *, reason_rows: IntArray | None = None) -> Scores:
        """Score rows of ``x``; reasons for ``reason_rows`` (None = every row)."""
        ...

    def reasons(self, x: FloatArray) -> list[tuple[ReasonCode, ...]]:
        """Only the reason codes of each row of ``x`` (no probabilities)."""
        ...


@dataclass(frozen=True)
class GrossMoveModel:
    """Expected best gross move (bps) = p·``in_play_bps`` + (1−p)·``other_bps``: the mean best
    move of in-play and other rows in the training fold."""

    in_play_bps: float
    other_bps: float

    @classmethod
    def fit(cls, best_gross_bps: FloatArray, in_play: npt.NDArray[np.bool_]) -> GrossMoveModel:
        g = np.asarray(best_gross_bps, dtype=np.float64)
        y = np.asarray(in_play, dtype=bool)
        return cls(
            in_play_bps=float(g[y].mean()) if y.any() else 0.0,
            other_bps=float(g[~y].mean()) if (~y).any() else 0.0,
        )

    def expected(self, p: FloatArray) -> FloatArray:
        out: FloatArray = p * self.in_play_bps + (1.0 - p) * self.other_bps
        return out


def score_table(scorer: Scorer, table: pa.Table, *, with_reasons: bool = False) -> Scores:
    """Score every row of a feature table (columns looked up by the scorer's names)."""
    x = matrix(table, scorer.feature_names)
    rows = None if with_reasons else np.empty(0, dtype=np.int64)
    return scorer.score(x, reason_rows=rows)


def direction_enum(d: int) -> Direction:
    return Direction.UP if d > 0 else Direction.DOWN if d < 0 else Direction.FLAT


def to_predictions(
    *,
    symbols: Sequence[str],
    ts: int,
    scores: Scores,
    model_id: str,
    cost: CostModel,
    bid: FloatArray,
    ask: FloatArray,
    quote_volume_usd: FloatArray | None = None,
    holding_s: float = 0.0,
) -> list[PredictionSnapshot]:
    """One tick's PredictionSnapshots, with the expected edge net of the cost model (rows
    whose book is unusable get the gross edge minus fees only — never NaN)."""
    net = cost.expected_net_edge_bps(
        scores.expected_gross_bps, bid, ask, quote_volume_usd, holding_s
    )
    fallback = scores.expected_gross_bps - 2.0 * cost.fee_bps_per_side
    net = np.where(np.isfinite(net), net, fallback)
    return [
        PredictionSnapshot(
            symbol=sym,
            ts=ts,
            p_inplay=float(scores.p[i]),
            raw_score=float(scores.raw[i]),
            direction=direction_enum(int(scores.direction[i])),
            expected_net_edge_bps=float(net[i]),
            model_id=model_id,
            reason_codes=scores.reasons[i],
        )
        for i, sym in enumerate(symbols)
    ]


def reason_row_mask(n: int, reason_rows: IntArray | None) -> IntArray:
    if reason_rows is None:
        return np.arange(n, dtype=np.int64)
    return np.asarray(reason_rows, dtype=np.int64)
