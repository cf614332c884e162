"""The ``Scorer`` interface the live runner and the backtest share.

A scorer maps a rows × features matrix (columns in ``feature_names`` order) to calibrated
probabilities, a raw score, a direction (or an abstention), the backtest net edge and reason
codes. The LightGBM model and the baseline both implement it, so the runner can fall back to
the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from csx_core.contracts import Direction, PredictionSnapshot, ReasonCode
from csx_core.ml.frame import matrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, kw_only=True)
class Scores:
    """Per row: calibrated ``p``, ``raw`` score, ``direction`` (+1 up, −1 down, 0 = no
    direction called: "either way"), ``confidence`` (the calibrated probability of the
    called side; NaN where the scorer has none), ``edge_bps`` (the backtest net edge of
    :mod:`csx_core.ml.edge`; NaN = unknown) and ``reasons`` (empty tuples for rows whose
    reasons were not requested)."""

    p: FloatArray
    raw: FloatArray
    direction: npt.NDArray[np.int8]
    reasons: list[tuple[ReasonCode, ...]]
    confidence: FloatArray
    edge_bps: FloatArray


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


def score_table(scorer: Scorer, table: pa.Table, *, with_reasons: bool = False) -> Scores:
    """Score every row of a feature table (columns looked up by the scorer's names)."""
    x = matrix(table, scorer.feature_names)
    rows = None if with_reasons else np.empty(0, dtype=np.int64)
    return scorer.score(x, reason_rows=rows)


def direction_enum(d: int) -> Direction:
    return Direction.UP if d > 0 else Direction.DOWN if d < 0 else Direction.EITHER


def known(value: float) -> float | None:
    """A measured number, or None (shown as "unknown") where nothing backs it."""
    f = float(value)
    return f if math.isfinite(f) else None


def prediction(
    scores: Scores,
    i: int,
    *,
    symbol: str,
    ts: int,
    model_id: str,
    reason_codes: tuple[ReasonCode, ...],
) -> PredictionSnapshot:
    """Row ``i`` of a tick's scores as the PredictionSnapshot every consumer reads (the one
    place a prediction is built)."""
    return PredictionSnapshot(
        symbol=symbol,
        ts=ts,
        p_inplay=min(1.0, max(0.0, float(scores.p[i]))),
        raw_score=known(scores.raw[i]) or 0.0,
        direction=direction_enum(int(scores.direction[i])),
        direction_confidence=known(scores.confidence[i]),
        backtest_net_edge_bps=known(scores.edge_bps[i]),
        model_id=model_id,
        reason_codes=reason_codes,
    )


def reason_row_mask(n: int, reason_rows: IntArray | None) -> IntArray:
    if reason_rows is None:
        return np.arange(n, dtype=np.int64)
    return np.asarray(reason_rows, dtype=np.int64)
