"""Hypothesis strategies that build valid contract values (reused across test modules)."""

from __future__ import annotations

from hypothesis import strategies as st

from csx_core.contracts import (
    BookTop,
    CostBreakdown,
    Direction,
    ExplainSource,
    ExplainStatus,
    FeatureSnapshot,
    Kline,
    Liquidation,
    LLMExplainInput,
    LLMExplainOutput,
    MarkPrice,
    PredictionSnapshot,
    RankAction,
    RankEvent,
    ReasonCode,
    ReasonEvidence,
    Side,
    Trade,
)

symbols = st.from_regex(r"[A-Z0-9]{2,12}USDT", fullmatch=True)
times_ns = st.integers(min_value=0, max_value=4_102_444_800 * 10**9)  # up to 2100-01-01
ids = st.integers(min_value=0, max_value=2**62)
prices = st.floats(min_value=1e-8, max_value=1e7, allow_nan=False, allow_infinity=False)
qtys = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)
nonneg = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
probs = st.floats(min_value=0.0, max_value=1.0)
reason_sets = st.lists(st.sampled_from(list(ReasonCode)), unique=True, max_size=5).map(tuple)

trades = st.builds(
    Trade,
    symbol=symbols,
    ts_event=times_ns,
    ts_recv=times_ns,
    trade_id=ids,
    price=prices,
    qty=qtys,
    buyer_is_maker=st.booleans(),
)


@st.composite
def book_tops(draw: st.DrawFn) -> BookTop:
    bid = draw(prices)
    ask = draw(st.floats(min_value=bid, max_value=bid * 1.1 + 1e-8))
    return BookTop(
        symbol=draw(symbols),
        ts_event=draw(times_ns),
        ts_recv=draw(times_ns),
        update_id=draw(ids),
        bid_price=bid,
        bid_qty=draw(nonneg),
        ask_price=ask,
        ask_qty=draw(nonneg),
    )


@st.composite
def klines(draw: st.DrawFn) -> Kline:
    ohlc = sorted(draw(st.lists(prices, min_size=4, max_size=4)))
    low, a, b, high = ohlc
    open_, close = (a, b) if draw(st.booleans()) else (b, a)
    volume = draw(nonneg)
    open_time = draw(times_ns)
    return Kline(
        symbol=draw(symbols),
        ts_event=draw(times_ns),
        ts_recv=draw(times_ns),
        interval=draw(st.sampled_from(["1m", "5m", "1h"])),
        open_time=open_time,
        close_time=open_time + draw(st.integers(0, 10**12)),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        quote_volume=draw(nonneg),
        trades=draw(st.integers(0, 10**9)),
        taker_buy_volume=volume * draw(st.floats(0, 1)),
        taker_buy_quote_volume=draw(nonneg),
        closed=draw(st.booleans()),
    )


mark_prices = st.builds(
    MarkPrice,
    symbol=symbols,
    ts_event=times_ns,
    ts_recv=times_ns,
    mark_price=prices,
    index_price=st.none() | prices,
    estimated_settle_price=st.none() | prices,
    funding_rate=st.floats(min_value=-0.05, max_value=0.05),
    next_funding_time=times_ns,
)

liquidations = st.builds(
    Liquidation,
    symbol=symbols,
    ts_event=times_ns,
    ts_recv=times_ns,
    side=st.sampled_from(list(Side)),
    price=prices,
    avg_price=nonneg,
    qty=qtys,
    filled_qty=nonneg,
    status=st.sampled_from(["FILLED", "NEW", "PARTIALLY_FILLED"]),
)

market_events = st.one_of(trades, book_tops(), klines(), mark_prices, liquidations)


@st.composite
def feature_snapshots(draw: st.DrawFn) -> FeatureSnapshot:
    names = tuple(draw(st.lists(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), unique=True)))
    values = tuple(draw(st.floats(allow_infinity=False)) for _ in names)
    return FeatureSnapshot(
        symbol=draw(symbols),
        ts=draw(times_ns),
        feature_version=draw(st.sampled_from(["fe-1", "fe-2"])),
        names=names,
        values=values,
        warm=draw(st.booleans()),
        gap=draw(st.booleans()),
    )


prediction_snapshots = st.builds(
    PredictionSnapshot,
    symbol=symbols,
    ts=times_ns,
    p_inplay=probs,
    raw_score=finite,
    direction=st.sampled_from(list(Direction)),
    direction_confidence=st.none() | probs,
    backtest_net_edge_bps=st.none() | finite,
    model_id=st.text(min_size=1, max_size=30),
    reason_codes=reason_sets,
)


@st.composite
def rank_events(draw: st.DrawFn) -> RankEvent:
    action = draw(st.sampled_from(list(RankAction)))
    rank = draw(st.integers(1, 500))
    prev: int | None = None
    if action is RankAction.EXIT:
        prev = draw(st.integers(1, 500))
    elif action is RankAction.MOVE:
        prev = draw(st.integers(1, 500).filter(lambda r: r != rank))
    return RankEvent(
        ts=draw(times_ns),
        symbol=draw(symbols),
        action=action,
        rank=rank,
        prev_rank=prev,
        p_inplay=draw(probs),
        reason_codes=draw(reason_sets),
    )


@st.composite
def cost_breakdowns(draw: st.DrawFn) -> CostBreakdown:
    parts = [draw(st.floats(0, 100)) for _ in range(3)]
    funding = draw(st.floats(-10, 10))
    return CostBreakdown(
        fee_bps=parts[0],
        half_spread_bps=parts[1],
        slippage_bps=parts[2],
        funding_bps=funding,
        total_bps=sum(parts) + funding,
    )


explain_inputs = st.builds(
    LLMExplainInput,
    symbol=symbols,
    ts=times_ns,
    p_inplay=probs,
    direction=st.sampled_from(list(Direction)),
    direction_confidence=st.none() | probs,
    backtest_net_edge_bps=st.none() | finite,
    reasons=st.lists(
        st.builds(
            ReasonEvidence,
            code=st.sampled_from(list(ReasonCode)),
            feature=st.from_regex(r"[a-z_0-9]{1,20}", fullmatch=True),
            value=finite,
        ),
        max_size=5,
    ).map(tuple),
    costs=cost_breakdowns(),
)

explain_outputs = st.builds(
    LLMExplainOutput,
    symbol=symbols,
    ts=times_ns,
    p_inplay=probs,
    direction=st.sampled_from(list(Direction)),
    direction_confidence=st.none() | probs,
    backtest_net_edge_bps=st.none() | finite,
    text=st.text(min_size=1, max_size=400).filter(lambda t: bool(t.strip())),
    status=st.sampled_from(list(ExplainStatus)),
    source=st.sampled_from(list(ExplainSource)),
    rejected=st.none() | st.text(max_size=50),
)

BY_CONTRACT = {
    "Trade": trades,
    "BookTop": book_tops(),
    "Kline": klines(),
    "MarkPrice": mark_prices,
    "Liquidation": liquidations,
    "FeatureSnapshot": feature_snapshots(),
    "PredictionSnapshot": prediction_snapshots,
    "RankEvent": rank_events(),
    "LLMExplainInput": explain_inputs,
    "LLMExplainOutput": explain_outputs,
}
