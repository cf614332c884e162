"""An explanation matches a row only while the numbers its text states are the row's
(``csx_core.explain.binding``): the rule behind serving, the cache and re-requests."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csx_core.contracts import Direction, ExplainSource, ExplainStatus, LLMExplainOutput
from csx_core.explain import explanation_matches, row_matches, template_output
from tests.test_explain import evidences, make_evidence


def llm_output(text: str, **numbers: object) -> LLMExplainOutput:
    fields: dict[str, object] = {
        "symbol": "SOLUSDT",
        "ts": 1,
        "p_inplay": 0.41237,
        "direction": Direction.UP,
        "backtest_net_edge_bps": 12.3,
        "text": text,
        "status": ExplainStatus.WATCH,
        "source": ExplainSource.LLM,
    }
    fields.update(numbers)
    return LLMExplainOutput(**fields)  # type: ignore[arg-type]


def matches(out: LLMExplainOutput, p: float, direction: object, edge: float | None) -> bool:
    return explanation_matches(
        out,
        p_inplay=p,
        direction=direction,  # type: ignore[arg-type]
        backtest_net_edge_bps=edge,
    )


TEMPLATE = template_output(make_evidence())  # "41% … +12.3 bps per trade …"


@pytest.mark.parametrize(
    ("p", "direction", "edge", "ok"),
    [
        (0.41237, Direction.UP, 12.3, True),
        (0.4149, "UP", 12.34, True),  # the text's 41% and +12.3 bps still hold
        (0.4151, Direction.UP, 12.3, False),  # the row now reads 42%
        (0.41, Direction.UP, 12.36, False),  # +12.4 bps
        (0.41, Direction.DOWN, 12.3, False),
        (0.41, Direction.EITHER, 12.3, False),
        (0.41, Direction.UP, None, False),  # the edge became unknown
        (0.41, Direction.UP, -12.3, False),
        (math.nan, Direction.UP, 12.3, False),
    ],
)
def test_the_template_matches_rows_it_renders_the_same(
    p: float, direction: object, edge: float | None, ok: bool
) -> None:
    assert matches(TEMPLATE, p, direction, edge) is ok


def test_unknown_matches_unknown_and_flat_reads_as_either() -> None:
    out = template_output(make_evidence(direction=Direction.EITHER, backtest_net_edge_bps=None))
    assert matches(out, 0.412, Direction.EITHER, None)
    assert matches(out, 0.412, Direction.FLAT, None)
    assert not matches(out, 0.412, Direction.EITHER, 0.5)
    assert not matches(out, None, Direction.EITHER, None)  # type: ignore[arg-type]
    assert not matches(out, 0.412, None, None)


def test_a_finer_written_probability_binds_tighter() -> None:
    out = llm_output("SOLUSDT is 41.2% likely in play, upward.")
    assert matches(out, 0.4124, Direction.UP, 12.3)
    assert not matches(out, 0.4140, Direction.UP, 12.3), "the row shows 41.4 %, the text 41.2 %"
    assert matches(out, 0.4124, Direction.UP, 5.0), "the text states no edge"
    assert not matches(out, 0.4124, Direction.UP, -5.0), "but the edge changed sign"


def test_a_text_that_states_no_number_binds_on_direction_and_edge_only() -> None:
    out = llm_output("SOLUSDT is in play on a volume surge.", backtest_net_edge_bps=None)
    assert matches(out, 0.9, Direction.UP, None)
    assert not matches(out, 0.9, Direction.UP, 3.0)


def test_a_stated_confidence_is_bound_too() -> None:
    out = llm_output("SOLUSDT leans upward at 63% confidence.", direction_confidence=0.6317)
    row = {"p_inplay": 0.41, "direction": Direction.UP, "backtest_net_edge_bps": 12.3}
    assert explanation_matches(out, **row, direction_confidence=0.634)  # type: ignore[arg-type]
    assert not explanation_matches(out, **row, direction_confidence=0.70)  # type: ignore[arg-type]
    assert not explanation_matches(out, **row, direction_confidence=None)  # type: ignore[arg-type]


@given(ev=evidences())
def test_a_template_always_matches_its_own_packet(ev: object) -> None:
    assert row_matches(template_output(ev), ev)  # type: ignore[arg-type]


_P = re.compile(r"has a (\d+)% in-play")
_EDGE = re.compile(r"edge of ([+\u2212]\d+\.\d) bps")


@given(
    ev=evidences(),
    dp=st.floats(-0.02, 0.02),
    de=st.floats(-0.2, 0.2),
    flip=st.booleans(),
)
def test_no_matching_row_contradicts_what_the_text_states(
    ev: object, dp: float, de: float, flip: bool
) -> None:
    out = template_output(ev)  # type: ignore[arg-type]
    p = min(1.0, max(0.0, out.p_inplay + dp))
    edge = None if out.backtest_net_edge_bps is None else out.backtest_net_edge_bps + de
    direction = (
        (Direction.DOWN if out.direction is Direction.UP else Direction.UP)
        if flip
        else out.direction
    )
    if not matches(out, p, direction, edge):
        return
    assert direction is out.direction or {direction, out.direction} <= {
        Direction.EITHER,
        Direction.FLAT,
    }
    stated_p = _P.search(out.text)
    assert stated_p is not None
    assert abs(100 * p - int(stated_p[1])) <= 0.5 + 1e-9
    stated_edge = _EDGE.search(out.text)
    assert (stated_edge is None) == (edge is None)
    if stated_edge is not None and edge is not None:
        assert abs(edge - float(stated_edge[1].replace("\u2212", "-"))) <= 0.05 + 1e-9
