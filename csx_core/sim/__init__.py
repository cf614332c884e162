"""Deterministic synthetic market of Binance USD-M perpetuals with latent in-play episodes.

The platform's embedded default dataset: a BTC factor, volatility regimes, Hawkes trade
arrivals, precursor bursts (volume, trade rate, taker and book imbalance) ahead of some large
moves, false alarms and surprise moves, directional order flow in hot regimes (taker imbalance
that leads a small drift, ``SimConfig.directional_strength``), tick/step grids, mark price with
funding and liquidations. Same ``SimConfig`` ⇒ bit-identical tables (numpy ``PCG64`` streams
keyed by seed and day).
"""

from csx_core.sim.config import UNIVERSE, SimConfig, SimConfigError, SymbolSpec
from csx_core.sim.digest import tables_digest
from csx_core.sim.market import (
    EPISODE_SCHEMA,
    SimSummary,
    TableSink,
    day_date,
    episodes,
    simulate,
    simulate_day,
    write_to_store,
)

__all__ = [
    "EPISODE_SCHEMA",
    "UNIVERSE",
    "SimConfig",
    "SimConfigError",
    "SimSummary",
    "SymbolSpec",
    "TableSink",
    "day_date",
    "episodes",
    "simulate",
    "simulate_day",
    "tables_digest",
    "write_to_store",
]
