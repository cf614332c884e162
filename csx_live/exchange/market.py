"""What the REST endpoints answer from: symbol specs and per-symbol state of the replay.

Tick and step sizes are inferred from the replayed data (the smallest power of ten that
every sampled price/quantity is a multiple of), so ``exchangeInfo`` agrees with the
frames. 1-minute bars are built from replayed trades (kept for 1500 minutes, the largest
``klines`` limit); other intervals are aggregated from them. The 24 h ticker uses the
last 1440 bars. All times here are ns unless a name says ms.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from csx_core.contracts import BookTop, MarketEvent, Trade
from csx_live.exchange.encode import decimal_str

_NS_PER_MS = 1_000_000
_MINUTE_NS = 60_000_000_000
_MAX_BARS = 1500
INTERVALS_MIN = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120,
                 "4h": 240, "6h": 360, "8h": 480, "12h": 720, "1d": 1440}  # fmt: skip


def _n(x: float) -> str:
    """Decimal text rounded to 8 places (sums of floats would otherwise show residue)."""
    return decimal_str(round(x, 8))


@dataclass(frozen=True)
class SymbolSpec:
    """Exchange filters of one symbol (decimal sizes as floats)."""

    symbol: str
    tick_size: float
    step_size: float
    min_notional: float = 5.0


def _grid(values: Sequence[float], default: float) -> float:
    finite = [v for v in values if math.isfinite(v) and v > 0]
    if not finite:
        return default
    for decimals in range(9):
        scale = 10.0**decimals
        if all(abs(v * scale - round(v * scale)) <= 1e-6 * max(1.0, v * scale) for v in finite):
            return 10.0**-decimals
    return 1e-8


def infer_specs(symbols: Sequence[str], sample: Iterable[MarketEvent]) -> dict[str, SymbolSpec]:
    """Specs for ``symbols`` from prices/quantities in ``sample`` (defaults 0.01/0.001)."""
    prices: dict[str, list[float]] = {s: [] for s in symbols}
    qtys: dict[str, list[float]] = {s: [] for s in symbols}
    for event in sample:
        if isinstance(event, Trade):
            prices.setdefault(event.symbol, []).append(event.price)
            qtys.setdefault(event.symbol, []).append(event.qty)
        elif isinstance(event, BookTop):
            prices.setdefault(event.symbol, []).extend((event.bid_price, event.ask_price))
            qtys.setdefault(event.symbol, []).extend((event.bid_qty, event.ask_qty))
    return {
        s: SymbolSpec(s, _grid(prices[s][:500], 0.01), _grid(qtys.get(s, [])[:500], 0.001))
        for s in sorted(prices)
    }


class _Bar:
    __slots__ = (
        "close",
        "count",
        "high",
        "low",
        "open",
        "open_ns",
        "quote",
        "taker",
        "taker_q",
        "volume",
    )

    def __init__(self, open_ns: int, price: float) -> None:
        self.open_ns = open_ns
        self.open = self.high = self.low = self.close = price
        self.volume = self.quote = self.taker = self.taker_q = 0.0
        self.count = 0


class SymbolState:
    """Latest book and trade-built bars of one symbol."""

    def __init__(self) -> None:
        self.book: BookTop | None = None
        self.last_trade: Trade | None = None
        self.first_trade_id: int | None = None
        self.bars: deque[_Bar] = deque(maxlen=_MAX_BARS)

    def on_trade(self, t: Trade) -> None:
        minute = t.ts_event - t.ts_event % _MINUTE_NS
        if not self.bars or self.bars[-1].open_ns < minute:
            self.bars.append(_Bar(minute, t.price))
        bar = self.bars[-1]
        bar.high, bar.low, bar.close = max(bar.high, t.price), min(bar.low, t.price), t.price
        bar.volume += t.qty
        bar.quote += t.price * t.qty
        bar.count += 1
        if not t.buyer_is_maker:
            bar.taker += t.qty
            bar.taker_q += t.price * t.qty
        if self.first_trade_id is None:
            self.first_trade_id = t.trade_id
        self.last_trade = t


class MarketState:
    """Per-symbol state fed by every replayed event."""

    def __init__(self, specs: dict[str, SymbolSpec]) -> None:
        self.specs = specs
        self.symbols: dict[str, SymbolState] = {s: SymbolState() for s in specs}
        self.now_ns = 0

    def on_event(self, event: MarketEvent) -> None:
        state = self.symbols.get(event.symbol)
        if state is None:
            return
        self.now_ns = max(self.now_ns, event.ts_event)
        if isinstance(event, Trade):
            state.on_trade(event)
        elif isinstance(event, BookTop):
            state.book = event

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        """A synthetic book around the replayed top: level k is k ticks away, quantity grows."""
        state, tick = self.symbols[symbol], self.specs[symbol].tick_size
        book = state.book
        if book is None:
            return {"lastUpdateId": 0, "E": self.now_ns // _NS_PER_MS,
                    "T": self.now_ns // _NS_PER_MS, "bids": [], "asks": []}  # fmt: skip
        decimals = max(0, -round(math.log10(tick)))

        def side(top: float, qty: float, sign: int) -> list[list[str]]:
            levels = []
            for k in range(limit):
                price = round(top + sign * k * tick, decimals)
                if price <= 0:
                    break
                size = qty if k == 0 else round(qty * (1.0 + 0.25 * k), 8)
                levels.append([f"{price:.{decimals}f}", _n(size)])
            return levels

        ms = book.ts_event // _NS_PER_MS
        return {"lastUpdateId": book.update_id, "E": ms, "T": ms,
                "bids": side(book.bid_price, book.bid_qty, -1),
                "asks": side(book.ask_price, book.ask_qty, 1)}  # fmt: skip

    def klines(self, symbol: str, interval: str, limit: int, start_ms: int | None,
               end_ms: int | None) -> list[list[Any]]:  # fmt: skip
        """Rows ``[openTime,o,h,l,c,volume,closeTime,quoteVolume,trades,takerBuyBase,
        takerBuyQuote,"ignore"]`` aggregated from 1-minute bars."""
        width = INTERVALS_MIN[interval] * _MINUTE_NS
        groups: dict[int, list[_Bar]] = {}
        for bar in self.symbols[symbol].bars:
            groups.setdefault(bar.open_ns - bar.open_ns % width, []).append(bar)
        rows = []
        for open_ns, bars in sorted(groups.items()):
            open_ms = open_ns // _NS_PER_MS
            if (start_ms is not None and open_ms < start_ms) or (
                end_ms is not None and open_ms > end_ms
            ):
                continue
            rows.append([
                open_ms, _n(bars[0].open), _n(max(b.high for b in bars)),
                _n(min(b.low for b in bars)), _n(bars[-1].close),
                _n(sum(b.volume for b in bars)), open_ms + width // _NS_PER_MS - 1,
                _n(sum(b.quote for b in bars)), sum(b.count for b in bars),
                _n(sum(b.taker for b in bars)), _n(sum(b.taker_q for b in bars)), "0",
            ])  # fmt: skip
        return rows[:limit] if start_ms is not None else rows[-limit:]

    def ticker(self, symbol: str) -> dict[str, Any]:
        """24 h statistics over the trade-built bars (zeros before the first trade)."""
        state = self.symbols[symbol]
        bars = list(state.bars)[-1440:]
        last = state.last_trade
        close_ms = self.now_ns // _NS_PER_MS
        if not bars or last is None:
            return {"symbol": symbol, "priceChange": "0", "priceChangePercent": "0",
                    "weightedAvgPrice": "0", "lastPrice": "0", "lastQty": "0", "openPrice": "0",
                    "highPrice": "0", "lowPrice": "0", "volume": "0", "quoteVolume": "0",
                    "openTime": close_ms, "closeTime": close_ms, "firstId": -1, "lastId": -1,
                    "count": 0}  # fmt: skip
        volume = sum(b.volume for b in bars)
        quote = sum(b.quote for b in bars)
        change = last.price - bars[0].open
        return {"symbol": symbol, "priceChange": _n(change),
                "priceChangePercent": f"{100.0 * change / bars[0].open:.3f}",
                "weightedAvgPrice": _n(quote / volume if volume else last.price),
                "lastPrice": _n(last.price), "lastQty": _n(last.qty),
                "openPrice": _n(bars[0].open), "highPrice": _n(max(b.high for b in bars)),
                "lowPrice": _n(min(b.low for b in bars)), "volume": _n(volume),
                "quoteVolume": _n(quote), "openTime": bars[0].open_ns // _NS_PER_MS,
                "closeTime": close_ms, "firstId": state.first_trade_id or 0,
                "lastId": last.trade_id, "count": sum(b.count for b in bars)}  # fmt: skip
