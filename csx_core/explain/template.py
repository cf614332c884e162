"""The deterministic explanation: what the mock explainer says and what every fallback shows.

Built only from the evidence, so it always passes the guardrails (a property test holds it).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """NOT_TRADABLE when the data is suspect or the edge does not cover costs; otherwise by
    probability: IN_PLAY, WATCH, or FADING."""
    codes = {r.code for r in evidence.reasons}
    if codes & _DATA_PROBLEMS or evidence.expected_net_edge_bps <= 0:
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


_DIRECTION = {Direction.UP: "upward", Direction.DOWN: "downward", Direction.FLAT: "no clear"}


def template_text(evidence: LLMExplainInput) -> str:
    """Two sentences: odds, direction and edge after costs; then the top reasons."""
    first = (
        f"{evidence.symbol} has a {evidence.p_inplay * 100:.0f}% in-play probability with "
        f"{_DIRECTION[evidence.direction]} direction and an expected net edge of "
        f"{evidence.expected_net_edge_bps:.1f} bps after {evidence.costs.total_bps:.1f} bps "
        "of costs."
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


def template_output(
    evidence: LLMExplainInput,
    *,
    rejected: str | None = None,
    thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
) -> LLMExplainOutput:
    """The template as a checked output; ``rejected`` records why an LLM answer was not used."""
    return LLMExplainOutput(
        symbol=evidence.symbol,
        ts=evidence.ts,
        text=template_text(evidence),
        status=template_status(evidence, thresholds),
        source=ExplainSource.TEMPLATE,
        rejected=rejected,
    )
