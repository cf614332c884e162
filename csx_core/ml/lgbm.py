"""The LightGBM in-play classifier (+ a direction model) and its scorer.

Two boosters: ``in_play`` (binary: does the best net move beat the threshold) and
``direction`` (trained on in-play rows only: is the long the better side). Early stopping
uses the validation slice at the end of the training fold — never calibration or test.
The score is the in-play booster's raw margin, mapped to p by the calibrator; the direction
booster's margin goes through its own calibrator and threshold (:mod:`csx_core.ml.direction`)
and abstains below it. Reasons come from ``pred_contrib`` (TreeSHAP) of the in-play booster,
plus ``DIRECTION_UNCERTAIN`` on an abstention. ``import lightgbm`` happens inside functions
(it costs ~2 s).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.contracts import ReasonCode
from csx_core.ml.attribution import LeafPathAttribution
from csx_core.ml.calibration import Calibrator, sigmoid
from csx_core.ml.direction import DirectionCall
from csx_core.ml.edge import EdgeTable
from csx_core.ml.scorer import Scores, reason_row_mask
from csx_core.ranking.reasons import ReasonMapper

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


MIN_VALID_CLASS_ROWS = 20


@dataclass(frozen=True, kw_only=True)
class LgbmParams:
    """LightGBM settings. ``num_threads`` defaults to 1: on a shared 2-core host OpenMP's
    spin-waiting made 2 threads 17× slower than 1 (measured: 30 s vs 1.7 s for 60 rounds on
    30 k × 60); use 2 only on idle cores or with ``OMP_WAIT_POLICY=passive`` (on idle cores
    the demo's 281 k × 78 fit took 5.7 s with 2 threads against 8.0 s with 1). A model is
    reproducible for a given ``num_threads``; another count sums histograms in another
    order and gives another model."""

    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rounds: int = 400
    early_stopping_rounds: int = 30
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 63
    num_threads: int = 1
    seed: int = 7

    def booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_booster(
    x_train: FloatArray,
    y_train: BoolArray,
    x_valid: FloatArray,
    y_valid: BoolArray,
    names: tuple[str, ...],
    params: LgbmParams,
    fixed_rounds: int | None = None,
) -> str:
    """Train with early stopping on the validation slice; returns the text model of the
    best iteration. With ``fixed_rounds`` (used when the validation slice has too few rows
    of a class to be informative) it trains that many rounds without looking at it."""
    import lightgbm as lgb

    train = lgb.Dataset(x_train, label=y_train.astype(np.float64), feature_name=list(names))
    if fixed_rounds is not None:
        booster = lgb.train(params.booster_params(), train, num_boost_round=fixed_rounds)
        fixed: str = booster.model_to_string()
        return fixed
    valid = lgb.Dataset(
        x_valid, label=y_valid.astype(np.float64), reference=train, feature_name=list(names)
    )
    booster = lgb.train(
        params.booster_params(),
        train,
        num_boost_round=params.max_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    text: str = booster.model_to_string(num_iteration=booster.best_iteration)
    return text


def _trees(model_text: str) -> int:
    return sum(1 for line in model_text.splitlines() if line.startswith("Tree="))


class LgbmScorer:
    """Implements :class:`csx_core.ml.scorer.Scorer` from two text models."""

    def __init__(
        self,
        *,
        model_text: str,
        direction_text: str,
        calibrator: Calibrator,
        names: tuple[str, ...],
        centers: FloatArray,
        predict_threads: int = 1,
        reason_method: str = "contrib",
        direction_call: DirectionCall | None = None,
        edge: EdgeTable | None = None,
    ) -> None:
        """``reason_method``: ``"contrib"`` = TreeSHAP via ``pred_contrib`` (exact, ~0.5–2 ms
        per row); ``"path"`` = leaf-path attribution (see csx_core.ml.attribution, ~50×
        cheaper). ``direction_call`` None (before calibration) calls the booster's side
        everywhere; ``edge`` None leaves every edge unknown."""
        import lightgbm as lgb

        self._booster = lgb.Booster(model_str=model_text)
        self._direction = lgb.Booster(model_str=direction_text)
        if tuple(self._booster.feature_name()) != names:
            raise ValueError("model feature names differ from the declared feature list")
        self._names = names
        self.calibrator = calibrator
        self.centers = np.asarray(centers, dtype=np.float64)
        self.direction_call = direction_call
        self.edge = edge
        self._threads = predict_threads
        self._mapper = ReasonMapper(names, self.centers)
        if reason_method not in ("contrib", "path"):
            raise ValueError(f"unknown reason_method {reason_method!r}")
        self._path = LeafPathAttribution(self._booster) if reason_method == "path" else None
        self._id = "lgbm-" + hashlib.sha256(model_text.encode()).hexdigest()[:12]

    @property
    def model_id(self) -> str:
        return self._id

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def raw_score(self, x: FloatArray) -> FloatArray:
        out = np.asarray(self._booster.predict(x, raw_score=True, num_threads=self._threads))
        return out.astype(np.float64, copy=False)

    def contributions(self, x: FloatArray) -> FloatArray:
        """Rows × features contributions to the raw score (bias excluded)."""
        if self._path is not None:
            return self._path.contributions(x, self._threads)
        contrib = np.asarray(self._booster.predict(x, pred_contrib=True, num_threads=self._threads))
        out: FloatArray = contrib[:, :-1]
        return out

    def score(self, x: FloatArray, *, reason_rows: IntArray | None = None) -> Scores:
        x = np.ascontiguousarray(x, dtype=np.float64)
        raw = self.raw_score(x)
        p = self.calibrator.apply(raw)
        direction, confidence = self.direction(x)
        reasons: list[tuple[Any, ...]] = [()] * len(x)
        rows = reason_row_mask(len(x), reason_rows)
        if len(rows):
            for r, c in zip(rows, self.reasons(x[rows]), strict=True):
                reasons[int(r)] = c
        edge = (
            np.full(len(x), np.nan)
            if self.edge is None
            else self.edge.lookup(p, direction, confidence)
        )
        return Scores(
            p=p,
            raw=raw,
            direction=direction,
            reasons=reasons,
            confidence=confidence,
            edge_bps=edge,
        )

    def direction(self, x: FloatArray) -> tuple[npt.NDArray[np.int8], FloatArray]:
        """(called direction, 0 = abstain; calibrated confidence of the called side)."""
        margin = self.direction_margin(x)
        if self.direction_call is not None:
            return self.direction_call.apply(margin)
        p_up = sigmoid(margin)
        return np.where(p_up >= 0.5, 1, -1).astype(np.int8), np.maximum(p_up, 1.0 - p_up)

    def direction_margin(self, x: FloatArray) -> FloatArray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = self._direction.predict(x, raw_score=True, num_threads=self._threads)
        return np.asarray(out, dtype=np.float64)

    def reasons(self, x: FloatArray) -> list[tuple[ReasonCode, ...]]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if len(x) == 0:
            return []
        codes = self._mapper.top_reasons(self.contributions(x), x)
        direction, _ = self.direction(x)
        return [
            (*c, ReasonCode.DIRECTION_UNCERTAIN) if d == 0 else c
            for c, d in zip(codes, direction, strict=True)
        ]


@dataclass(frozen=True)
class TrainedLgbm:
    """What training produces: both text models and the numbers the scorer needs."""

    model_text: str
    direction_text: str
    names: tuple[str, ...]
    centers: FloatArray
    best_iteration: int


def fit_lgbm(
    *,
    names: tuple[str, ...],
    x_train: FloatArray,
    y_train: BoolArray,
    up_train: BoolArray,
    x_valid: FloatArray,
    y_valid: BoolArray,
    up_valid: BoolArray,
    params: LgbmParams,
) -> TrainedLgbm:
    """``up_*`` = the long was the better side; the direction model sees in-play rows.

    The two boosters are independent unless the direction model's validation slice is
    uninformative (then it trains as many rounds as the in-play one kept). With one thread
    each, the direction booster trains in a thread beside the in-play one (LightGBM releases
    the GIL); with more, each booster has them all in turn, as more OpenMP threads than
    cores spin against each other. Each text model is the one training them in turn gives."""
    up_v = up_valid[y_valid]
    informative = min(int(up_v.sum()), int((~up_v).sum())) >= MIN_VALID_CLASS_ROWS

    def direction_booster(fixed_rounds: int | None) -> str:
        return train_booster(
            x_train[y_train],
            up_train[y_train],
            x_valid[y_valid],
            up_v,
            names,
            params,
            fixed_rounds=fixed_rounds,
        )

    if informative and params.num_threads == 1:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csx-direction") as pool:
            pending = pool.submit(direction_booster, None)
            model = train_booster(x_train, y_train, x_valid, y_valid, names, params)
            direction = pending.result()
        best = _trees(model)
    else:
        model = train_booster(x_train, y_train, x_valid, y_valid, names, params)
        best = _trees(model)
        direction = direction_booster(None if informative else max(best, 10))
    return TrainedLgbm(
        model_text=model,
        direction_text=direction,
        names=names,
        centers=_finite_medians(x_train),
        best_iteration=best,
    )


def _finite_medians(x: FloatArray) -> FloatArray:
    """Per-column median of the finite values (0 for a column with none)."""
    out = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        col = x[:, j]
        col = col[np.isfinite(col)]
        if len(col):
            out[j] = float(np.median(col))
    return out
