"""One role's predictions at one tick, as arrays (what the resolver consumes).

The runner already holds ``Scores`` per tick; building a ``PredictionSnapshot`` per symbol
just to hand it over would cost more than resolving it, so the batch keeps arrays.
``role`` is a low-cardinality label (``champion``, ``challenger``) under which resolved
metrics are kept.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from csx_core.contracts import Direction, PredictionSnapshot
from csx_core.ml.scorer import Scores

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]

CHAMPION = "champion"
CHALLENGER = "challenger"

_DIRECTION_SIGN = {Direction.UP: 1, Direction.DOWN: -1, Direction.EITHER: 0, Direction.FLAT: 0}


@dataclass(frozen=True)
class PredictionBatch:
    """Per symbol: calibrated ``p`` (in-play probability), predicted ``direction`` (+1 up,
    −1 down, 0 flat) and optionally ``top_k`` (was the symbol in the role's top-K at this
    tick; None lets the resolver take the K highest ``p``)."""

    role: str
    model_id: str
    symbols: Sequence[str]
    p: FloatArray
    direction: Int8Array
    top_k: BoolArray | None = None

    def __post_init__(self) -> None:
        if not self.role:
            raise ValueError("role must not be empty")
        n = len(self.symbols)
        if len(self.p) != n or len(self.direction) != n:
            raise ValueError(
                f"{n} symbols but {len(self.p)} probabilities, {len(self.direction)} directions"
            )
        if self.top_k is not None and len(self.top_k) != n:
            raise ValueError(f"{n} symbols but {len(self.top_k)} top_k flags")

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def from_scores(
        cls,
        role: str,
        model_id: str,
        symbols: Sequence[str],
        scores: Scores,
        top_k: BoolArray | None = None,
    ) -> PredictionBatch:
        return cls(
            role=role,
            model_id=model_id,
            symbols=symbols,
            p=np.asarray(scores.p, dtype=np.float64),
            direction=np.sign(scores.direction).astype(np.int8),
            top_k=top_k,
        )

    @classmethod
    def from_snapshots(
        cls,
        role: str,
        snapshots: Sequence[PredictionSnapshot],
        top_k_symbols: Collection[str] | None = None,
    ) -> PredictionBatch:
        """One tick's snapshots of one model (``model_id`` taken from the first)."""
        if len({s.ts for s in snapshots}) > 1:
            raise ValueError("snapshots of one batch must share one tick ts")
        symbols = [s.symbol for s in snapshots]
        top = None
        if top_k_symbols is not None:
            top = np.array([s in top_k_symbols for s in symbols], dtype=bool)
        return cls(
            role=role,
            model_id=snapshots[0].model_id if snapshots else "",
            symbols=symbols,
            p=np.array([s.p_inplay for s in snapshots], dtype=np.float64),
            direction=np.array([_DIRECTION_SIGN[s.direction] for s in snapshots], dtype=np.int8),
            top_k=top,
        )
