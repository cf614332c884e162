"""Binance USD-M WebSocket connectors: routed stream plans, shards, resilient connections."""

from csx_live.connectors.dedupe import OverlapDeduper, frame_key
from csx_live.connectors.gaps import GapEntry, GapLedger
from csx_live.connectors.plan import (
    MARKET,
    PUBLIC,
    PlanError,
    ShardPlan,
    combined_url,
    plan_shards,
    route_of,
    streams_for,
)
from csx_live.connectors.shards import ShardManager
from csx_live.connectors.stream import FrameHandler, LinkStats, StreamManager, StreamTiming

__all__ = [
    "MARKET",
    "PUBLIC",
    "FrameHandler",
    "GapEntry",
    "GapLedger",
    "LinkStats",
    "OverlapDeduper",
    "PlanError",
    "ShardManager",
    "ShardPlan",
    "StreamManager",
    "StreamTiming",
    "combined_url",
    "frame_key",
    "plan_shards",
    "route_of",
    "streams_for",
]
