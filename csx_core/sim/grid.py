"""Integer price/size grids and the quoted book per (symbol, second).

Prices and sizes are carried as integer ticks/steps and turned into floats only at the end
(``ticks * unit / 10**decimals``, one correctly rounded division), so every emitted price is
the double nearest to a tick-grid decimal and prints as that decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from csx_core.sim.config import SimConfig, SymbolSpec
from csx_core.sim.path import SECONDS, DayPath

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Grid:
    """Per-symbol decimal grids: a value of ``k`` ticks is ``k * unit / 10**decimals``."""

    tick: F64
    step: F64
    tick_unit: I64
    tick_scale: F64
    step_unit: I64
    step_scale: F64

    @classmethod
    def of(cls, specs: tuple[SymbolSpec, ...]) -> Grid:
        def unit(value: str, decimals: int) -> int:
            return int(Decimal(value).scaleb(decimals))

        return cls(
            tick=np.array([s.tick_size for s in specs]),
            step=np.array([s.step_size for s in specs]),
            tick_unit=np.array([unit(s.tick, s.tick_decimals) for s in specs], dtype=np.int64),
            tick_scale=np.array([10.0**s.tick_decimals for s in specs]),
            step_unit=np.array([unit(s.step, s.step_decimals) for s in specs], dtype=np.int64),
            step_scale=np.array([10.0**s.step_decimals for s in specs]),
        )

    def price(self, row: I64, ticks: I64) -> F64:
        return np.asarray((ticks * self.tick_unit[row]) / self.tick_scale[row], dtype=np.float64)

    def qty(self, row: I64, steps: I64) -> F64:
        return np.asarray((steps * self.step_unit[row]) / self.step_scale[row], dtype=np.float64)

    def steps_for(self, row: I64, notional: F64, price: F64) -> I64:
        """Whole lot steps (at least one) buying ``notional`` quote units at ``price``."""
        raw = np.rint(notional / price / self.step[row]).astype(np.int64)
        return np.asarray(np.maximum(raw, 1), dtype=np.int64)


@dataclass(frozen=True)
class Book:
    """Quoted top of book per (symbol, second), flattened to ``row * 86_400 + second``.

    The quote of second ``s`` takes effect at millisecond ``change_ms`` within it; before
    that the previous second's quote stands. ``logmid`` is the latent (unrounded) log mid.
    """

    bid: I64
    ask: I64
    change_ms: I64
    changed: npt.NDArray[np.bool_]
    logmid: F64
    logmid_before: F64

    def state(self, cell: I64, offset_ms: I64) -> I64:
        """The flat cell whose quote stands at ``offset_ms`` into second ``cell``."""
        return np.where(offset_ms >= self.change_ms[cell], cell, cell - 1)


def build_book(
    config: SimConfig, path: DayPath, start_level: F64, grid: Grid, rng: np.random.Generator
) -> Book:
    """Spread in ticks scales with the symbol's quoted spread in bps and widens with the
    current volatility multiplier (plus noise); bid/ask sit around the latent mid."""
    n = len(config.specs)
    logmid = start_level[:, None] + np.cumsum(path.returns, axis=1)
    mid_ticks = np.exp(logmid) / grid.tick[:, None]
    spread_bps = np.array([s.spread_bps for s in config.specs])[:, None]
    wide = spread_bps * 1e-4 * mid_ticks * path.vol_mult**0.8
    wide *= np.exp(rng.normal(0.0, 0.2, (n, SECONDS)))
    spread = np.maximum(np.rint(wide), 1).astype(np.int64)
    bid = np.maximum(np.rint(mid_ticks - spread / 2.0).astype(np.int64), 1)
    ask = bid + spread
    changed = np.ones((n, SECONDS), dtype=np.bool_)
    changed[:, 1:] = (bid[:, 1:] != bid[:, :-1]) | (ask[:, 1:] != ask[:, :-1])
    change_ms = rng.integers(0, 1000, (n, SECONDS))
    change_ms[:, 0] = 0
    before = np.concatenate([start_level[:, None], logmid[:, :-1]], axis=1)
    return Book(
        bid=bid.ravel(),
        ask=ask.ravel(),
        change_ms=change_ms.ravel(),
        changed=changed.ravel(),
        logmid=logmid.ravel(),
        logmid_before=before.ravel(),
    )
