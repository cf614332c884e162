"""Bounded per-symbol price candles for the drill-down chart, built from the engine's
1-second buckets as the runner publishes them.

Each tick the runner's frame gives a symbol's last trade price and the high/low of trades
inside that second (``csx_core.features.PRICE_COLUMNS``; NaN when no trade printed); a 1 s
candle opens at the previous close, so a quiet second is a flat candle at the last price
rather than a hole. 1 m candles are folded from the 1 s ones, so both timeframes always
agree. A tick whose row is flagged ``gap`` (the feed lost data) marks the candle, and the
chart shows it. Each candle also carries the calibrated p(in play), the spread and the
10 s traded volume at its close, which the drill-down plots beside the price.

Memory is bounded twice: ``max_1s`` / ``max_1m`` candles per symbol and ``max_symbols``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import msgspec

NS_PER_S = 1_000_000_000
TIMEFRAMES_S: dict[str, int] = {"1s": 1, "1m": 60}


class Candle(msgspec.Struct, frozen=True, kw_only=True):
    """OHLC in quote price; ``t`` is the candle's open time in seconds (the chart's unit)."""

    t: int
    o: float
    h: float
    low: float = msgspec.field(name="l")
    c: float
    gap: bool = False
    p: float | None = None
    spread_bps: float | None = None
    qvol_10s: float | None = None


@dataclass(frozen=True)
class Bucket:
    """What one tick says about one symbol (NaN: not known at this tick)."""

    last: float
    high: float = math.nan
    low: float = math.nan
    gap: bool = False
    p: float | None = None
    spread_bps: float | None = None
    qvol_10s: float | None = None


class _Series:
    def __init__(self, max_1s: int, max_1m: int) -> None:
        self.s1: deque[Candle] = deque(maxlen=max_1s)
        self.m1: deque[Candle] = deque(maxlen=max_1m)


class CandleBook:
    def __init__(self, *, max_1s: int = 900, max_1m: int = 240, max_symbols: int = 500) -> None:
        self._max_1s = max_1s
        self._max_1m = max_1m
        self._max_symbols = max_symbols
        self._series: dict[str, _Series] = {}

    def add(self, ts_ns: int, symbol: str, bucket: Bucket) -> None:
        """Record ``symbol``'s bucket of the tick at ``ts_ns`` (ticks arrive in time order;
        a repeated second replaces nothing and is ignored)."""
        if not math.isfinite(bucket.last) or bucket.last <= 0:
            return
        series = self._series.get(symbol)
        if series is None:
            if len(self._series) >= self._max_symbols:
                return  # bounded: a flood of new symbols cannot grow memory
            series = self._series[symbol] = _Series(self._max_1s, self._max_1m)
        t = ts_ns // NS_PER_S
        if series.s1 and series.s1[-1].t >= t:
            return
        open_ = series.s1[-1].c if series.s1 else bucket.last
        second = Candle(
            t=t,
            o=open_,
            h=max(_finite_only(open_, bucket.last, bucket.high)),
            low=min(_finite_only(open_, bucket.last, bucket.low)),
            c=bucket.last,
            gap=bucket.gap,
            p=bucket.p,
            spread_bps=_finite(bucket.spread_bps),
            qvol_10s=_finite(bucket.qvol_10s),
        )
        series.s1.append(second)
        minute_t = t - t % 60
        if series.m1 and series.m1[-1].t == minute_t:
            m = series.m1[-1]
            series.m1[-1] = msgspec.structs.replace(
                second,
                t=minute_t,
                o=m.o,
                h=max(m.h, second.h),
                low=min(m.low, second.low),
                gap=m.gap or second.gap,
            )
        else:
            series.m1.append(msgspec.structs.replace(second, t=minute_t))

    def candles(self, symbol: str, timeframe: str) -> tuple[Candle, ...]:
        """Oldest first; empty for an unknown symbol or timeframe."""
        series = self._series.get(symbol)
        if series is None or timeframe not in TIMEFRAMES_S:
            return ()
        return tuple(series.s1 if timeframe == "1s" else series.m1)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._series


def _finite_only(*values: float) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
