"""Versioned data contracts: the single vocabulary shared by every part of CryptoScreener-X."""

from csx_core.contracts.base import Contract, ContractError, records_equal
from csx_core.contracts.events import (
    DESCRIPTORS,
    EVENT_DESCRIPTORS,
    EVENT_KINDS,
    EVENT_TYPES,
    KIND_ORDER,
    BookTop,
    Kline,
    Liquidation,
    MarketEvent,
    MarkPrice,
    Side,
    Trade,
    event_kind,
    market_event_from_json,
)
from csx_core.contracts.explain import (
    MAX_EXPLANATION_CHARS,
    MAX_REASONS,
    CostBreakdown,
    ExplainSource,
    ExplainStatus,
    LLMExplainInput,
    LLMExplainOutput,
    ReasonEvidence,
)
from csx_core.contracts.kinds import EventDescriptor, RowRules
from csx_core.contracts.reasons import ReasonCode
from csx_core.contracts.snapshots import (
    Direction,
    FeatureSnapshot,
    PredictionSnapshot,
    RankAction,
    RankEvent,
)

ALL_CONTRACTS: tuple[type[Contract], ...] = (
    *EVENT_TYPES,
    FeatureSnapshot,
    PredictionSnapshot,
    RankEvent,
    LLMExplainInput,
    LLMExplainOutput,
)

__all__ = [
    "ALL_CONTRACTS",
    "DESCRIPTORS",
    "EVENT_DESCRIPTORS",
    "EVENT_KINDS",
    "EVENT_TYPES",
    "KIND_ORDER",
    "MAX_EXPLANATION_CHARS",
    "MAX_REASONS",
    "BookTop",
    "Contract",
    "ContractError",
    "CostBreakdown",
    "Direction",
    "EventDescriptor",
    "ExplainSource",
    "ExplainStatus",
    "FeatureSnapshot",
    "Kline",
    "LLMExplainInput",
    "LLMExplainOutput",
    "Liquidation",
    "MarkPrice",
    "MarketEvent",
    "PredictionSnapshot",
    "RankAction",
    "RankEvent",
    "ReasonCode",
    "ReasonEvidence",
    "RowRules",
    "Side",
    "Trade",
    "event_kind",
    "market_event_from_json",
    "records_equal",
]
