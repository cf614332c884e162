"""The prompt: the evidence packet and nothing else, and the reply format we parse.

The model answers with one JSON object ``{"status": <label>, "text": <1–2 sentences>}``;
anything else is MALFORMED. A ```json fence around the object is tolerated (models add one
despite being told not to); the text inside is still checked for markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from csx_core.contracts.explain import ExplainStatus, LLMExplainInput

STATUS_LABELS: tuple[str, ...] = tuple(s.value for s in ExplainStatus)

SYSTEM_PROMPT = (
    "You explain a crypto futures screener's signal to a trader. You receive one JSON "
    "evidence packet. Reply with exactly one JSON object and nothing else: "
    '{"status": LABEL, "text": EXPLANATION}. '
    f"LABEL is one of {', '.join(STATUS_LABELS)}: IN_PLAY (likely to move enough to trade "
    "net of costs), WATCH (building up), FADING (weak or weakening), NOT_TRADABLE (the "
    "backtest net edge is known and not positive, or the data is stale or gapped). "
    "EXPLANATION is one or two plain sentences, at most 300 characters, no markdown, no "
    "lists, no line breaks. The packet's backtest_net_edge_bps is what the backtest measured "
    'per trade, net of costs, for rows like this one; when it is "unknown" say the edge is '
    "unknown and state no edge. direction EITHER means no direction is called: say it could "
    "move either way, never up or down. Rules: use only numbers that appear in the packet "
    "(you may round them, or write a probability as a percentage); never compute new numbers "
    "such as sums or differences; never mention any instrument other than the packet's "
    "symbol; do not give trading advice or price targets."
)

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    user: str


def _known(value: float | None) -> float | str:
    return UNKNOWN if value is None else value


def evidence_json(evidence: LLMExplainInput) -> str:
    """The packet as the model sees it: reason codes with their labels, numbers as computed,
    "unknown" where the system has no number."""
    c = evidence.costs
    packet = {
        "symbol": evidence.symbol,
        "p_inplay": evidence.p_inplay,
        "direction": evidence.direction.value,
        "direction_confidence": _known(evidence.direction_confidence),
        "backtest_net_edge_bps": _known(evidence.backtest_net_edge_bps),
        "reasons": [
            {"code": r.code.value, "label": r.code.label, "feature": r.feature, "value": r.value}
            for r in evidence.reasons
        ],
        "costs_bps": {
            "fee": c.fee_bps,
            "half_spread": c.half_spread_bps,
            "slippage": c.slippage_bps,
            "funding": c.funding_bps,
            "total": c.total_bps,
        },
    }
    return json.dumps(packet, separators=(",", ":"), allow_nan=False)


def build_prompt(evidence: LLMExplainInput) -> Prompt:
    return Prompt(system=SYSTEM_PROMPT, user=f"Evidence packet:\n{evidence_json(evidence)}")


class AnswerFormatError(ValueError):
    """The reply is not the JSON object we asked for."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    text: str


def parse_answer(raw: str) -> Answer:
    """Parse ``{"status": str, "text": str}`` (optionally in a ```json fence); no other keys."""
    body = raw.strip()
    if body.startswith("```"):
        body = body.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise AnswerFormatError(f"not JSON: {exc.msg}") from exc
    if not isinstance(value, dict) or set(value) != {"status", "text"}:
        raise AnswerFormatError('expected exactly {"status", "text"}')
    status, text = value["status"], value["text"]
    if not isinstance(status, str) or not isinstance(text, str):
        raise AnswerFormatError("status and text must be strings")
    return Answer(status=status.strip(), text=text)
