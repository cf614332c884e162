"""Direction, or abstain: the calibrated direction model and the threshold it must clear.

The direction booster (trained on in-play rows: is the long the better side?) gives a raw
margin. On the fold's calibration slice, restricted to its in-play rows, a Platt calibrator
maps it to ``p_up``; the confidence of a call is ``max(p_up, 1 − p_up)``. The threshold is
the lowest grid value whose calls on that slice are right more often than a coin at a
Bonferroni-corrected one-sided 95 % Wilson bound (over the grid), with at least
``min_calls`` calls. If no value qualifies the model never calls a direction: a market
without directional information at H gives "either way" on (nearly) every row rather than a
coin flip presented as a call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.ml.calibration import Calibrator, fit_platt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]

THRESHOLD_GRID = tuple(round(0.5 + 0.02 * i, 2) for i in range(16))  # 0.50 … 0.80


@dataclass(frozen=True, kw_only=True)
class DirectionConfig:
    min_calls: int = 50
    alpha: float = 0.05


@dataclass(frozen=True)
class DirectionCall:
    """``threshold`` None: never call a direction. ``calibration`` records the evidence the
    threshold was chosen on (rows, calls, hits, Wilson bound)."""

    calibrator: Calibrator | None
    threshold: float | None
    calibration: dict[str, Any] = field(default_factory=dict)

    def apply(self, raw_margin: FloatArray) -> tuple[Int8Array, FloatArray]:
        """(direction +1/−1/0, confidence of the called side; NaN without a calibrator)."""
        raw = np.asarray(raw_margin, dtype=np.float64)
        if self.calibrator is None:
            return np.zeros(len(raw), dtype=np.int8), np.full(len(raw), np.nan)
        p_up = self.calibrator.apply(raw)
        conf = np.maximum(p_up, 1.0 - p_up)
        side = np.where(p_up >= 0.5, 1, -1).astype(np.int8)
        if self.threshold is None:
            return np.zeros(len(raw), dtype=np.int8), conf
        called = np.where(conf >= self.threshold, side, 0).astype(np.int8)
        return called, conf

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibrator": None if self.calibrator is None else self.calibrator.to_dict(),
            "threshold": self.threshold,
            "calibration": self.calibration,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DirectionCall:
        cal = data.get("calibrator")
        threshold = data.get("threshold")
        return cls(
            calibrator=None if cal is None else Calibrator.from_dict(cal),
            threshold=None if threshold is None else float(threshold),
            calibration=dict(data.get("calibration", {})),
        )


def wilson_lower(hits: float, n: float, z: float) -> float:
    """Lower Wilson score bound of a hit rate (NaN for n = 0)."""
    if n <= 0:
        return math.nan
    rate = hits / n
    denom = 1.0 + z * z / n
    centre = rate + z * z / (2 * n)
    spread = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return (centre - spread) / denom


def fit_direction_call(
    raw_margin: FloatArray, up: BoolArray, config: DirectionConfig | None = None
) -> DirectionCall:
    """Calibrate on the calibration slice's in-play rows (``raw_margin``, ``up`` = the long
    was the better side) and choose the threshold there."""
    config = config or DirectionConfig()
    raw = np.asarray(raw_margin, dtype=np.float64)
    y = np.asarray(up, dtype=bool)
    evidence: dict[str, Any] = {"rows": len(y), "grid": list(THRESHOLD_GRID)}
    if len(y) == 0 or y.all() or not y.any():
        evidence["reason"] = "the calibration slice has no in-play rows of both sides"
        return DirectionCall(None, None, evidence)
    calibrator = fit_platt(raw, y)
    p_up = calibrator.apply(raw)
    conf = np.maximum(p_up, 1.0 - p_up)
    right = (p_up >= 0.5) == y
    z = NormalDist().inv_cdf(1.0 - config.alpha / len(THRESHOLD_GRID))
    chosen: float | None = None
    for threshold in THRESHOLD_GRID:
        called = conf >= threshold
        n = int(called.sum())
        hits = int(right[called].sum())
        if n < config.min_calls:
            break
        lower = wilson_lower(hits, n, z)
        if lower > 0.5:
            chosen = threshold
            evidence.update(calls=n, hits=hits, hit_rate=hits / n, wilson_lower=lower)
            break
    if chosen is None:
        evidence["reason"] = (
            "no threshold's calls beat a coin on the calibration slice "
            f"(Wilson bound, z={z:.2f}, >= {config.min_calls} calls)"
        )
    evidence["z"] = z
    return DirectionCall(calibrator, chosen, evidence)
