"""Simulator settings and the per-symbol exchange parameters (tick, step, price level).

``SimConfig`` is frozen and validated on construction; a bad value raises
``SimConfigError`` whose ``field`` names the offending setting. Rates are per second of
simulated time, sizes of moves in basis points (bps), latencies in milliseconds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np


class SimConfigError(ValueError):
    """A simulator setting that is out of range; ``field`` names it."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"SimConfig.{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class SymbolSpec:
    """Exchange filters and stylised market parameters of one perpetual.

    ``tick``/``step`` are Binance's PRICE_FILTER.tickSize and LOT_SIZE.stepSize as decimal
    strings (exact); ``price`` the starting mid in quote units; ``activity`` a relative trade
    rate (1 = an average symbol); ``vol_mult`` the volatility relative to BTC; ``beta`` the
    loading on the BTC factor; ``spread_bps`` the typical quoted spread.
    """

    symbol: str
    tick: str
    step: str
    price: float
    activity: float
    vol_mult: float
    beta: float
    spread_bps: float

    @property
    def tick_size(self) -> float:
        return float(self.tick)

    @property
    def step_size(self) -> float:
        return float(self.step)

    @property
    def tick_decimals(self) -> int:
        return _decimals(self.tick)

    @property
    def step_decimals(self) -> int:
        return _decimals(self.step)


def _decimals(value: str) -> int:
    exponent = Decimal(value).normalize().as_tuple().exponent
    return max(0, -int(exponent))


UNIVERSE: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", "0.10", "0.001", 95_000.0, 5.0, 1.0, 1.0, 0.02),
    SymbolSpec("ETHUSDT", "0.01", "0.001", 3_300.0, 3.5, 1.25, 1.1, 0.05),
    SymbolSpec("SOLUSDT", "0.0100", "1", 190.0, 2.0, 1.6, 1.2, 0.6),
    SymbolSpec("BNBUSDT", "0.010", "0.01", 650.0, 1.0, 1.1, 0.8, 0.3),
    SymbolSpec("XRPUSDT", "0.0001", "0.1", 2.2, 1.6, 1.6, 1.1, 0.5),
    SymbolSpec("DOGEUSDT", "0.00001", "1", 0.32, 1.5, 1.8, 1.3, 0.4),
    SymbolSpec("ADAUSDT", "0.0001", "1", 0.9, 0.8, 1.7, 1.2, 1.1),
    SymbolSpec("AVAXUSDT", "0.0010", "1", 35.0, 0.7, 1.9, 1.3, 0.6),
    SymbolSpec("LINKUSDT", "0.001", "0.01", 20.0, 0.7, 1.8, 1.2, 0.6),
    SymbolSpec("DOTUSDT", "0.001", "0.1", 6.5, 0.5, 1.8, 1.1, 1.6),
    SymbolSpec("LTCUSDT", "0.01", "0.001", 100.0, 0.5, 1.5, 1.0, 1.0),
    SymbolSpec("BCHUSDT", "0.01", "0.001", 450.0, 0.4, 1.6, 1.0, 0.5),
    SymbolSpec("TRXUSDT", "0.00001", "1", 0.25, 0.3, 1.0, 0.6, 0.5),
    SymbolSpec("NEARUSDT", "0.0010", "1", 5.0, 0.5, 2.1, 1.3, 2.0),
    SymbolSpec("APTUSDT", "0.00010", "0.1", 9.0, 0.4, 2.0, 1.2, 0.4),
    SymbolSpec("ARBUSDT", "0.0001", "0.1", 0.75, 0.5, 2.1, 1.3, 1.4),
    SymbolSpec("OPUSDT", "0.0001000", "0.1", 1.9, 0.4, 2.1, 1.3, 0.6),
    SymbolSpec("SUIUSDT", "0.000100", "0.1", 4.0, 0.9, 2.3, 1.4, 0.4),
    SymbolSpec("WIFUSDT", "0.0001000", "0.1", 2.0, 0.7, 2.8, 1.5, 0.6),
    SymbolSpec("1000PEPEUSDT", "0.0000001", "1", 0.018, 1.0, 2.6, 1.5, 0.7),
    SymbolSpec("FILUSDT", "0.001", "0.1", 5.0, 0.3, 2.0, 1.2, 2.0),
    SymbolSpec("ATOMUSDT", "0.001", "0.01", 6.5, 0.3, 1.8, 1.1, 1.6),
    SymbolSpec("INJUSDT", "0.001000", "0.1", 22.0, 0.3, 2.4, 1.3, 0.5),
    SymbolSpec("TIAUSDT", "0.0001000", "1", 6.0, 0.3, 2.5, 1.3, 0.2),
)
_BY_NAME = {s.symbol: s for s in UNIVERSE}


def synthetic_spec(symbol: str) -> SymbolSpec:
    """A plausible altcoin for a name outside ``UNIVERSE``, derived from the name only
    (stable across runs and seeds)."""
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(symbol.encode())))
    price = float(10 ** rng.uniform(-2.0, 2.5))
    tick_exp = int(np.floor(np.log10(price))) - 4
    tick = f"{Decimal(1).scaleb(tick_exp):f}"
    step = f"{Decimal(1).scaleb(max(-3, -tick_exp - 5 + 1)):f}" if price > 50 else "1"
    return SymbolSpec(
        symbol=symbol,
        tick=tick,
        step=step,
        price=price,
        activity=float(rng.uniform(0.2, 0.8)),
        vol_mult=float(rng.uniform(1.5, 3.0)),
        beta=float(rng.uniform(0.6, 1.5)),
        spread_bps=float(rng.uniform(0.5, 3.0)),
    )


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines a simulated market; same config ⇒ bit-identical output.

    ``symbols`` (explicit names) wins over ``n_symbols`` (the first names of ``UNIVERSE``,
    then synthetic ``SIMnnnUSDT``). ``trade_rate``: mean aggTrades/s of an average symbol in
    calm conditions before self-excitation scaling. ``hawkes_branching`` (< 1) and
    ``hawkes_decay_s`` shape the self-exciting arrivals. ``book_rate``: extra size-only
    bookTicker updates/s at base activity (price changes are always emitted, at most one per
    second). ``mark_interval_s``: 1 or 3 (``@markPrice@1s`` or the 3 s default stream).
    ``episodes_per_day``: precursor bursts per symbol per day, of which ``false_alarm_rate``
    are not followed by a move; ``surprise_moves_per_day``: moves without a precursor.
    ``move_bps``: range of the move size. ``btc_vol_bps_s``: BTC's per-second volatility.
    ``latency_ms``: mean of ``ts_recv - ts_event`` (whole ms, at least 1).

    ``directional_strength`` (in [0, 1]; 0 = off): directional order flow in the in-play
    regimes (``csx_core.sim.direction``). While the symbol's or the market's volatility regime
    is hot, a persistent latent flow leans taker buys its way and drifts the mid by
    ``directional_strength`` times the symbol's per-second volatility per standard deviation
    of flow, so the taker imbalance up to ``t`` predicts the move over the next minutes,
    noisily. The default 0.04 gives, with the latent flow known exactly, a correlation of
    about 0.29 with the 300 s forward return of a hot symbol (a ~59 % sign-accuracy ceiling);
    features see the flow only through trades, so learnable accuracy is lower
    (docs/simulator.md has the measurements). 0 draws nothing extra and reproduces, byte for
    byte, the market without this component; precursor bursts still lean towards their move.
    """

    seed: int = 7
    start: date = date(2026, 1, 1)
    days: int = 3
    n_symbols: int = 20
    symbols: tuple[str, ...] | None = None
    trade_rate: float = 0.5
    hawkes_branching: float = 0.5
    hawkes_decay_s: float = 1.0
    book_rate: float = 0.15
    mark_interval_s: int = 3
    episodes_per_day: float = 10.0
    false_alarm_rate: float = 0.35
    surprise_moves_per_day: float = 4.0
    move_bps: tuple[float, float] = (30.0, 150.0)
    btc_vol_bps_s: float = 0.8
    liquidation_rate: float = 0.04
    directional_strength: float = 0.04
    klines: bool = True
    latency_ms: float = 3.0
    specs: tuple[SymbolSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)
        names = self.symbols if self.symbols is not None else _default_names(self.n_symbols)
        specs = tuple(_BY_NAME.get(n) or synthetic_spec(n) for n in names)
        object.__setattr__(self, "specs", specs)

    @property
    def symbol_names(self) -> tuple[str, ...]:
        return tuple(s.symbol for s in self.specs)


def _default_names(n: int) -> tuple[str, ...]:
    named = [s.symbol for s in UNIVERSE[:n]]
    return tuple(named + [f"SIM{i:03d}USDT" for i in range(n - len(named))])


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SimConfigError(name, problem)


def _validate(c: SimConfig) -> None:
    _check(
        isinstance(c.seed, int) and 0 <= c.seed < 2**63,
        "seed",
        f"must be an int in [0, 2**63), got {c.seed!r}",
    )
    _check(isinstance(c.start, date), "start", f"must be a datetime.date, got {c.start!r}")
    _check(
        isinstance(c.days, int) and 1 <= c.days <= 366,
        "days",
        f"must be in [1, 366], got {c.days!r}",
    )
    if c.symbols is None:
        _check(
            isinstance(c.n_symbols, int) and 1 <= c.n_symbols <= 500,
            "n_symbols",
            f"must be in [1, 500], got {c.n_symbols!r}",
        )
    else:
        _check(len(c.symbols) >= 1, "symbols", "must name at least one symbol")
        _check(len(set(c.symbols)) == len(c.symbols), "symbols", "must not repeat a symbol")
        for s in c.symbols:
            _check(
                bool(s) and s.isascii() and s.isalnum() and s.isupper(),
                "symbols",
                f"{s!r} is not an upper-case alphanumeric symbol",
            )
    _in(c.trade_rate, "trade_rate", 0.001, 100.0)
    _in(c.hawkes_branching, "hawkes_branching", 0.0, 0.95)
    _in(c.hawkes_decay_s, "hawkes_decay_s", 0.01, 60.0)
    _in(c.book_rate, "book_rate", 0.0, 50.0)
    _check(
        c.mark_interval_s in (1, 3), "mark_interval_s", f"must be 1 or 3, got {c.mark_interval_s!r}"
    )
    _in(c.episodes_per_day, "episodes_per_day", 0.0, 200.0)
    _in(c.false_alarm_rate, "false_alarm_rate", 0.0, 1.0)
    _in(c.surprise_moves_per_day, "surprise_moves_per_day", 0.0, 200.0)
    lo, hi = c.move_bps
    _check(
        0.0 < lo <= hi <= 2_000.0, "move_bps", f"needs 0 < low <= high <= 2000, got {c.move_bps!r}"
    )
    _in(c.btc_vol_bps_s, "btc_vol_bps_s", 0.01, 20.0)
    _in(c.liquidation_rate, "liquidation_rate", 0.0, 1.0)
    _in(c.directional_strength, "directional_strength", 0.0, 1.0)
    _in(c.latency_ms, "latency_ms", 1.0, 10_000.0)


def _in(value: float, name: str, lo: float, hi: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi
    _check(ok, name, f"must be a number in [{lo}, {hi}], got {value!r}")
