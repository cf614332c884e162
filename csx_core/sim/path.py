"""The latent market of one UTC day on a one-second grid: returns, activity, flow, episodes.

Everything here is a function of ``(config, day)`` only (random stream ``[seed, day, 0]``, plus
``[seed, day, 3]`` for directional flow), so any day can be generated on its own: the starting
price of day ``d`` is the configured price moved by the returns of days ``0 .. d-1``, which are
cheap to recompute (events are not), and are remembered per process once computed.

Symbols are generated in blocks of ``BLOCK_SYMBOLS`` (config order), so memory holds one
block's per-second surfaces however many symbols there are. The market (its regime and the
BTC factor) is one path for every block, drawn from block 0's stream as before blocks
existed; block ``b > 0`` draws its own symbols from streams keyed ``[seed, day, stream, b]``.
A market of at most ``BLOCK_SYMBOLS`` symbols is therefore the same, byte for byte, as it was.

Units: returns are natural-log per second; move sizes are bps; times are seconds of the day.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from csx_core.sim.config import SimConfig
from csx_core.sim.direction import FLOW_LEAN, latent_flow

SECONDS = 86_400
MINUTES = 1_440
BLOCK_SYMBOLS = 32
"""Symbols per generation block: a block's day surfaces take ~25 MB per array."""

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# (calm, hot) volatility multipliers and per-minute switching probabilities.
_REGIME_MULT = np.array([0.8, 2.0])
_P_CALM_TO_HOT = 1.0 / 240.0
_P_HOT_TO_CALM = 1.0 / 45.0
_MARKET_MULT = np.array([0.8, 1.7])


@dataclass(frozen=True)
class Episodes:
    """Ground truth of injected in-play episodes (one row each), times in seconds of day.

    ``has_precursor`` false: a surprise move. ``false_alarm`` true: a precursor burst not
    followed by a move (``size_bps`` is then the move that did not happen, for reference).
    """

    symbol: I64
    pre_start: I64
    pre_len: I64
    move_start: I64
    move_len: I64
    direction: I64
    size_bps: F64
    has_precursor: npt.NDArray[np.bool_]
    false_alarm: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DayPath:
    """Per (symbol, second) latent state; arrays are (n_symbols, 86_400).

    ``returns``: log mid change over the second. ``activity``: trade-arrival multiplier.
    ``p_buy``: probability a trade is a taker buy. ``size_mult``: trade size multiplier.
    ``book_skew``: log ratio of bid to ask size at the top. ``move_dir``: direction of an
    injected move in progress (0 when none). ``vol_mult``: current volatility multiplier.
    ``funding``: funding rate per (symbol, minute). ``in_play_regime``: the symbol's or the
    market's volatility regime is hot (where directional flow, if configured, runs).
    """

    returns: F64
    activity: F64
    p_buy: F64
    size_mult: F64
    book_skew: F64
    move_dir: npt.NDArray[np.int8]
    vol_mult: F64
    funding: F64
    in_play_regime: npt.NDArray[np.bool_]
    episodes: Episodes


def day_rng(config: SimConfig, day: int, stream: int, block: int = 0) -> np.random.Generator:
    key = [config.seed, day, stream] + ([block] if block else [])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


def blocks(config: SimConfig) -> list[slice]:
    """The symbol blocks of ``config`` (slices of ``config.specs``), in order."""
    n = len(config.specs)
    return [slice(a, min(a + BLOCK_SYMBOLS, n)) for a in range(0, n, BLOCK_SYMBOLS)]


def _regimes(rng: np.random.Generator, n: int, mult: F64, up: float, down: float) -> F64:
    """A two-state Markov chain per row over the minutes of the day, as multipliers."""
    stationary_hot = up / (up + down)
    state = rng.random(n) < stationary_hot
    u = rng.random((MINUTES, n))
    out = np.empty((n, MINUTES), dtype=np.int64)
    for m in range(MINUTES):
        state = np.where(state, u[m] >= down, u[m] < up)
        out[:, m] = state
    return np.asarray(mult[out], dtype=np.float64)


def _episodes(config: SimConfig, rng: np.random.Generator, n: int) -> Episodes:
    n_pre = rng.poisson(config.episodes_per_day, n)
    n_sur = rng.poisson(config.surprise_moves_per_day, n)
    counts = n_pre + n_sur
    total = int(counts.sum())
    symbol = np.repeat(np.arange(n, dtype=np.int64), counts)
    has_pre = (
        np.concatenate(
            [np.r_[np.ones(a, bool), np.zeros(b, bool)] for a, b in zip(n_pre, n_sur, strict=True)]
        )
        if total
        else np.zeros(0, bool)
    )
    pre_len = rng.integers(30, 121, total)
    gap = rng.integers(0, 21, total)
    move_len = rng.integers(60, 241, total)
    pre_start = rng.integers(0, SECONDS - 400, total)
    move_start = np.where(has_pre, pre_start + pre_len + gap, pre_start)
    lo, hi = config.move_bps
    size = rng.uniform(lo, hi, total)
    direction = np.where(rng.random(total) < 0.5, -1, 1).astype(np.int64)
    false_alarm = has_pre & (rng.random(total) < config.false_alarm_rate)
    return Episodes(
        symbol=symbol,
        pre_start=pre_start.astype(np.int64),
        pre_len=np.where(has_pre, pre_len, 0).astype(np.int64),
        move_start=move_start.astype(np.int64),
        move_len=move_len.astype(np.int64),
        direction=direction,
        size_bps=size,
        has_precursor=has_pre,
        false_alarm=false_alarm,
    )


def _symbol_regimes(rng: np.random.Generator, n: int) -> F64:
    return np.repeat(_regimes(rng, n, _REGIME_MULT, _P_CALM_TO_HOT, _P_HOT_TO_CALM), 60, axis=1)


def day_path(config: SimConfig, day: int, block: int = 0) -> DayPath:
    """The latent state of simulated day ``day`` (0-based from ``config.start``) for the
    symbols of block ``block`` (``blocks(config)``); rows are the block's symbols."""
    rng = day_rng(config, day, 0)
    part = blocks(config)[block]
    specs = config.specs[part]
    n = len(specs)
    beta = np.array([s.beta for s in specs])[:, None]
    vmult = np.array([s.vol_mult for s in specs])
    sig = config.btc_vol_bps_s * 1e-4
    idio = (sig * np.sqrt(np.maximum(vmult**2 - beta[:, 0] ** 2, 0.15**2)))[:, None]

    # The market is drawn from block 0's stream, after block 0's symbol regimes (the order
    # the draws had before blocks), so every block moves with the same factor.
    market = np.repeat(_regimes(rng, 1, _MARKET_MULT, 1 / 300, 1 / 60)[0], 60)
    regime = _symbol_regimes(rng, len(config.specs[blocks(config)[0]]))
    scale = np.sqrt(3.0 / 5.0)
    factor = sig * market * rng.standard_t(5, SECONDS) * scale
    if block:
        rng = day_rng(config, day, 0, block)
        regime = _symbol_regimes(rng, n)
    noise = rng.standard_t(5, (n, SECONDS)) * scale
    vol = np.array(regime, copy=True)
    activity = regime**0.7 * market[None, :] ** 0.5
    imbalance = np.zeros((n, SECONDS))
    size_mult = np.ones((n, SECONDS))
    skew = rng.normal(0.0, 0.35, (n, SECONDS))
    drift = np.zeros((n, SECONDS))
    move_dir = np.zeros((n, SECONDS), dtype=np.int8)

    eps = _episodes(config, rng, n)
    burst = rng.uniform(2.5, 5.0, eps.symbol.size)
    imb = rng.uniform(0.10, 0.25, eps.symbol.size)
    big = rng.uniform(1.3, 2.0, eps.symbol.size)
    tilt = np.log(rng.uniform(1.5, 3.0, eps.symbol.size))
    for k in range(eps.symbol.size):
        i = int(eps.symbol[k])
        d = int(eps.direction[k])
        if eps.has_precursor[k]:
            a, b = int(eps.pre_start[k]), int(eps.pre_start[k] + eps.pre_len[k])
            ramp = np.linspace(0.4, 1.0, b - a)
            activity[i, a:b] *= 1.0 + (burst[k] - 1.0) * ramp
            imbalance[i, a:b] += d * imb[k] * ramp
            size_mult[i, a:b] *= big[k]
            skew[i, a:b] += d * tilt[k]
        if not eps.false_alarm[k]:
            a = int(eps.move_start[k])
            b = min(SECONDS, a + int(eps.move_len[k]))
            drift[i, a:b] += d * eps.size_bps[k] * 1e-4 / eps.move_len[k]
            vol[i, a:b] *= 1.5
            activity[i, a:b] *= 2.0
            move_dir[i, a:b] = d

    in_play_regime = (regime > 1.0) | (market[None, :] > 1.0)
    if config.directional_strength > 0.0:
        # Its own random stream, drawn only when on: strength 0 leaves the day untouched.
        flow = latent_flow(day_rng(config, day, 3, block), in_play_regime)
        drift += config.directional_strength * sig * vmult[:, None] * vol * flow
        imbalance += FLOW_LEAN * flow

    returns = beta * factor[None, :] + idio * vol * noise + drift
    z = returns / (sig * vmult[:, None] * vol)
    activity *= 1.0 + 0.3 * np.minimum(np.abs(z), 5.0)
    p_buy = np.clip(0.5 + 0.3 * np.tanh(0.7 * z) + imbalance, 0.03, 0.97)

    base = rng.normal(1e-4, 6e-5, n)[:, None]
    walk = np.cumsum(rng.normal(0.0, 2e-6, (n, MINUTES)), axis=1)
    funding = np.asarray(np.round(np.clip(base + walk, -0.0075, 0.0075), 8), np.float64)
    _remember_day_returns(config, day, block, returns)
    return DayPath(
        returns=returns,
        activity=activity,
        p_buy=p_buy,
        size_mult=size_mult,
        book_skew=skew,
        move_dir=move_dir,
        vol_mult=vol,
        funding=funding,
        in_play_regime=in_play_regime,
        episodes=eps,
    )


def start_log_prices(config: SimConfig, day: int, block: int = 0) -> F64:
    """Log mid of every symbol of ``block`` at 00:00:00 of ``day``: the configured price
    moved by the returns of all earlier days (recomputed, so days are independent)."""
    specs = config.specs[blocks(config)[block]]
    level = np.log(np.array([s.price for s in specs], dtype=np.float64))
    for earlier in range(day):
        key = _day_key(config, earlier, block)
        if key not in _DAY_RETURNS:
            day_path(config, earlier, block)
        level = level + _DAY_RETURNS[key]
    return np.asarray(level, np.float64)


_DAY_RETURNS: OrderedDict[tuple[SimConfig, int, int], F64] = OrderedDict()
"""Each generated (config, day, block)'s per-symbol sum of returns, most recent last: a
market day run, or a held-out day, after day ``d`` would otherwise regenerate every earlier
day's path to find its starting prices (0.8 s a day of 20 symbols)."""
_DAY_RETURNS_KEPT = 4096


def _day_key(config: SimConfig, day: int, block: int) -> tuple[SimConfig, int, int]:
    # ``days`` only bounds which days may be asked for; a day's path does not depend on it.
    return dataclasses.replace(config, days=1), day, block


def _remember_day_returns(config: SimConfig, day: int, block: int, returns: F64) -> None:
    sums = returns.sum(axis=1)
    sums.setflags(write=False)
    _DAY_RETURNS[_day_key(config, day, block)] = sums
    while len(_DAY_RETURNS) > _DAY_RETURNS_KEPT:
        _DAY_RETURNS.popitem(last=False)
