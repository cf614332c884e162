"""Shadow challenger: a second scorer that scores the champion's ticks and is only judged.

``ShadowScorer`` turns a tick's feature matrix into a :class:`PredictionBatch` under role
``challenger``; it has no ranker, no alerter and no reason codes (they are not needed to be
judged, and TreeSHAP would double the tick cost), so nothing it says reaches a user. The
resolver labels its predictions beside the champion's. A challenger whose label definition
(cost-model version, horizon, threshold, tick) differs from the champion's answers a
different question: give it its own resolver (see ``OutcomeResolver.accepts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.features import FEATURE_INDEX, TickFrame
from csx_core.ml.labels import LabelConfig
from csx_core.ml.scorer import Scorer
from csx_core.outcomes.predictions import CHALLENGER, PredictionBatch

F64 = npt.NDArray[np.float64]
_NO_REASONS = np.empty(0, dtype=np.int64)


def label_config_of(training: Mapping[str, Any]) -> LabelConfig:
    """The label definition a model was trained on (a package's ``training.json``, e.g.
    ``PackagedScorer.contents.training``)."""
    return LabelConfig(**training["labels"])


class ShadowScorer:
    """Scores with ``scorer`` and hands back predictions for the resolver, nothing else."""

    def __init__(self, scorer: Scorer, *, role: str = CHALLENGER) -> None:
        unknown = [n for n in scorer.feature_names if n not in FEATURE_INDEX]
        if unknown:
            raise ValueError(f"challenger {scorer.model_id} needs unknown features {unknown}")
        self.scorer = scorer
        self.role = role
        self.columns = np.array([FEATURE_INDEX[n] for n in scorer.feature_names], np.int64)

    @property
    def model_id(self) -> str:
        return self.scorer.model_id

    def score(self, symbols: Sequence[str], x: F64) -> PredictionBatch:
        """``x``: rows × the challenger's own ``feature_names``."""
        scores = self.scorer.score(x, reason_rows=_NO_REASONS)
        return PredictionBatch.from_scores(self.role, self.scorer.model_id, symbols, scores)

    def score_frame(self, frame: TickFrame) -> PredictionBatch:
        """Every row of a feature-engine tick (columns picked by the challenger's names)."""
        return self.score(frame.symbols, frame.values[:, self.columns])
