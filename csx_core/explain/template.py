"""The deterministic explanation: what the mock explainer says and what every fallback shows.

Built only from the evidence, so it always passes the guardrails (a property test holds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csx_core.contracts.explain import (
    MAX_EXPLANATION_CHARS,
    ExplainSource,
    ExplainStatus,
    LLMExplainInput,
    LLMExplainOutput,
)
from csx_core.contracts.reasons import ReasonCode
from csx_core.contracts.snapshots import Direction

_DATA_PROBLEMS = frozenset({ReasonCode.STALE_DATA, ReasonCode.DATA_GAP})


@dataclass(frozen=True, slots=True)
class StatusThresholds:
    """Probability cut-offs (fractions) for the template's status label."""

    in_play_p: float = 0.6
    watch_p: float = 0.35

    def __post_init__(self) -> None:
        if not 0.0 <= self.watch_p <= self.in_play_p <= 1.0:
            raise ValueError(
                f"need 0 <= watch_p <= in_play_p <= 1, got {self.watch_p}, {self.in_play_p}"
            )


DEFAULT_THRESHOLDS = StatusThresholds()


def template_status(
    evidence: LLMExplainInput, thresholds: StatusThresholds = DEFAULT_THRESHOLDS
) -> ExplainStatus:
    """NOT_TRADABLE when the data is suspect or the backtest net edge is known and not
    positive; otherwise (an unknown edge included) by probability: IN_PLAY, WATCH, FADING."""
    codes = {r.code for r in evidence.reasons}
    edge = evidence.backtest_net_edge_bps
    if codes & _DATA_PROBLEMS or (edge is not None and edge <= 0):
        return ExplainStatus.NOT_TRADABLE
    if evidence.p_inplay >= thresholds.in_play_p:
        return ExplainStatus.IN_PLAY
    if evidence.p_inplay >= thresholds.watch_p:
        return ExplainStatus.WATCH
    return ExplainStatus.FADING


def format_value(value: float) -> str:
    """A short rendering of a feature value that the guardrails read back as itself."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1 or value == 0:
        return f"{value:.2f}"
    text = f"{value:.3g}"
    return text if "e" not in text else f"{value:.2e}"


DIRECTION_WORDS = {
    Direction.UP: "upward",
    Direction.DOWN: "downward",
    Direction.EITHER: "either way",
    Direction.FLAT: "either way",  # stored data only: no direction was called
}


def signed_bps(value: float) -> str:
    """``+3.2`` / ``−3.2`` (U+2212): the sign is written, so the guardrails check it."""
    return f"{value:+.1f}".replace("-", "\u2212")


def template_text(evidence: LLMExplainInput) -> str:
    """Two sentences: odds, direction (or "either way") and the backtest net edge (or
    "unknown") with the costs; then the top reasons. The probability is a whole percent and
    the edge is at 0.1 bps: the precision ``csx_core.explain.binding`` matches rows at."""
    costs = f"{evidence.costs.total_bps:.1f} bps of costs"
    edge = evidence.backtest_net_edge_bps
    edge_text = (
        f"backtest net edge unknown ({costs})"
        if edge is None
        else f"backtest net edge of {signed_bps(edge)} bps per trade after {costs}"
    )
    first = (
        f"{evidence.symbol} has a {evidence.p_inplay * 100:.0f}% in-play probability, "
        f"direction {DIRECTION_WORDS[evidence.direction]}, {edge_text}."
    )
    parts = [f"{r.code.label} ({r.feature} {format_value(r.value)})" for r in evidence.reasons]
    text = first
    for n in range(len(parts), 0, -1):
        candidate = f"{first} Drivers: {', '.join(parts[:n])}."
        if len(candidate) <= MAX_EXPLANATION_CHARS:
            text = candidate
            break
    if len(text) > MAX_EXPLANATION_CHARS:
        text = text[: MAX_EXPLANATION_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text


def written_for(evidence: LLMExplainInput) -> dict[str, Any]:
    """The fields binding an output to the tick and numbers of its packet."""
    return {
        "symbol": evidence.symbol,
        "ts": evidence.ts,
        "p_inplay": evidence.p_inplay,
        "direction": evidence.direction,
        "direction_confidence": evidence.direction_confidence,
        "backtest_net_edge_bps": evidence.backtest_net_edge_bps,
    }


def template_output(
    evidence: LLMExplainInput,
    *,
    rejected: str | None = None,
    thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
) -> LLMExplainOutput:
    """The template as a checked output; ``rejected`` records why an LLM answer was not used."""
    return LLMExplainOutput(
        **written_for(evidence),
        text=template_text(evidence),
        status=template_status(evidence, thresholds),
        source=ExplainSource.TEMPLATE,
        rejected=rejected,
    )
