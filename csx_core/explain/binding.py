"""Whether an explanation still describes a row: the one rule the API, the dashboard, the
cache and the re-request logic share.

An explanation is bound to the tick and the numbers it was written for
(``LLMExplainOutput.ts``, ``p_inplay``, ``direction``, ``direction_confidence``,
``backtest_net_edge_bps``). It **matches** a row (its probability, direction, direction
confidence and backtest net edge at one tick) when all of these hold:

1. the direction is the same (``FLAT``, stored data only, reads as ``EITHER``);
2. the edge is unknown for both, or known for both with the same sign (> 0 or not);
3. every number of the text that states the written-for probability, confidence or edge —
   it rounds from it at the precision written, in a unit the guardrails allow
   (``csx_core.explain.numbers``) — also rounds from the row's value at that precision.

So the template's "41% … edge of −3.2 bps" matches every row with p in [0.405, 0.415], the
same direction and an edge in [−3.25, −3.15]; an LLM's "41.2%" only p in [0.4115, 0.4125].
A number that merely equals a written-for value (a feature value that happens to read as the
probability) counts as stating it: the rule errs towards "no longer matches".

A row **changed materially** for its explanation exactly when the explanation no longer
matches it; a new one is then requested, and until it arrives the old one is shown only with
its age and its own numbers, marked as older.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Protocol

from csx_core.contracts.explain import LLMExplainOutput
from csx_core.contracts.snapshots import Direction
from csx_core.explain.numbers import EvidenceNumber, NumberToken, Unit, number_matches, tokenize


def same_direction(a: Direction | str, b: Direction | str) -> bool:
    def norm(d: Direction | str) -> Direction:
        d = Direction(d)
        return Direction.EITHER if d is Direction.FLAT else d

    return norm(a) is norm(b)


def _pairs(
    output: LLMExplainOutput,
    p_inplay: float,
    direction_confidence: float | None,
    backtest_net_edge_bps: float | None,
) -> list[tuple[EvidenceNumber, EvidenceNumber | None]]:
    """(written-for number, the row's number or None when the row has none)."""
    pairs: list[tuple[EvidenceNumber, EvidenceNumber | None]] = [
        (EvidenceNumber("p", output.p_inplay, False), EvidenceNumber("p", p_inplay, False))
    ]
    if output.direction_confidence is not None:
        row = direction_confidence
        pairs.append(
            (
                EvidenceNumber("conf", output.direction_confidence, False),
                None if row is None else EvidenceNumber("conf", row, False),
            )
        )
    if output.backtest_net_edge_bps is not None and backtest_net_edge_bps is not None:
        pairs.append(
            (
                EvidenceNumber("edge", output.backtest_net_edge_bps, True),
                EvidenceNumber("edge", backtest_net_edge_bps, True),
            )
        )
    return pairs


@lru_cache(maxsize=4096)
def _stated_numbers(text: str) -> tuple[NumberToken, ...]:
    """The text's numbers (durations are window names, not values); memoised because every
    ranked row is matched every tick while its explanation stays the same."""
    return tuple(
        t for t in tokenize(text) if isinstance(t, NumberToken) and t.unit is not Unit.DURATION
    )


def explanation_matches(
    output: LLMExplainOutput,
    *,
    p_inplay: float | None,
    direction: Direction | str | None,
    backtest_net_edge_bps: float | None,
    direction_confidence: float | None = None,
) -> bool:
    """Whether ``output`` states nothing the row (these values at one tick) contradicts; a
    row without a finite probability or a direction matches nothing."""
    if p_inplay is None or not math.isfinite(p_inplay) or direction is None:
        return False
    if not same_direction(output.direction, direction):
        return False
    written_edge = output.backtest_net_edge_bps
    if (written_edge is None) != (backtest_net_edge_bps is None):
        return False
    if (
        written_edge is not None
        and backtest_net_edge_bps is not None
        and (written_edge > 0) != (backtest_net_edge_bps > 0)
    ):
        return False
    pairs = _pairs(output, p_inplay, direction_confidence, backtest_net_edge_bps)
    for token in _stated_numbers(output.text):
        for written, row in pairs:
            if number_matches(token, (written,)) and (
                row is None or not number_matches(token, (row,))
            ):
                return False
    return True


class BoundRow(Protocol):
    """What a row is matched on (a ``PredictionSnapshot`` or an ``LLMExplainInput``)."""

    @property
    def p_inplay(self) -> float: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def direction_confidence(self) -> float | None: ...
    @property
    def backtest_net_edge_bps(self) -> float | None: ...


def row_matches(output: LLMExplainOutput, row: BoundRow) -> bool:
    """:func:`explanation_matches` against a prediction or a packet."""
    return explanation_matches(
        output,
        p_inplay=row.p_inplay,
        direction=row.direction,
        backtest_net_edge_bps=row.backtest_net_edge_bps,
        direction_confidence=row.direction_confidence,
    )
