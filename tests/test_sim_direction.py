"""Directional order flow (``SimConfig.directional_strength``): present when on, absent at 0.

The observable is ``imb_1m`` computed from the emitted trades (taker quote-volume imbalance
over the 60 s before ``t``); the target is the sign of the mid's move over the label horizon
``(t, t + 300 s]`` (last trade price). Samples are one every 300 s, so forward windows do not
overlap and the binomial CI is honest. The latent path is used only to know where to look
(in-play regimes, away from injected episodes, whose precursors lean by design).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.sim import SimConfig, SimConfigError, episodes, simulate_day, tables_digest
from csx_core.sim.direction import FLOW_MEMORY_S, latent_flow
from csx_core.sim.path import SECONDS, day_path

HORIZON_S = 300
LOOKBACK_S = 60
Z99 = 2.576
# Trades drive the measure: no size-only book updates and no klines keep the test fast; 2
# trades/s (4x the default) make a minute's imbalance a usable read of the latent flow.
BASE = SimConfig(
    seed=21,
    n_symbols=24,
    days=1,
    start=date(2026, 4, 1),
    trade_rate=2.0,
    book_rate=0.0,
    klines=False,
)
Arr = np.ndarray[Any, Any]

PRE_COMPONENT_DIGEST = "4e5873ca6c641c3e7aec6f96754a93c1e4b87b2f0e447f3de202b4d4a46a0a80"
"""``tables_digest`` of day 1 of ``SimConfig(seed=11, n_symbols=3, days=2, start=2026-03-01)``
as the simulator produced it before directional flow existed (commit b19af9f)."""


def _per_second(config: SimConfig) -> tuple[Arr, Arr, Arr]:
    """Signed and total taker quote volume, and log last-trade price, per (symbol, second)."""
    trades = simulate_day(config, 0)["trade"]
    start = (config.start - date(1970, 1, 1)).days * 86_400 * 1_000_000_000
    row = pc.index_in(trades.column("symbol"), value_set=pa.array(config.symbol_names)).to_numpy()
    sec = (trades.column("ts_event").to_numpy() - start) // 1_000_000_000
    price = trades.column("price").to_numpy()
    quote = price * trades.column("qty").to_numpy()
    buy = ~trades.column("buyer_is_maker").to_numpy(zero_copy_only=False)
    n = len(config.symbol_names)
    cell = row * SECONDS + sec
    total = np.bincount(cell, weights=quote, minlength=n * SECONDS).reshape(n, SECONDS)
    signed = np.bincount(cell, weights=np.where(buy, quote, -quote), minlength=n * SECONDS)
    by_cell = np.argsort(cell, kind="stable")  # keeps time order within a second
    sorted_cell = cell[by_cell]
    closing = np.r_[sorted_cell[1:] != sorted_cell[:-1], True]
    flat = np.full(n * SECONDS, np.nan)
    flat[sorted_cell[closing]] = price[by_cell][closing]
    last = flat.reshape(n, SECONDS)
    for r in range(n):
        filled = np.where(np.isfinite(last[r]), np.arange(SECONDS), 0)
        last[r] = last[r][np.maximum.accumulate(filled)]
    return signed.reshape(n, SECONDS), total, np.log(last)


def _episode_seconds(config: SimConfig) -> Arr:
    """Seconds from a precursor's (or surprise move's) start to its move's end."""
    truth = episodes(config, 0)
    start = (config.start - date(1970, 1, 1)).days * 86_400 * 1_000_000_000
    row = pc.index_in(truth.column("symbol"), value_set=pa.array(config.symbol_names)).to_numpy()
    first = pc.fill_null(truth.column("precursor_start"), truth.column("move_start")).to_numpy()
    end = truth.column("move_end").to_numpy()
    busy = np.zeros((len(config.symbol_names), SECONDS), bool)
    for r, a, b in zip(row, (first - start) // 10**9, (end - start) // 10**9, strict=True):
        busy[r, a : min(b, SECONDS)] = True
    return busy


@dataclass(frozen=True)
class Day:
    """What the measure needs of one simulated day, per (symbol, second)."""

    signed: Arr
    total: Arr
    logp: Arr
    in_play_regime: Arr
    episode_seconds: Arr

    @classmethod
    def of(cls, config: SimConfig) -> Day:
        signed, total, logp = _per_second(config)
        regime = day_path(config, 0).in_play_regime
        return cls(signed, total, logp, regime, np.cumsum(_episode_seconds(config), axis=1))


def imbalance_hit_rate(day: Day, *, in_play: bool) -> tuple[float, int]:
    """Share of samples where sign(imb_1m at t) == sign(move over (t, t + H]), and their
    count, at ticks ``t`` (every ``HORIZON_S``) inside (or outside) in-play regimes whose
    lookback and horizon touch no injected episode."""
    hits = kept = 0
    for t in range(LOOKBACK_S + 1, SECONDS - HORIZON_S, HORIZON_S):
        busy = (
            day.episode_seconds[:, t + HORIZON_S - 1] - day.episode_seconds[:, t - LOOKBACK_S - 1]
        )
        where = (busy == 0) & (day.in_play_regime[:, t - 1] == in_play)
        flow = day.signed[:, t - LOOKBACK_S : t].sum(axis=1)
        volume = day.total[:, t - LOOKBACK_S : t].sum(axis=1)
        move = day.logp[:, t + HORIZON_S - 1] - day.logp[:, t - 1]
        where &= (volume > 0) & (flow != 0) & (move != 0) & np.isfinite(move)
        hits += int(np.sum(np.sign(flow[where]) == np.sign(move[where])))
        kept += int(where.sum())
    return hits / kept, kept


def _half_width(n: int) -> float:
    return Z99 * float(np.sqrt(0.25 / n))


# Two simulated 24-symbol days (~10 s on an idle core): the statistical tests are ``slow``.
@pytest.fixture(scope="module")
def hit_rates() -> dict[str, tuple[float, int]]:
    default = Day.of(BASE)
    off = Day.of(replace(BASE, directional_strength=0.0))
    return {
        "default_in_play": imbalance_hit_rate(default, in_play=True),
        "default_calm": imbalance_hit_rate(default, in_play=False),
        "off_in_play": imbalance_hit_rate(off, in_play=True),
    }


@pytest.mark.slow
def test_default_flow_imbalance_predicts_direction_in_play_but_not_perfectly(
    hit_rates: dict[str, tuple[float, int]],
) -> None:
    hit, n = hit_rates["default_in_play"]
    assert n > 1_000
    assert hit > 0.5 + _half_width(n)
    assert hit < 0.7


@pytest.mark.slow
def test_at_strength_zero_imbalance_carries_no_direction(
    hit_rates: dict[str, tuple[float, int]],
) -> None:
    hit, n = hit_rates["off_in_play"]
    assert n > 1_000
    assert abs(hit - 0.5) < _half_width(n)


@pytest.mark.slow
def test_calm_regimes_carry_no_direction_even_when_on(
    hit_rates: dict[str, tuple[float, int]],
) -> None:
    hit, n = hit_rates["default_calm"]
    assert n > 1_000
    assert abs(hit - 0.5) < _half_width(n)


def test_default_is_modest_and_on() -> None:
    assert 0.0 < SimConfig().directional_strength <= 0.1


def test_strength_zero_reproduces_the_pre_component_market_byte_for_byte() -> None:
    config = SimConfig(
        seed=11, n_symbols=3, days=2, start=date(2026, 3, 1), directional_strength=0.0
    )
    assert tables_digest(simulate_day(config, 1)) == PRE_COMPONENT_DIGEST


def test_same_strength_same_market_and_strength_changes_it() -> None:
    small = SimConfig(seed=4, n_symbols=2, days=1, book_rate=0.0, klines=False)
    first = tables_digest(simulate_day(small, 0))
    assert tables_digest(simulate_day(small, 0)) == first
    assert tables_digest(simulate_day(replace(small, directional_strength=0.0), 0)) != first
    assert tables_digest(simulate_day(replace(small, directional_strength=0.08), 0)) != first


@pytest.mark.parametrize("value", [-0.01, 1.5, float("nan"), float("inf"), "0.04", True, None])
def test_directional_strength_is_validated_by_name(value: object) -> None:
    with pytest.raises(SimConfigError) as err:
        SimConfig(directional_strength=value)  # type: ignore[arg-type]
    assert err.value.field == "directional_strength"


def test_latent_flow_is_a_stationary_ou_with_the_documented_memory() -> None:
    hot = np.ones((40, SECONDS), bool)
    hot[:, : SECONDS // 2] = False
    flow = latent_flow(np.random.default_rng(0), hot)
    assert np.all(flow[:, : SECONDS // 2] == 0.0)
    on = flow[:, SECONDS // 2 :]
    assert abs(on.std() - 1.0) < 0.05
    lag = int(FLOW_MEMORY_S)
    corr = np.corrcoef(on[:, :-lag].ravel(), on[:, lag:].ravel())[0, 1]
    assert abs(corr - np.exp(-1.0)) < 0.05
