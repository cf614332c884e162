"""Market events: what the exchange told us, normalised, validated, venue-neutral.

Times are integer nanoseconds since the Unix epoch (UTC) everywhere in the project:
``ts_event`` is the exchange's event time, ``ts_recv`` the local receive time (equal to
``ts_event`` for data that was never received live, e.g. archives or the simulator).
Prices and quantities are floats parsed from the venue's decimal strings.
"""

from __future__ import annotations

import enum
import math
from typing import ClassVar

import msgspec

from csx_core.contracts.base import (
    Contract,
    ContractError,
    as_contract_error,
    require,
    require_non_negative,
    require_positive,
    require_symbol,
)


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


_INF = math.inf
# Symbols already seen valid. The hot path (a decoder building ~1 M events/s) then pays one
# set lookup instead of three string scans; bounded so a flood of bad names cannot grow it.
_VALID_SYMBOLS: set[str] = set()
_VALID_SYMBOLS_MAX = 100_000


class _Event(Contract, frozen=True, kw_only=True, tag_field="kind"):
    symbol: str
    ts_event: int
    ts_recv: int

    def _check_common(self) -> None:
        if self.symbol not in _VALID_SYMBOLS:
            require_symbol(self)
            if len(_VALID_SYMBOLS) < _VALID_SYMBOLS_MAX:
                _VALID_SYMBOLS.add(self.symbol)
        require(self, self.ts_event >= 0, "ts_event", f"must be >= 0 ns, got {self.ts_event}")
        require(self, self.ts_recv >= 0, "ts_recv", f"must be >= 0 ns, got {self.ts_recv}")


class Trade(_Event, frozen=True, kw_only=True, tag="trade"):
    """One aggregated (aggTrade) or raw (trade) print.

    ``buyer_is_maker`` true means the aggressor sold (a taker sell).
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    trade_id: int
    price: float
    qty: float
    buyer_is_maker: bool

    def __post_init__(self) -> None:
        # One combined test on the hot path; the slow checks run only to name the failure.
        if not (
            self.symbol in _VALID_SYMBOLS
            and self.ts_event >= 0
            and self.ts_recv >= 0
            and 0 < self.price < _INF
            and 0 < self.qty < _INF
        ):
            self._check_common()
            require_positive(self, "price")
            require_positive(self, "qty")

    @property
    def quote_qty(self) -> float:
        return self.price * self.qty


class BookTop(_Event, frozen=True, kw_only=True, tag="book_top"):
    """Best bid and offer (bookTicker, or the top of a partial depth snapshot)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    update_id: int
    bid_price: float
    bid_qty: float
    ask_price: float
    ask_qty: float

    def __post_init__(self) -> None:
        if (
            self.symbol in _VALID_SYMBOLS
            and self.ts_event >= 0
            and self.ts_recv >= 0
            and 0 < self.bid_price <= self.ask_price < _INF
            and 0 <= self.bid_qty < _INF
            and 0 <= self.ask_qty < _INF
        ):
            return
        self._check_common()
        require_positive(self, "bid_price", "ask_price")
        require_non_negative(self, "bid_qty", "ask_qty")
        require(
            self,
            self.bid_price <= self.ask_price,
            "bid_price",
            f"bid {self.bid_price} is above ask {self.ask_price}",
        )

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid_price + self.ask_price)


class Kline(_Event, frozen=True, kw_only=True, tag="kline"):
    """One candlestick; ``closed`` is false for an in-progress bar update."""

    SCHEMA_VERSION: ClassVar[int] = 1
    interval: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int
    taker_buy_volume: float
    taker_buy_quote_volume: float
    closed: bool

    def __post_init__(self) -> None:
        self._check_common()
        require_positive(self, "open", "high", "low", "close")
        require_non_negative(
            self, "volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume"
        )
        require(self, self.trades >= 0, "trades", f"must be >= 0, got {self.trades}")
        require(
            self,
            self.close_time >= self.open_time,
            "close_time",
            f"{self.close_time} is before open_time {self.open_time}",
        )
        require(
            self,
            self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close),
            "high",
            f"bar is inconsistent: o={self.open} h={self.high} l={self.low} c={self.close}",
        )
        require(
            self,
            self.taker_buy_volume <= self.volume * (1 + 1e-9),
            "taker_buy_volume",
            f"{self.taker_buy_volume} exceeds volume {self.volume}",
        )


class MarkPrice(_Event, frozen=True, kw_only=True, tag="mark_price"):
    """Mark price and funding; ``index_price`` and ``estimated_settle_price`` may be absent
    (older payloads lack them)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    mark_price: float
    index_price: float | None = None
    estimated_settle_price: float | None = None
    funding_rate: float
    next_funding_time: int

    def __post_init__(self) -> None:
        self._check_common()
        require_positive(self, "mark_price")
        if self.index_price is not None:
            require_positive(self, "index_price")
        if self.estimated_settle_price is not None:
            require_positive(self, "estimated_settle_price")
        require(
            self,
            -1.0 < self.funding_rate < 1.0,
            "funding_rate",
            f"must be a finite fraction in (-1, 1), got {self.funding_rate!r}",
        )


class Liquidation(_Event, frozen=True, kw_only=True, tag="liquidation"):
    """A forced order (forceOrder). ``side`` is the liquidation order's side: SELL means a
    long was liquidated."""

    SCHEMA_VERSION: ClassVar[int] = 1
    side: Side
    price: float
    avg_price: float
    qty: float
    filled_qty: float
    status: str

    def __post_init__(self) -> None:
        self._check_common()
        require_positive(self, "price", "qty")
        require_non_negative(self, "avg_price", "filled_qty")


MarketEvent = Trade | BookTop | Kline | MarkPrice | Liquidation
"""Every normalised market event; tagged by ``kind`` in JSON."""

EVENT_TYPES: tuple[type[Trade | BookTop | Kline | MarkPrice | Liquidation], ...] = (
    Trade,
    BookTop,
    Kline,
    MarkPrice,
    Liquidation,
)
EVENT_KINDS: dict[str, type[Trade | BookTop | Kline | MarkPrice | Liquidation]] = {
    str(t.__struct_config__.tag): t for t in EVENT_TYPES
}


def event_kind(event: MarketEvent) -> str:
    """The partition/table name of an event (``trade``, ``book_top``, ...)."""
    return str(type(event).__struct_config__.tag)


def market_event_from_json(data: bytes | str) -> MarketEvent:
    """Decode any market event from its tagged JSON; errors name the contract and field."""
    try:
        return _EVENT_DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise as_contract_error("MarketEvent", exc) from exc
    except msgspec.DecodeError as exc:
        raise ContractError("MarketEvent", "$", f"malformed JSON: {exc}") from exc


_EVENT_DECODER: msgspec.json.Decoder[MarketEvent] = msgspec.json.Decoder(MarketEvent)
