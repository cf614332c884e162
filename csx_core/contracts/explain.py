"""The LLM's evidence packet and its checked answer.

The packet holds only numbers the system computed; the guardrails reject any explanation
that mentions a number not in it. The answer records the tick and the numbers it was written
for (``ts``, ``p_inplay``, ``direction``, ``backtest_net_edge_bps``), so a reader can tell
whether it still describes a row (``csx_core.explain.binding``).
"""

from __future__ import annotations

import enum
from typing import ClassVar

from csx_core.contracts.base import (
    Contract,
    require,
    require_finite,
    require_non_negative,
    require_probability,
    require_symbol,
)
from csx_core.contracts.reasons import ReasonCode
from csx_core.contracts.snapshots import Direction

MAX_REASONS = 5
MAX_EXPLANATION_CHARS = 400


class ExplainStatus(enum.StrEnum):
    """The fixed set of labels an explanation may carry."""

    IN_PLAY = "IN_PLAY"
    WATCH = "WATCH"
    FADING = "FADING"
    NOT_TRADABLE = "NOT_TRADABLE"


class ExplainSource(enum.StrEnum):
    LLM = "LLM"
    TEMPLATE = "TEMPLATE"


class ReasonEvidence(Contract, frozen=True, kw_only=True):
    """One reason code with the feature value that triggered it."""

    code: ReasonCode
    feature: str
    value: float

    def __post_init__(self) -> None:
        require(self, bool(self.feature), "feature", "must not be empty")
        require_finite(self, "value")


class CostBreakdown(Contract, frozen=True, kw_only=True):
    """Round-trip trading cost in basis points of notional, as the cost model priced it."""

    fee_bps: float
    half_spread_bps: float
    slippage_bps: float
    funding_bps: float
    total_bps: float

    def __post_init__(self) -> None:
        require_non_negative(self, "fee_bps", "half_spread_bps", "slippage_bps")
        require_finite(self, "funding_bps", "total_bps")
        parts = self.fee_bps + self.half_spread_bps + self.slippage_bps + self.funding_bps
        require(
            self,
            abs(parts - self.total_bps) <= 1e-6 * max(1.0, abs(parts)),
            "total_bps",
            f"{self.total_bps} is not the sum of its parts ({parts})",
        )


class LLMExplainInput(Contract, frozen=True, kw_only=True):
    """One prediction's evidence. ``backtest_net_edge_bps`` is the edge the backtest measured
    per trade for rows like this one (``csx_core.ml.edge``), None when unknown (no direction
    called, or too few trades backing its bucket): never a number the packet shows then.
    ``direction_confidence`` is the calibrated probability of the called side (None: none)."""

    SCHEMA_VERSION: ClassVar[int] = 2
    symbol: str
    ts: int
    p_inplay: float
    direction: Direction
    direction_confidence: float | None = None
    backtest_net_edge_bps: float | None
    reasons: tuple[ReasonEvidence, ...]
    costs: CostBreakdown

    def __post_init__(self) -> None:
        require_symbol(self)
        require(self, self.ts >= 0, "ts", f"must be >= 0 ns, got {self.ts}")
        require_probability(self, "p_inplay")
        if self.backtest_net_edge_bps is not None:
            require_finite(self, "backtest_net_edge_bps")
        if self.direction_confidence is not None:
            require_probability(self, "direction_confidence")
        require(
            self,
            len(self.reasons) <= MAX_REASONS,
            "reasons",
            f"at most {MAX_REASONS} reasons, got {len(self.reasons)}",
        )


class LLMExplainOutput(Contract, frozen=True, kw_only=True):
    """A checked explanation, bound to what it was written for: the tick ``ts`` (ns) and the
    packet's ``p_inplay``, ``direction``, ``direction_confidence`` and
    ``backtest_net_edge_bps`` (None: unknown).
    ``rejected`` says why an LLM answer was discarded (the text is then the template's)."""

    SCHEMA_VERSION: ClassVar[int] = 2
    symbol: str
    ts: int
    p_inplay: float
    direction: Direction
    direction_confidence: float | None = None
    backtest_net_edge_bps: float | None
    text: str
    status: ExplainStatus
    source: ExplainSource
    rejected: str | None = None

    def __post_init__(self) -> None:
        require_symbol(self)
        require(self, self.ts >= 0, "ts", f"must be >= 0 ns, got {self.ts}")
        require_probability(self, "p_inplay")
        if self.backtest_net_edge_bps is not None:
            require_finite(self, "backtest_net_edge_bps")
        if self.direction_confidence is not None:
            require_probability(self, "direction_confidence")
        require(self, bool(self.text.strip()), "text", "must not be empty")
        require(
            self,
            len(self.text) <= MAX_EXPLANATION_CHARS,
            "text",
            f"at most {MAX_EXPLANATION_CHARS} characters, got {len(self.text)}",
        )
