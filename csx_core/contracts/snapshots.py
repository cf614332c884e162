"""What the engine, the scorer and the ranker emit every tick."""

from __future__ import annotations

import enum
import math
from typing import ClassVar, Self

import msgspec

from csx_core.contracts.base import (
    Contract,
    ContractError,
    as_contract_error,
    require,
    require_finite,
    require_probability,
    require_symbol,
)
from csx_core.contracts.reasons import ReasonCode


class Direction(enum.StrEnum):
    """Which way the expected move points. ``EITHER``: no direction is called (the direction
    model's calibrated confidence is below the threshold chosen on the calibration fold).
    ``FLAT`` is kept for stored data only; nothing emits it any more."""

    UP = "UP"
    DOWN = "DOWN"
    EITHER = "EITHER"
    FLAT = "FLAT"


class FeatureSnapshot(Contract, frozen=True, kw_only=True):
    """One symbol's feature vector at one event-time tick.

    ``ts`` is the tick boundary in ns: the snapshot sees every event with ``ts_event < ts``.
    ``values`` may hold NaN (a feature that cannot be computed from the data at hand); JSON
    writes NaN as ``null``. ``warm`` is false until every window has been fully observed;
    ``gap`` is true when any window overlaps a known data gap.
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    symbol: str
    ts: int
    feature_version: str
    names: tuple[str, ...]
    values: tuple[float, ...]
    warm: bool
    gap: bool

    def __post_init__(self) -> None:
        require_symbol(self)
        require(self, self.ts >= 0, "ts", f"must be >= 0 ns, got {self.ts}")
        require(self, bool(self.feature_version), "feature_version", "must not be empty")
        require(
            self,
            len(self.names) == len(self.values),
            "values",
            f"{len(self.values)} values for {len(self.names)} names",
        )
        require(self, len(set(self.names)) == len(self.names), "names", "must be unique")
        for name, value in zip(self.names, self.values, strict=True):
            if math.isinf(value):
                raise ContractError(type(self).__name__, "values", f"{name} is infinite")

    def value(self, name: str) -> float:
        return self.values[self.names.index(name)]

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        # NaN travels as null in JSON; decode through a mirror that admits null.
        try:
            raw = msgspec.json.decode(data, type=_FeatureSnapshotJson)
        except msgspec.ValidationError as exc:
            raise as_contract_error(cls.__name__, exc) from exc
        except msgspec.DecodeError as exc:
            raise ContractError(cls.__name__, "$", f"malformed JSON: {exc}") from exc
        return cls(
            symbol=raw.symbol,
            ts=raw.ts,
            feature_version=raw.feature_version,
            names=raw.names,
            values=tuple(math.nan if v is None else v for v in raw.values),
            warm=raw.warm,
            gap=raw.gap,
        )


class _FeatureSnapshotJson(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    symbol: str
    ts: int
    feature_version: str
    names: tuple[str, ...]
    values: tuple[float | None, ...]
    warm: bool
    gap: bool


class PredictionSnapshot(Contract, frozen=True, kw_only=True):
    """The scorer's output for one symbol at one tick.

    ``p_inplay`` is the calibrated probability that the best move within the horizon beats
    the cost model by the label threshold; ``direction_confidence`` the calibrated
    probability of the called side (None: not known); ``backtest_net_edge_bps`` what the
    backtest measured per trade, net of fees, spread and slippage, for rows like this one
    (its probability and confidence bucket; see csx_core.ml.edge) — None where the backtest
    does not back a number (no direction called, or too few trades in the bucket).
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    symbol: str
    ts: int
    p_inplay: float
    raw_score: float
    direction: Direction
    direction_confidence: float | None = None
    backtest_net_edge_bps: float | None = None
    model_id: str
    reason_codes: tuple[ReasonCode, ...]

    def __post_init__(self) -> None:
        require_symbol(self)
        require(self, self.ts >= 0, "ts", f"must be >= 0 ns, got {self.ts}")
        require_probability(self, "p_inplay")
        require_finite(self, "raw_score")
        if self.backtest_net_edge_bps is not None:
            require_finite(self, "backtest_net_edge_bps")
        if self.direction_confidence is not None:
            require_probability(self, "direction_confidence")
        require(self, bool(self.model_id), "model_id", "must not be empty")
        require(
            self,
            len(set(self.reason_codes)) == len(self.reason_codes),
            "reason_codes",
            "must not repeat a code",
        )


class RankAction(enum.StrEnum):
    ENTER = "ENTER"
    EXIT = "EXIT"
    MOVE = "MOVE"


class RankEvent(Contract, frozen=True, kw_only=True):
    """A change in the top-K: a symbol entered, left, or moved. ``rank`` is 1-based; for
    EXIT it is the rank the symbol held last, and ``prev_rank`` is None only for ENTER."""

    SCHEMA_VERSION: ClassVar[int] = 1
    ts: int
    symbol: str
    action: RankAction
    rank: int
    prev_rank: int | None = None
    p_inplay: float
    reason_codes: tuple[ReasonCode, ...]

    def __post_init__(self) -> None:
        require_symbol(self)
        require(self, self.ts >= 0, "ts", f"must be >= 0 ns, got {self.ts}")
        require(self, self.rank >= 1, "rank", f"must be >= 1, got {self.rank}")
        require_probability(self, "p_inplay")
        if self.action is RankAction.ENTER:
            require(self, self.prev_rank is None, "prev_rank", "must be None on ENTER")
        else:
            require(
                self,
                self.prev_rank is not None and self.prev_rank >= 1,
                "prev_rank",
                f"must be >= 1 on {self.action}, got {self.prev_rank}",
            )
        if self.action is RankAction.MOVE:
            require(self, self.prev_rank != self.rank, "rank", "a MOVE must change the rank")
