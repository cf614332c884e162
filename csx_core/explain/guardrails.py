"""Checks an LLM answer must pass before a trader sees it; any failure means the template.

Order of checks (the first failure is the reason counted): the answer parses, the text is not
empty, the status is one of :class:`ExplainStatus`, the length and sentence limits hold, there
is no markup, no other instrument is named, no number is new (see
:mod:`csx_core.explain.numbers` for what a number is and when it matches), and the text does
not call a direction the packet does not (an UP row is never "downward"; an EITHER row names
neither side alone).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from csx_core.contracts.explain import (
    MAX_EXPLANATION_CHARS,
    ExplainSource,
    ExplainStatus,
    LLMExplainInput,
    LLMExplainOutput,
)
from csx_core.contracts.snapshots import Direction
from csx_core.explain.numbers import first_new_number
from csx_core.explain.prompt import AnswerFormatError, parse_answer
from csx_core.explain.template import (
    DEFAULT_THRESHOLDS,
    StatusThresholds,
    template_output,
    written_for,
)


class Rejection(enum.StrEnum):
    """Why an LLM answer was discarded (stored in ``LLMExplainOutput.rejected``, a metric label)."""

    MALFORMED = "MALFORMED"
    EMPTY = "EMPTY"
    BAD_STATUS = "BAD_STATUS"
    TOO_LONG = "TOO_LONG"
    MARKUP = "MARKUP"
    OTHER_SYMBOL = "OTHER_SYMBOL"
    NEW_NUMBER = "NEW_NUMBER"
    WRONG_DIRECTION = "WRONG_DIRECTION"


@dataclass(frozen=True, slots=True)
class GuardrailPolicy:
    max_chars: int = MAX_EXPLANATION_CHARS
    max_sentences: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.max_chars <= MAX_EXPLANATION_CHARS:
            raise ValueError(f"max_chars must be in [1, {MAX_EXPLANATION_CHARS}]")
        if self.max_sentences < 1:
            raise ValueError(f"max_sentences must be >= 1, got {self.max_sentences}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``rejection`` is ``None`` when the answer passed; ``detail`` names the offending bit."""

    rejection: Rejection | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.rejection is None


PASSED = Verdict(None)
DEFAULT_POLICY = GuardrailPolicy()

QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "USD", "PERP")
# Well-known base assets and coin names a model might drag in from its training data.
KNOWN_BASES = frozenset(
    [
        "BTC",
        "ETH",
        "SOL",
        "BNB",
        "XRP",
        "DOGE",
        "ADA",
        "AVAX",
        "DOT",
        "LINK",
        "LTC",
        "TRX",
        "TON",
        "SHIB",
        "PEPE",
        "SUI",
        "APT",
        "ARB",
        "OP",
        "NEAR",
        "ATOM",
        "FIL",
        "MATIC",
        "POL",
        "UNI",
        "AAVE",
        "BCH",
        "ETC",
        "XLM",
        "WIF",
        "INJ",
        "TIA",
        "SEI",
        "HBAR",
        "ICP",
        "RNDR",
        "FET",
        "TAO",
    ]
)
COIN_NAMES = frozenset(
    [
        "bitcoin",
        "ether",
        "ethereum",
        "solana",
        "ripple",
        "dogecoin",
        "cardano",
        "avalanche",
        "polkadot",
        "chainlink",
        "litecoin",
        "tron",
        "toncoin",
        "shiba",
        "polygon",
        "cosmos",
    ]
)

_MARKUP = [
    re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"),  # HTML tags (not "p < 0.5 >")
    re.compile(r"&(?:[A-Za-z]+|#\d+);"),  # HTML entities
    re.compile(r"[`*|]|~~|__|\]\("),  # markdown code, emphasis, tables, strike, links
    re.compile(r"(?m)^\s*(?:#{1,6}\s|[-+]\s|\d+\.\s|>)"),  # headings, lists, quotes
    re.compile(r"https?://|www\."),
    re.compile(r"[\x00-\x1f\x7f]"),  # newlines and other control characters: one paragraph
]
_PAIR = re.compile(r"\b[A-Za-z0-9]{2,20}?(?:" + "|".join(QUOTE_ASSETS) + r")\b", re.IGNORECASE)
_CAPS = re.compile(r"\b[A-Z][A-Z0-9]{1,9}\b")
_WORD = re.compile(r"[A-Za-z]+")
# Words that call a side. Plain "up"/"down" are left out: "volume picking up" calls nothing.
_UP_WORDS = re.compile(r"\b(?:upward|upwards|upside|bullish)\b", re.IGNORECASE)
_DOWN_WORDS = re.compile(r"\b(?:downward|downwards|downside|bearish)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s+[\"'(]?[A-Z0-9]|\s*$)")


def base_asset(symbol: str) -> str:
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def _named_in_evidence(evidence: LLMExplainInput) -> frozenset[str]:
    """Upper-cased words of the packet (reason labels, codes, feature names): a name the
    evidence itself uses (e.g. BTC in "Decoupled from BTC") may be repeated."""
    words: set[str] = {evidence.symbol, base_asset(evidence.symbol)}
    for r in evidence.reasons:
        for source in (r.code.label, r.code.value, r.feature):
            words.update(w.upper() for w in _WORD.findall(source.replace("_", " ")))
    return frozenset(words)


def allowed_words(evidence: LLMExplainInput) -> frozenset[str]:
    """Digit-bearing words the text may contain: the symbol and the feature names."""
    return frozenset({evidence.symbol, *(r.feature for r in evidence.reasons)})


def other_symbol(text: str, evidence: LLMExplainInput) -> str | None:
    """The first instrument named in ``text`` that is not the evidence's, or ``None``."""
    own = _named_in_evidence(evidence)
    for m in _PAIR.finditer(text):
        token = m.group(0).upper()
        if token not in own and token not in QUOTE_ASSETS and base_asset(token) not in own:
            return m.group(0)
    for m in _CAPS.finditer(text):
        if m.group(0) in KNOWN_BASES and m.group(0) not in own:
            return m.group(0)
    for m in _WORD.finditer(text):
        if m.group(0).lower() in COIN_NAMES:
            return m.group(0)
    return None


def wrong_direction(text: str, direction: Direction) -> str | None:
    """The first word calling a side the packet does not call, or ``None``. An EITHER (or
    stored FLAT) row may name both sides ("either upward or downward") but not one alone."""
    up, down = _UP_WORDS.search(text), _DOWN_WORDS.search(text)
    if direction is Direction.UP:
        return down.group(0) if down else None
    if direction is Direction.DOWN:
        return up.group(0) if up else None
    alone = up if down is None else down if up is None else None
    return alone.group(0) if alone is not None else None


def sentence_count(text: str) -> int:
    return max(1, len(_SENTENCE_END.findall(text.strip())))


def check_explanation(
    evidence: LLMExplainInput,
    status: str,
    text: str,
    policy: GuardrailPolicy = DEFAULT_POLICY,
) -> Verdict:
    """Check a parsed answer (status label and text) against the evidence."""
    if not text.strip():
        return Verdict(Rejection.EMPTY)
    if status not in ExplainStatus.__members__:
        return Verdict(Rejection.BAD_STATUS, status[:40])
    if len(text) > policy.max_chars:
        return Verdict(Rejection.TOO_LONG, f"{len(text)} chars")
    if sentence_count(text) > policy.max_sentences:
        return Verdict(Rejection.TOO_LONG, f"{sentence_count(text)} sentences")
    for pattern in _MARKUP:
        found = pattern.search(text)
        if found:
            return Verdict(Rejection.MARKUP, found.group(0))
    named = other_symbol(text, evidence)
    if named is not None:
        return Verdict(Rejection.OTHER_SYMBOL, named)
    number = first_new_number(text, evidence, allowed_words(evidence))
    if number is not None:
        return Verdict(Rejection.NEW_NUMBER, number)
    side = wrong_direction(text, evidence.direction)
    if side is not None:
        return Verdict(Rejection.WRONG_DIRECTION, side)
    return PASSED


def check_answer(
    evidence: LLMExplainInput, raw: str, policy: GuardrailPolicy = GuardrailPolicy()
) -> Verdict:
    """Parse the model's raw reply and check it."""
    try:
        answer = parse_answer(raw)
    except AnswerFormatError as exc:
        return Verdict(Rejection.MALFORMED, str(exc))
    return check_explanation(evidence, answer.status, answer.text, policy)


def guard(
    evidence: LLMExplainInput,
    raw: str,
    *,
    policy: GuardrailPolicy = DEFAULT_POLICY,
    thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
) -> tuple[LLMExplainOutput, Verdict]:
    """The LLM's explanation if it passes, else the template with the rejection recorded."""
    verdict = check_answer(evidence, raw, policy)
    if verdict.rejection is not None:
        return template_output(
            evidence, rejected=verdict.rejection.value, thresholds=thresholds
        ), verdict
    answer = parse_answer(raw)
    output = LLMExplainOutput(
        **written_for(evidence),
        text=answer.text.strip(),
        status=ExplainStatus(answer.status),
        source=ExplainSource.LLM,
    )
    return output, verdict
