"""The transparent baseline: volume surge × |recent return| × tight spread.

raw = log(1 + max(volume_z, 0)) + log(1 + |return| / s) − log(1 + spread_bps)

with ``s`` the training median of |return| (so returns in bps or as fractions weigh the same),
i.e. the log of the product of the three factors, calibrated with the same Platt/isotonic
method as the model. The three inputs are found by name pattern (the one place besides the
reason table where feature names are assumed); a missing one contributes 0 (a neutral
factor), so the baseline degrades instead of failing. Direction is the sign of the return
(no confidence: the baseline never abstains, and its edge table has one confidence bucket).
Reasons: the factors above their training means, mapped through the reason table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.contracts import ReasonCode
from csx_core.ml.calibration import Calibrator, fit_calibrator
from csx_core.ml.edge import EdgeTable
from csx_core.ml.scorer import Scores, reason_row_mask
from csx_core.ranking.reasons import ReasonMapper

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BaselineSpec:
    """Regexes per input, tried in order: the first pattern any feature matches wins, and
    within it the first matching feature. The defaults prefer the feature engine's 1-minute
    names (``qvol_z_1m``, ``ret_1m``, ``spread_bps``) and fall back to looser patterns."""

    volume_patterns: tuple[str, ...] = (r"^qvol_z_1m$", r"vol_z")
    return_patterns: tuple[str, ...] = (r"^ret_1m$", r"(^|_)ret(_|$)")
    spread_patterns: tuple[str, ...] = (r"^spread_bps$", r"spread")

    def resolve(self, names: tuple[str, ...]) -> dict[str, int | None]:
        """Column index per role (None if no feature matches)."""
        out: dict[str, int | None] = {}
        for role, patterns in (
            ("volume", self.volume_patterns),
            ("return", self.return_patterns),
            ("spread", self.spread_patterns),
        ):
            out[role] = None
            for pattern in patterns:
                hit = next((j for j, n in enumerate(names) if re.search(pattern, n)), None)
                if hit is not None:
                    out[role] = hit
                    break
        return out


def _terms(x: FloatArray, cols: dict[str, int | None], return_scale: float) -> FloatArray:
    """rows × 3 log-factors (volume, return, −spread); 0 where the input is absent/NaN."""
    terms = np.zeros((x.shape[0], 3))
    if cols["volume"] is not None:
        terms[:, 0] = np.log1p(np.maximum(np.nan_to_num(x[:, cols["volume"]]), 0.0))
    if cols["return"] is not None:
        terms[:, 1] = np.log1p(np.abs(np.nan_to_num(x[:, cols["return"]])) / return_scale)
    if cols["spread"] is not None:
        terms[:, 2] = -np.log1p(np.maximum(np.nan_to_num(x[:, cols["spread"]]), 0.0))
    return terms


class BaselineScorer:
    """Implements :class:`csx_core.ml.scorer.Scorer`."""

    def __init__(
        self,
        *,
        names: tuple[str, ...],
        calibrator: Calibrator,
        term_means: FloatArray,
        spec: BaselineSpec | None = None,
        feature_version: str = "",
        return_scale: float = 1.0,
        edge: EdgeTable | None = None,
    ) -> None:
        self._names = names
        self.edge = edge
        self.return_scale = return_scale
        self.spec = spec or BaselineSpec()
        self.calibrator = calibrator
        self.term_means = np.asarray(term_means, dtype=np.float64)
        self.feature_version = feature_version
        self.cols = self.spec.resolve(names)
        used = [(role, j) for role, j in self.cols.items() if j is not None]
        self._used = used
        self._mapper = ReasonMapper(tuple(names[j] for _, j in used)) if used else None

    @property
    def model_id(self) -> str:
        return "baseline-v1"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def raw_score(self, x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        out: FloatArray = _terms(x, self.cols, self.return_scale).sum(axis=1)
        return out

    def score(self, x: FloatArray, *, reason_rows: IntArray | None = None) -> Scores:
        x = np.asarray(x, dtype=np.float64)
        terms = _terms(x, self.cols, self.return_scale)
        raw = terms.sum(axis=1)
        p = self.calibrator.apply(raw)
        direction = np.zeros(len(x), dtype=np.int8)
        if self.cols["return"] is not None:
            direction = np.sign(np.nan_to_num(x[:, self.cols["return"]])).astype(np.int8)
        reasons: list[tuple[Any, ...]] = [()] * len(x)
        rows = reason_row_mask(len(x), reason_rows)
        if self._mapper is not None and len(rows):
            role_idx = {"volume": 0, "return": 1, "spread": 2}
            ti = np.array([role_idx[r] for r, _ in self._used], dtype=np.int64)
            fi = np.array([j for _, j in self._used], dtype=np.int64)
            contrib = terms[np.ix_(rows, ti)] - self.term_means[ti]
            values = x[np.ix_(rows, fi)]
            for r, codes in zip(rows, self._mapper.top_reasons(contrib, values), strict=True):
                reasons[int(r)] = codes
        nan = np.full(len(x), np.nan)
        edge = nan if self.edge is None else self.edge.lookup(p, direction)
        return Scores(
            p=p, raw=raw, direction=direction, reasons=reasons, confidence=nan, edge_bps=edge
        )

    def with_edge(self, edge: EdgeTable | None) -> BaselineScorer:
        """The same scorer reading its backtest net edge from ``edge``."""
        return BaselineScorer(
            names=self._names,
            calibrator=self.calibrator,
            term_means=self.term_means,
            spec=self.spec,
            feature_version=self.feature_version,
            return_scale=self.return_scale,
            edge=edge,
        )

    def reasons(self, x: FloatArray) -> list[tuple[ReasonCode, ...]]:
        return self.score(x).reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "baseline-v1",
            "names": list(self._names),
            "feature_version": self.feature_version,
            "spec": {
                "volume_patterns": list(self.spec.volume_patterns),
                "return_patterns": list(self.spec.return_patterns),
                "spread_patterns": list(self.spec.spread_patterns),
            },
            "calibrator": self.calibrator.to_dict(),
            "term_means": self.term_means.tolist(),
            "return_scale": self.return_scale,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineScorer:
        return cls(
            names=tuple(data["names"]),
            calibrator=Calibrator.from_dict(data["calibrator"]),
            term_means=np.asarray(data["term_means"], dtype=np.float64),
            spec=BaselineSpec(**{k: tuple(v) for k, v in data["spec"].items()}),
            feature_version=data["feature_version"],
            return_scale=float(data["return_scale"]),
        )


def fit_baseline(
    *,
    names: tuple[str, ...],
    x_train: FloatArray,
    y_train: npt.NDArray[np.bool_],
    x_calib: FloatArray,
    y_calib: npt.NDArray[np.bool_],
    method: str = "platt",
    spec: BaselineSpec | None = None,
    feature_version: str = "",
) -> BaselineScorer:
    """The baseline has no learned weights: training rows give the term means (reason
    reference); the calibration fold fits the calibrator."""
    spec = spec or BaselineSpec()
    cols = spec.resolve(names)
    x_train = np.asarray(x_train, dtype=np.float64)
    scale = 1.0
    if cols["return"] is not None:
        r = np.abs(x_train[:, cols["return"]])
        r = r[np.isfinite(r) & (r > 0)]
        scale = float(np.median(r)) if len(r) else 1.0
    means = _terms(x_train, cols, scale).mean(axis=0)
    raw_calib = _terms(np.asarray(x_calib, dtype=np.float64), cols, scale).sum(axis=1)
    return BaselineScorer(
        names=names,
        calibrator=fit_calibrator(raw_calib, y_calib, method),
        term_means=means,
        spec=spec,
        feature_version=feature_version,
        return_scale=scale,
    )
