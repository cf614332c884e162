"""Data-quality measurements the platform's checks gate on (pure, over store partitions)."""

from csx_core.quality.market import MarketDayQuality, measure_market_day

__all__ = ["MarketDayQuality", "measure_market_day"]
