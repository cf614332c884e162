"""The shared state of one fake-exchange instance (held in the aiohttp app)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from csx_live.exchange.config import Counters, ExchangeConfig, Faults
from csx_live.exchange.market import MarketState


@dataclass
class ExchangeState:
    """Config, run-time faults, counters, market state and the stall deadline.

    ``wall`` returns epoch seconds (injectable: the REST weight minute and bans use it);
    ``stall_until`` is in ``loop.time()`` seconds.
    """

    config: ExchangeConfig
    faults: Faults
    market: MarketState
    counters: Counters = field(default_factory=Counters)
    wall: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    stall_until: float = 0.0

    def __post_init__(self) -> None:
        self.rng.seed(self.config.seed)

    def lifetime_s(self) -> float:
        return self.faults.max_lifetime_s or self.config.max_lifetime_s


STATE_KEY = web.AppKey("csx_exchange_state", ExchangeState)
