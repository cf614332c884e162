"""A fake Binance USD-M exchange for tests, demos and soaks: routed WebSocket streams with
the control protocol and limits, REST market data with weights and bans, replay of stored or
in-memory events at a speed factor, and fault injection switchable at run time."""

from csx_live.exchange.admin import ACTIONS, FaultControl
from csx_live.exchange.config import Counters, ExchangeConfig, Faults
from csx_live.exchange.encode import ENCODER, route_of, stream_names
from csx_live.exchange.market import SymbolSpec
from csx_live.exchange.replay import (
    Clock,
    EventSource,
    ListSource,
    LoopClock,
    Replayer,
    StoreSource,
)
from csx_live.exchange.server import FakeExchange, make_app

__all__ = [
    "ACTIONS",
    "ENCODER",
    "Clock",
    "Counters",
    "EventSource",
    "ExchangeConfig",
    "FakeExchange",
    "FaultControl",
    "Faults",
    "ListSource",
    "LoopClock",
    "Replayer",
    "StoreSource",
    "SymbolSpec",
    "make_app",
    "route_of",
    "stream_names",
]
