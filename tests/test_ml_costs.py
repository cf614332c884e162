"""CostModel: components, monotonicity, versioning, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from csx_core.contracts import CostBreakdown
from csx_core.ml.costs import CostModel, CostModelError

prices = st.floats(min_value=0.01, max_value=1e5)
spreads_bps = st.floats(min_value=0.0, max_value=50.0)
notionals = st.floats(min_value=1.0, max_value=1e7)
volumes = st.floats(min_value=1e3, max_value=1e10)


def _book(mid: float, spread_bps: float) -> tuple[float, float]:
    half = mid * spread_bps / 2e4
    return mid - half, mid + half


def test_default_round_trip_prices_fees_spread_and_impact() -> None:
    cost = CostModel(notional_usd=10_000.0, impact_coef_bps=10.0)
    bid, ask = _book(100.0, 2.0)
    b = cost.breakdown(bid, ask, quote_volume_usd=1_000_000.0)
    assert isinstance(b, CostBreakdown)
    assert b.fee_bps == pytest.approx(10.0)
    assert b.half_spread_bps == pytest.approx(2.0)
    assert b.slippage_bps == pytest.approx(10.0 * math.sqrt(0.01))
    assert b.funding_bps == 0.0
    assert b.total_bps == pytest.approx(13.0)


def test_vectorised_total_matches_scalar_breakdown() -> None:
    cost = CostModel(funding_bps_per_8h=1.0)
    bids = np.array([99.9, 10.0, 5000.0])
    asks = np.array([100.1, 10.01, 5000.5])
    vols = np.array([1e5, 1e6, 1e8])
    totals = cost.total_bps(bids, asks, vols, holding_s=300)
    for i in range(3):
        expect = cost.breakdown(bids[i], asks[i], vols[i], holding_s=300).total_bps
        assert totals[i] == pytest.approx(expect)


def test_fee_tier_changes_fee() -> None:
    bid, ask = _book(100.0, 1.0)
    vip0 = CostModel().breakdown(bid, ask)
    vip2 = CostModel(fee_tier="VIP2").breakdown(bid, ask)
    assert vip0.fee_bps - vip2.fee_bps == pytest.approx(3.0)


@given(mid=prices, spread=spreads_bps, n1=notionals, n2=notionals, vol=volumes)
def test_cost_rises_with_notional(
    mid: float, spread: float, n1: float, n2: float, vol: float
) -> None:
    lo, hi = sorted((n1, n2))
    bid, ask = _book(mid, spread)
    small = CostModel(notional_usd=lo).breakdown(bid, ask, vol)
    large = CostModel(notional_usd=hi).breakdown(bid, ask, vol)
    assert large.total_bps >= small.total_bps
    if hi > lo * 1.01 and large.slippage_bps < CostModel().max_impact_bps:
        assert large.total_bps > small.total_bps


@given(mid=prices, s1=spreads_bps, s2=spreads_bps, vol=volumes)
def test_cost_rises_with_spread(mid: float, s1: float, s2: float, vol: float) -> None:
    lo, hi = sorted((s1, s2))
    cost = CostModel()
    narrow = cost.breakdown(*_book(mid, lo), vol)
    wide = cost.breakdown(*_book(mid, hi), vol)
    assert wide.total_bps >= narrow.total_bps - 1e-9
    if hi - lo > 1e-3:
        assert wide.total_bps > narrow.total_bps


def test_zero_volume_is_capped_not_infinite() -> None:
    cost = CostModel(max_impact_bps=25.0)
    total = cost.total_bps(np.array([99.0]), np.array([101.0]), np.array([0.0]))
    assert np.isfinite(total[0])
    assert cost.breakdown(99.0, 101.0, 0.0).slippage_bps == 25.0


@pytest.mark.parametrize(("bid", "ask"), [(101.0, 100.0), (0.0, 1.0), (math.nan, 1.0)])
def test_unusable_book_is_nan_and_breakdown_refuses(bid: float, ask: float) -> None:
    cost = CostModel()
    assert np.isnan(cost.total_bps(np.array([bid]), np.array([ask]))[0])
    with pytest.raises(CostModelError, match="unusable book"):
        cost.breakdown(bid, ask)


def test_version_tracks_every_parameter_and_round_trips() -> None:
    a = CostModel()
    assert a.version == CostModel().version
    assert a.version != CostModel(notional_usd=20_000.0).version
    assert a.version != CostModel(fee_tier="VIP1").version
    back = CostModel.from_json(a.to_json())
    assert back == a
    assert back.version == a.version


def test_from_json_refuses_mismatched_version() -> None:
    text = CostModel().to_json().replace("cost-v1-", "cost-v1-0")
    with pytest.raises(CostModelError, match="does not match"):
        CostModel.from_json(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fee_tier": "VIP9"},
        {"notional_usd": 0.0},
        {"notional_usd": math.inf},
        {"impact_coef_bps": -1.0},
        {"fee_tiers": {"VIP0": -1.0}},
        {"funding_bps_per_8h": math.nan},
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(CostModelError):
        CostModel(**kwargs)  # type: ignore[arg-type]
