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
    ``stall_until`` is in ``loop.time()`` seconds. ``unpaced`` holds while the replay runs
    as fast as the clients read (``speed=None``, or its fast-forward part): a full outbox
    then makes the replay wait instead of closing the connection.
    """

    config: ExchangeConfig
    faults: Faults
    market: MarketState
    counters: Counters = field(default_factory=Counters)
    wall: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    stall_until: float = 0.0
    unpaced: bool = field(init=False)

    def __post_init__(self) -> None:
        self.rng.seed(self.config.seed)
        self.unpaced = self.config.speed is None or self.config.fast_forward_s > 0

    def paced(self) -> None:
        """The replay's fast-forward is over: from now on it keeps time."""
        self.unpaced = self.config.speed is None

    def lifetime_s(self) -> float:
        return self.faults.max_lifetime_s or self.config.max_lifetime_s


STATE_KEY = web.AppKey("csx_exchange_state", ExchangeState)
