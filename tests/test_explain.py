"""Guardrails, prompt, template and cache of the pure explanation core."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from csx_core.contracts import (
    MAX_EXPLANATION_CHARS,
    CostBreakdown,
    Direction,
    ExplainSource,
    ExplainStatus,
    FeatureSnapshot,
    LLMExplainInput,
    PredictionSnapshot,
    ReasonCode,
    ReasonEvidence,
)
from csx_core.explain import (
    GuardrailPolicy,
    Rejection,
    StatusThresholds,
    TTLCache,
    build_evidence,
    build_prompt,
    cache_key,
    check_answer,
    check_explanation,
    evidence_numbers,
    guard,
    parse_answer,
    reason_evidence,
    template_output,
    template_status,
    template_text,
)
from tests.strategies import symbols


def make_evidence(**overrides: object) -> LLMExplainInput:
    fields: dict[str, object] = {
        "symbol": "SOLUSDT",
        "ts": 1_700_000_000_000_000_000,
        "p_inplay": 0.41237,
        "direction": Direction.UP,
        "backtest_net_edge_bps": 12.3,
        "reasons": (
            ReasonEvidence(code=ReasonCode.VOLUME_SURGE, feature="vol_z_5m", value=4.2137),
            ReasonEvidence(code=ReasonCode.BTC_DECOUPLING, feature="btc_corr_1h", value=0.0123),
            ReasonEvidence(
                code=ReasonCode.LARGE_TRADE, feature="max_trade_usd_1m", value=125_400.0
            ),
        ),
        "costs": CostBreakdown(
            fee_bps=4.0, half_spread_bps=0.5, slippage_bps=1.2, funding_bps=-0.3, total_bps=5.4
        ),
    }
    fields.update(overrides)
    return LLMExplainInput(**fields)  # type: ignore[arg-type]


@pytest.fixture
def evidence() -> LLMExplainInput:
    return make_evidence()


@pytest.mark.parametrize(
    "text",
    [
        "SOLUSDT is 41% likely to be in play.",
        "SOLUSDT shows a 41.2 % in-play probability (0.41).",
        "Probability 0.412 with an expected net edge of 12.3 bps.",
        "Net edge 12.30 bps, about 12 bps, or 0.123% after 5.4 bps of costs.",
        "Fees 4 bps, half spread 0.5bp, slippage 1.2 basis points, funding -0.3 bps.",
        "Funding of 0.3 bps works against the trade.",
        "Volume z-score 4.21 on the 5m window (vol_z_5m).",
        "Volume is 4.2x normal over 5 minutes.",
        "A 5-minute volume surge and a 1 hour decoupling from BTC.",
        "Correlation to BTC is only 1.23 % (btc_corr_1h 0.0123), about 123 bps.",
        "The largest print was 125,400 USD, roughly 125.4k or 0.13M.",
        "SOL is decoupling from BTC with a 1.25e5 print.",
        "Expected net edge +12.3 bps; costs −0.3 bps funding.",
        "Edge of 12.3 bps < costs? No: 5.4 bps > 0.5 bps spread, settled in USDT or FDUSD.",
        "A 4.2-sigma volume burst (z-score ~4.2), 0.41 probability.",
    ],
)
def test_grounded_texts_pass(evidence: LLMExplainInput, text: str) -> None:
    assert check_explanation(evidence, "WATCH", text).rejection is None, text


@pytest.mark.parametrize(
    ("text", "offender"),
    [
        ("SOLUSDT is 45% likely to be in play.", "45%"),
        ("Gross edge 17.7 bps before costs.", "17.7 bps"),  # a derived sum is still new
        ("Probability 0.42 now.", "0.42"),  # 0.41237 does not round to 0.42
        ("Probability 0.4123 now.", "0.4123"),  # truncation is not rounding
        ("Expected net edge -12.3 bps.", "-12.3 bps"),  # an explicit sign must match
        ("Funding +0.3 bps.", "+0.3 bps"),
        ("Moves like this happen within 24h.", "24h"),  # no 24 h feature in the packet
        ("Volume surge over 15 minutes.", "15 minutes"),
        ("This is the 3rd surge today.", "3rd"),
        ("See ret_15m for context.", "ret_15m"),
        ("The print was 130,000 USD.", "130,000"),
        ("Edge 1.5% over costs.", "1.5%"),
        ("Latency 5ms.", "5ms"),
    ],
)
def test_invented_numbers_are_rejected(evidence: LLMExplainInput, text: str, offender: str) -> None:
    verdict = check_explanation(evidence, "WATCH", text)
    assert verdict.rejection is Rejection.NEW_NUMBER
    assert verdict.detail == offender


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("SOLUSDT moves with ETHUSDT.", "ETHUSDT"),
        ("Like ETH yesterday.", "ETH"),
        ("Unlike 1000PEPEUSDT it is liquid.", "1000PEPEUSDT"),
        ("Ethereum is quiet.", "Ethereum"),
        ("solusdt vs dogeusdt.", "dogeusdt"),
    ],
)
def test_other_instruments_are_rejected(evidence: LLMExplainInput, text: str, named: str) -> None:
    verdict = check_explanation(evidence, "IN_PLAY", text)
    assert (verdict.rejection, verdict.detail) == (Rejection.OTHER_SYMBOL, named)


def test_btc_is_allowed_only_when_the_evidence_names_it() -> None:
    with_btc = make_evidence()
    without = make_evidence(reasons=with_btc.reasons[:1])
    text = "SOL/USDT is decoupling from BTC."
    assert check_explanation(with_btc, "WATCH", text).ok
    assert check_explanation(without, "WATCH", text).rejection is Rejection.OTHER_SYMBOL


@pytest.mark.parametrize(
    "text",
    [
        "**SOLUSDT** is in play.",
        "SOLUSDT is `hot`.",
        "<b>SOLUSDT</b> is in play.",
        "# SOLUSDT",
        "- SOLUSDT is in play",
        "See [chart](http://x.y).",
        "SOLUSDT is in play.\nVolume surged.",
        "Volume | spread",
        "see https://example.com",
        "SOLUSDT &amp; more.",
    ],
)
def test_markup_is_rejected(evidence: LLMExplainInput, text: str) -> None:
    assert check_explanation(evidence, "WATCH", text).rejection is Rejection.MARKUP


@pytest.mark.parametrize("status", ["HOT", "in_play", "", "BUY"])
def test_status_must_be_an_allowed_label(evidence: LLMExplainInput, status: str) -> None:
    assert check_explanation(evidence, status, "SOLUSDT.").rejection is Rejection.BAD_STATUS


def test_length_and_sentence_limits(evidence: LLMExplainInput) -> None:
    long = "SOLUSDT is in play " + "really " * 60 + "now."
    assert len(long) > MAX_EXPLANATION_CHARS
    assert check_explanation(evidence, "WATCH", long).rejection is Rejection.TOO_LONG
    three = "SOLUSDT is in play. Volume surged. Costs are low."
    assert check_explanation(evidence, "WATCH", three).rejection is Rejection.TOO_LONG
    policy = GuardrailPolicy(max_sentences=3)
    assert check_explanation(evidence, "WATCH", three, policy).ok
    assert check_explanation(evidence, "WATCH", "   ").rejection is Rejection.EMPTY


@pytest.mark.parametrize(
    "raw",
    [
        "SOLUSDT is in play",
        '{"status": "WATCH"}',
        '{"status": "WATCH", "text": "x", "extra": 1}',
        '{"status": 1, "text": "x"}',
        "[1, 2]",
    ],
)
def test_unparseable_answers_are_malformed(evidence: LLMExplainInput, raw: str) -> None:
    assert check_answer(evidence, raw).rejection is Rejection.MALFORMED


def test_fenced_json_is_parsed() -> None:
    answer = parse_answer('```json\n{"status": "WATCH", "text": "ok"}\n```')
    assert (answer.status, answer.text) == ("WATCH", "ok")


def test_guard_passes_a_good_answer_and_falls_back_on_a_bad_one(
    evidence: LLMExplainInput,
) -> None:
    good = json.dumps({"status": "WATCH", "text": "SOLUSDT is 41% likely in play."})
    out, verdict = guard(evidence, good)
    assert verdict.ok
    assert (out.source, out.status, out.rejected) == (ExplainSource.LLM, ExplainStatus.WATCH, None)
    bad = json.dumps({"status": "WATCH", "text": "SOLUSDT is 99% likely in play."})
    out, verdict = guard(evidence, bad)
    assert verdict.rejection is Rejection.NEW_NUMBER
    assert out.source is ExplainSource.TEMPLATE
    assert out.rejected == "NEW_NUMBER"
    assert out.text == template_text(evidence)


def test_prompt_carries_only_the_evidence(evidence: LLMExplainInput) -> None:
    prompt = build_prompt(evidence)
    packet = json.loads(prompt.user.split("\n", 1)[1])
    assert set(packet) == {
        "symbol",
        "p_inplay",
        "direction",
        "direction_confidence",
        "backtest_net_edge_bps",
        "reasons",
        "costs_bps",
    }
    assert str(evidence.ts) not in prompt.user
    assert packet["reasons"][1]["label"] == "Decoupled from BTC"
    for label in ExplainStatus:
        assert label.value in prompt.system


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"p_inplay": 0.8}, ExplainStatus.IN_PLAY),
        ({"p_inplay": 0.4}, ExplainStatus.WATCH),
        ({"p_inplay": 0.1}, ExplainStatus.FADING),
        ({"p_inplay": 0.9, "backtest_net_edge_bps": -1.0}, ExplainStatus.NOT_TRADABLE),
        ({"p_inplay": 0.9, "backtest_net_edge_bps": 0.0}, ExplainStatus.NOT_TRADABLE),
        # an unknown edge is not a bad edge: the probability decides
        ({"p_inplay": 0.9, "backtest_net_edge_bps": None}, ExplainStatus.IN_PLAY),
        (
            {"p_inplay": 0.9, "direction": Direction.EITHER, "backtest_net_edge_bps": None},
            ExplainStatus.IN_PLAY,
        ),
        (
            {
                "p_inplay": 0.9,
                "reasons": (
                    ReasonEvidence(code=ReasonCode.STALE_DATA, feature="age_s", value=9.0),
                ),
            },
            ExplainStatus.NOT_TRADABLE,
        ),
    ],
)
def test_template_status(overrides: dict[str, object], status: ExplainStatus) -> None:
    assert template_status(make_evidence(**overrides)) is status


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="watch_p"):
        StatusThresholds(in_play_p=0.3, watch_p=0.5)


# -- property tests ----------------------------------------------------------------------------
features = st.from_regex(r"[a-z]{2,8}(_[a-z]{1,5})?_(1|5|15)(s|m|h)(_bps)?", fullmatch=True)
values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(-1.0, 1.0, allow_nan=False),
    st.floats(1e-9, 1e-3),
)


@st.composite
def evidences(draw: st.DrawFn) -> LLMExplainInput:
    codes = draw(st.lists(st.sampled_from(list(ReasonCode)), unique=True, max_size=5))
    names = draw(st.lists(features, unique=True, min_size=len(codes), max_size=len(codes)))
    parts = [draw(st.floats(0, 50)) for _ in range(3)]
    funding = draw(st.floats(-5, 5))
    return LLMExplainInput(
        symbol=draw(symbols),
        ts=draw(st.integers(0, 2**62)),
        p_inplay=draw(st.floats(0, 1)),
        direction=draw(st.sampled_from(list(Direction))),
        direction_confidence=draw(st.none() | st.floats(0.5, 1)),
        backtest_net_edge_bps=draw(st.none() | st.floats(-500, 500)),
        reasons=tuple(
            ReasonEvidence(code=c, feature=n, value=draw(values))
            for c, n in zip(codes, names, strict=True)
        ),
        costs=CostBreakdown(
            fee_bps=parts[0],
            half_spread_bps=parts[1],
            slippage_bps=parts[2],
            funding_bps=funding,
            total_bps=sum(parts) + funding,
        ),
    )


def _renderings(value: float, is_bps: bool, decimals: int) -> list[str]:
    """Ways a writer may show ``value`` (rounded to ``decimals``) that the rules allow."""
    out = [f"{abs(value):.{decimals}f}", f"{value:+.{decimals}f}", f"{abs(value):,.{decimals}f}"]
    if is_bps:
        out += [f"{abs(value):.{decimals}f} bps", f"{abs(value) / 100:.{decimals + 2}f}%"]
    else:
        out += [f"{abs(value) * 100:.{decimals}f}%", f"{abs(value) * 1e4:.{decimals}f} bps"]
    return out


@given(ev=evidences(), pick=st.integers(0, 100), decimals=st.integers(0, 4), form=st.integers(0, 4))
def test_every_evidence_number_is_accepted_in_every_allowed_format(
    ev: LLMExplainInput, pick: int, decimals: int, form: int
) -> None:
    numbers = evidence_numbers(ev)
    n = numbers[pick % len(numbers)]
    written = _renderings(n.value, n.is_bps, decimals)[form]
    text = f"{ev.symbol} shows {written} here."
    verdict = check_explanation(ev, "WATCH", text)
    assert verdict.ok, (n, written, verdict)


def _far_from_evidence(x: float, ev: LLMExplainInput) -> bool:
    """True when ``x`` is not within 2 % (or 0.02 absolute) of any allowed form of any number."""
    for n in evidence_numbers(ev):
        scales = (1.0, 0.01) if n.is_bps else (1.0, 100.0, 1e4)
        for s in scales:
            c = abs(n.value * s)
            if abs(abs(x) - c) <= max(0.02, 0.02 * c):
                return False
    return True


@given(ev=evidences(), x=st.floats(0.05, 1e6), unit=st.sampled_from(["", "%", " bps"]))
def test_numbers_not_in_the_evidence_are_rejected(ev: LLMExplainInput, x: float, unit: str) -> None:
    written = f"{x:.4f}{unit}"
    assume(_far_from_evidence(float(f"{x:.4f}"), ev))
    verdict = check_explanation(ev, "WATCH", f"{ev.symbol} shows {written} here.")
    assert verdict.rejection is Rejection.NEW_NUMBER


@given(ev=evidences())
def test_the_template_always_passes_its_own_guardrails(ev: LLMExplainInput) -> None:
    out = template_output(ev)
    verdict = check_explanation(ev, out.status.value, out.text, GuardrailPolicy())
    assert verdict.ok, (out.text, verdict)


# -- evidence and cache ------------------------------------------------------------------------
def test_build_evidence_takes_only_finite_mapped_features() -> None:
    snapshot = FeatureSnapshot(
        symbol="SOLUSDT",
        ts=5,
        feature_version="fe-1",
        names=("vol_z_5m", "spread_bps", "ret_1m"),
        values=(4.2, math.nan, 0.01),
        warm=True,
        gap=False,
    )
    prediction = PredictionSnapshot(
        symbol="SOLUSDT",
        ts=5,
        p_inplay=0.7,
        raw_score=1.0,
        direction=Direction.UP,
        direction_confidence=0.64,
        backtest_net_edge_bps=3.0,
        model_id="m1",
        reason_codes=(ReasonCode.WIDE_SPREAD, ReasonCode.VOLUME_SURGE, ReasonCode.LARGE_TRADE),
    )
    mapping = {ReasonCode.VOLUME_SURGE: "vol_z_5m", ReasonCode.WIDE_SPREAD: "spread_bps"}
    reasons = reason_evidence(prediction.reason_codes, snapshot, mapping)
    assert [(r.code, r.value) for r in reasons] == [(ReasonCode.VOLUME_SURGE, 4.2)]
    ev = build_evidence(prediction, reasons, make_evidence().costs)
    assert (ev.symbol, ev.ts, ev.p_inplay, ev.reasons) == ("SOLUSDT", 5, 0.7, reasons)
    assert (ev.direction, ev.direction_confidence, ev.backtest_net_edge_bps) == (
        Direction.UP,
        0.64,
        3.0,
    )


def test_cache_expires_and_is_bounded(evidence: LLMExplainInput) -> None:
    cache: TTLCache[str] = TTLCache(ttl_s=10.0, max_entries=2)
    key = cache_key(evidence)
    cache.put(key, "a", 0.0)
    assert cache.get(key, 9.9) == "a"
    assert cache.get(key, 10.0) is None
    other = cache_key(make_evidence(reasons=()))
    assert other != key
    cache.put(key, "a", 0.0)
    cache.put(other, "b", 0.0)
    cache.put(cache_key(make_evidence(symbol="XRPUSDT")), "c", 0.0)
    assert len(cache) == 2
    assert cache.get(key, 1.0) is None
    # same reasons with different numbers share a key
    assert cache_key(make_evidence(p_inplay=0.9)) == key


@given(raw=st.text(max_size=300), text=st.text(max_size=300))
def test_the_checks_never_raise_on_garbage(raw: str, text: str) -> None:
    evidence = make_evidence()
    assert check_answer(evidence, raw).rejection is not None or raw.strip().startswith(("{", "`"))
    check_explanation(evidence, "WATCH", text)


# -- the backtest edge, "either way" and direction words ----------------------------------------
def test_an_unknown_edge_is_said_and_no_edge_number_may_be_stated() -> None:
    ev = make_evidence(backtest_net_edge_bps=None)
    text = template_text(ev)
    assert "backtest net edge unknown" in text
    assert "12.3" not in text
    assert check_explanation(ev, "WATCH", text).ok
    verdict = check_explanation(ev, "WATCH", "SOLUSDT has an edge of 12.3 bps.")
    assert (verdict.rejection, verdict.detail) == (Rejection.NEW_NUMBER, "12.3 bps")
    assert check_explanation(ev, "WATCH", "SOLUSDT has an edge of 0.0 bps.").rejection is (
        Rejection.NEW_NUMBER
    ), "unknown is never shown as 0"
    packet = json.loads(build_prompt(ev).user.split("\n", 1)[1])
    assert packet["backtest_net_edge_bps"] == "unknown"
    assert packet["direction_confidence"] == "unknown"


def test_a_known_edge_is_written_with_its_sign_per_trade_after_costs() -> None:
    ev = make_evidence(backtest_net_edge_bps=-3.24)
    text = template_text(ev)
    assert "backtest net edge of \u22123.2 bps per trade after 5.4 bps of costs" in text
    assert template_status(ev) is ExplainStatus.NOT_TRADABLE
    assert "+12.3 bps per trade" in template_text(make_evidence())


@pytest.mark.parametrize(
    ("direction", "words"),
    [
        (Direction.UP, "direction upward"),
        (Direction.DOWN, "direction downward"),
        (Direction.EITHER, "direction either way"),
        (Direction.FLAT, "direction either way"),
    ],
)
def test_the_template_names_the_direction_or_either_way(direction: Direction, words: str) -> None:
    assert words in template_text(make_evidence(direction=direction, backtest_net_edge_bps=None))


@pytest.mark.parametrize(
    ("direction", "text", "offender"),
    [
        (Direction.UP, "SOLUSDT leans bearish on volume.", "bearish"),
        (Direction.DOWN, "SOLUSDT could break upward.", "upward"),
        (Direction.EITHER, "SOLUSDT is likely to move downward.", "downward"),
        (Direction.EITHER, "SOLUSDT has upside.", "upside"),
    ],
)
def test_a_side_the_packet_does_not_call_is_rejected(
    direction: Direction, text: str, offender: str
) -> None:
    verdict = check_explanation(make_evidence(direction=direction), "WATCH", text)
    assert (verdict.rejection, verdict.detail) == (Rejection.WRONG_DIRECTION, offender)


@pytest.mark.parametrize(
    ("direction", "text"),
    [
        (Direction.UP, "SOLUSDT is picking up volume and leans upward."),
        (Direction.DOWN, "SOLUSDT leans downward."),
        (Direction.EITHER, "SOLUSDT could break upward or downward: either way."),
        (Direction.EITHER, "SOLUSDT could move either way."),
    ],
)
def test_the_called_side_or_both_sides_pass(direction: Direction, text: str) -> None:
    assert check_explanation(make_evidence(direction=direction), "WATCH", text).ok


def test_the_direction_confidence_is_a_number_of_the_packet_only_when_known() -> None:
    with_conf = make_evidence(direction_confidence=0.6317)
    assert check_explanation(with_conf, "WATCH", "SOLUSDT leans upward at 63% confidence.").ok
    verdict = check_explanation(make_evidence(), "WATCH", "SOLUSDT, 63% confidence.")
    assert verdict.rejection is Rejection.NEW_NUMBER


@given(ev=evidences())
def test_every_output_carries_the_tick_and_numbers_it_was_written_for(
    ev: LLMExplainInput,
) -> None:
    for out in (template_output(ev), guard(ev, json.dumps({"status": "WATCH", "text": "x."}))[0]):
        assert (out.symbol, out.ts, out.p_inplay, out.direction) == (
            ev.symbol,
            ev.ts,
            ev.p_inplay,
            ev.direction,
        )
        assert out.backtest_net_edge_bps == ev.backtest_net_edge_bps
        assert out.direction_confidence == ev.direction_confidence
