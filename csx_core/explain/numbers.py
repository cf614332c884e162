"""What counts as a number in an explanation, and when it is "in the evidence".

The no-new-numbers guardrail reads every numeric token of the LLM's text and accepts it only
if some evidence number, in some allowed unit, rounds to it at the precision it is written
with. The rules (the tests pin each one):

Tokens
- A number is ``[sign] digits [.digits] [e±digits]`` not glued to a preceding letter, digit,
  underscore or dot; ``1,234,567`` (groups of three) is one number. ``−`` (U+2212) is a minus.
  A ``-`` between two digits (``3-5``) is a range dash, not a sign.
- Words that contain digits (``ret_5m``, ``1000PEPEUSDT``, ``v2``) are names, not numbers;
  they are allowed only if the evidence names them (its symbol, its feature names). A number
  with letters glued on that are not a unit below (``3rd``, ``5ms``) is such a word.
- Units glued to or one space after a number: ``%``/``percent``/``pct`` (percent),
  ``bps``/``bp``/``basis point(s)`` (basis points), ``x``/``×`` (a ratio, read as plain),
  ``k``/``K``, ``M``, ``B``/``bn`` (×1e3/1e6/1e9; lower-case ``m`` is *minutes*).
- Durations (``5m``, ``5 min``, ``5-minute``, ``1h``, ``24 hours``, ``30s``, ``1d``) are
  window names: allowed only if a feature name in the evidence has that window (``ret_5m``
  allows "5m", "5 minutes" and "300s"). "24h" is rejected unless a feature is a 24 h one.
- Spelled-out numbers ("two", "a third") are words and are not checked.

Matching (value written ``w`` with ``d`` decimals, so it claims ``|x - w| <= 0.5·10^-d``)
- A fraction-like evidence value ``v`` (probability, ratio, z-score) may be written plain
  (``v``, also ``v x``), as percent (``100·v``) or in bps (``10 000·v``).
- A bps evidence value (``*_bps`` fields, costs, the backtest edge) may be written plain or
  in bps (``v``) or as percent (``v / 100``).
- Rounding to the written precision is allowed (0.41237 → 0.41, 41 %, 41.2 %; 12.3 → 12,
  12.30); truncation that is not a rounding, and any derived number (sums, differences) is
  not. Thousands separators and trailing zeros are ignored.
- An unsigned number matches the magnitude (text says "a negative edge of 3.2 bps"); an
  explicit ``+``/``-`` must match the sign.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from csx_core.contracts.explain import LLMExplainInput


class Unit(enum.Enum):
    PLAIN = "plain"
    PERCENT = "percent"
    BPS = "bps"
    DURATION = "duration"


@dataclass(frozen=True, slots=True)
class EvidenceNumber:
    """One number of the evidence packet; ``is_bps`` says it is in basis points."""

    name: str
    value: float
    is_bps: bool

    def candidates(self, unit: Unit) -> tuple[float, ...]:
        """The values this number may be written as, in ``unit``."""
        v = self.value
        if unit is Unit.PERCENT:
            return (v / 100.0,) if self.is_bps else (v * 100.0,)
        if unit is Unit.BPS:
            return (v,) if self.is_bps else (v * 1e4,)
        return (v,)


@dataclass(frozen=True, slots=True)
class NumberToken:
    """A number as written: its value, the half-width of the interval it claims (its
    displayed precision), its unit and whether a sign was written."""

    text: str
    value: float
    half_ulp: float
    unit: Unit
    signed: bool


@dataclass(frozen=True, slots=True)
class WordToken:
    """A word containing a digit (``ret_5m``, ``3rd``): allowed only if the evidence names it."""

    text: str


_DURATION_SECONDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_MULTIPLIER = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "bn": 1e9}
_DURATION_ALT = "|".join(sorted(_DURATION_SECONDS, key=len, reverse=True))
_END = r"(?![A-Za-z0-9_])"

_TOKEN = re.compile(
    r"(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<sign>(?<![\w.])[+\-\u2212])?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<exp>[eE][+\-]?\d+(?![A-Za-z0-9_.]))?"
    r"(?:"
    r"(?P<pct>\s?(?:%|percent" + _END + r"|pct" + _END + r"))"
    r"|(?P<bps>\s?(?:bps|bp|basis\s+points?)" + _END + r")"
    r"|(?P<dur>(?:\s|-)?(?:" + _DURATION_ALT + r")" + _END + r")"
    r"|(?P<mult>(?:k|K|M|B|bn)" + _END + r")"
    r"|(?P<ratio>[x\u00d7]" + _END + r")"
    r")?"
    r"(?P<tail>[A-Za-z0-9_]+)?"
)


def tokenize(text: str) -> Iterator[NumberToken | WordToken]:
    """Yield every numeric token and every digit-bearing word of ``text`` in order."""
    for m in _TOKEN.finditer(text):
        if m["word"] is not None:
            if any(c.isdigit() for c in m["word"]):
                yield WordToken(m["word"])
            continue
        if m["tail"] is not None:
            yield WordToken(m.group(0).lstrip("+-\u2212"))
            continue
        yield _number(m)


def _number(m: re.Match[str]) -> NumberToken:
    raw = m["num"].replace(",", "")
    decimals = len(raw.partition(".")[2])
    scale = 10.0 ** int(m["exp"][1:]) if m["exp"] else 1.0
    unit = Unit.PLAIN
    if m["pct"]:
        unit = Unit.PERCENT
    elif m["bps"]:
        unit = Unit.BPS
    elif m["dur"]:
        unit = Unit.DURATION
        scale *= _DURATION_SECONDS[m["dur"].lstrip(" -\t\n")]
    elif m["mult"]:
        scale *= _MULTIPLIER[m["mult"]]
    sign = m["sign"]
    value = float(raw) * scale
    if sign in ("-", "\u2212"):
        value = -value
    return NumberToken(
        text=m.group(0),
        value=value,
        half_ulp=0.5 * 10.0**-decimals * scale,
        unit=unit,
        signed=sign is not None,
    )


def evidence_numbers(evidence: LLMExplainInput) -> tuple[EvidenceNumber, ...]:
    """Every number the packet shows the model (``ts`` is metadata and not shown; an unknown
    backtest edge or direction confidence is no number at all)."""
    c = evidence.costs
    numbers = [EvidenceNumber("p_inplay", evidence.p_inplay, is_bps=False)]
    # an unknown edge or confidence is not a number: the text may not state one
    if evidence.direction_confidence is not None:
        numbers.append(
            EvidenceNumber("direction_confidence", evidence.direction_confidence, is_bps=False)
        )
    if evidence.backtest_net_edge_bps is not None:
        numbers.append(
            EvidenceNumber("backtest_net_edge_bps", evidence.backtest_net_edge_bps, is_bps=True)
        )
    numbers += [
        EvidenceNumber("fee_bps", c.fee_bps, is_bps=True),
        EvidenceNumber("half_spread_bps", c.half_spread_bps, is_bps=True),
        EvidenceNumber("slippage_bps", c.slippage_bps, is_bps=True),
        EvidenceNumber("funding_bps", c.funding_bps, is_bps=True),
        EvidenceNumber("total_bps", c.total_bps, is_bps=True),
    ]
    numbers += [
        EvidenceNumber(r.feature, r.value, is_bps=r.feature.endswith("_bps"))
        for r in evidence.reasons
    ]
    return tuple(numbers)


_WINDOW = re.compile(r"(\d+)(s|m|h|d)")


def evidence_windows(evidence: LLMExplainInput) -> frozenset[int]:
    """Window lengths in seconds named by the evidence's feature names (``ret_5m`` → 300)."""
    out: set[int] = set()
    for r in evidence.reasons:
        for part in r.feature.split("_"):
            m = _WINDOW.fullmatch(part)
            if m:
                out.add(int(m[1]) * _DURATION_SECONDS[m[2]])
    return frozenset(out)


def number_matches(token: NumberToken, numbers: Iterable[EvidenceNumber]) -> bool:
    """Whether some evidence number, in the token's unit, rounds to the token."""
    tolerance = token.half_ulp * (1.0 + 1e-9)
    for n in numbers:
        for c in n.candidates(token.unit):
            target = c if token.signed else abs(c)
            written = token.value if token.signed else abs(token.value)
            if abs(target - written) <= tolerance + 1e-12 * max(1.0, abs(target)):
                return True
    return False


def first_new_number(
    text: str, evidence: LLMExplainInput, allowed_words: frozenset[str]
) -> str | None:
    """The first numeric token of ``text`` the evidence does not support, or ``None``."""
    numbers = evidence_numbers(evidence)
    windows = evidence_windows(evidence)
    for token in tokenize(text):
        if isinstance(token, WordToken):
            if token.text not in allowed_words:
                return token.text
        elif token.unit is Unit.DURATION:
            seconds = token.value
            if not (math.isclose(seconds % 1, 0) and round(seconds) in windows):
                return token.text
        elif not number_matches(token, numbers):
            return token.text
    return None
