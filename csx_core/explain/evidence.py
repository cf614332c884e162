"""Building the evidence packet from what the scorer produced: nothing else goes in."""

from __future__ import annotations

import math
from collections.abc import Mapping

from csx_core.contracts.explain import (
    MAX_REASONS,
    CostBreakdown,
    LLMExplainInput,
    ReasonEvidence,
)
from csx_core.contracts.reasons import ReasonCode
from csx_core.contracts.snapshots import FeatureSnapshot, PredictionSnapshot


def reason_evidence(
    codes: tuple[ReasonCode, ...],
    features: FeatureSnapshot,
    feature_for: Mapping[ReasonCode, str],
    *,
    limit: int = MAX_REASONS,
) -> tuple[ReasonEvidence, ...]:
    """Pair each reason code (in the scorer's order) with the value of the feature behind it.

    A code without a mapped feature, or whose feature is missing or not finite in this
    snapshot, is left out: the packet never carries a number the engine did not compute.
    """
    index = {name: i for i, name in enumerate(features.names)}
    out: list[ReasonEvidence] = []
    for code in codes:
        name = feature_for.get(code)
        i = index.get(name) if name is not None else None
        if name is None or i is None or not math.isfinite(features.values[i]):
            continue
        out.append(ReasonEvidence(code=code, feature=name, value=features.values[i]))
        if len(out) == limit:
            break
    return tuple(out)


def build_evidence(
    prediction: PredictionSnapshot,
    reasons: tuple[ReasonEvidence, ...],
    costs: CostBreakdown,
) -> LLMExplainInput:
    """The packet for one prediction: symbol, probability, direction (and its confidence), the
    backtest net edge (None stays None: unknown), reasons, costs."""
    return LLMExplainInput(
        symbol=prediction.symbol,
        ts=prediction.ts,
        p_inplay=prediction.p_inplay,
        direction=prediction.direction,
        direction_confidence=prediction.direction_confidence,
        backtest_net_edge_bps=prediction.backtest_net_edge_bps,
        reasons=reasons[:MAX_REASONS],
        costs=costs,
    )
