"""Market events: what the exchange told us, normalised, validated, venue-neutral.

Times are integer nanoseconds since the Unix epoch (UTC) everywhere in the project:
``ts_event`` is the exchange's event time, ``ts_recv`` the local receive time (equal to
``ts_event`` for data that was never received live, e.g. archives or the simulator).
Prices and quantities are floats parsed from the venue's decimal strings.

Each contract is followed by its :class:`~csx_core.contracts.kinds.EventDescriptor` (stored
identity, table rules, row builder, merge rank, feature fill, source streams), and
``EVENT_DESCRIPTORS`` lists them in merge order: every other per-kind table derives from it.
"""

from __future__ import annotations

import enum
import math
from typing import ClassVar

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts.base import (
    Contract,
    ContractError,
    as_contract_error,
    require,
    require_non_negative,
    require_positive,
    require_symbol,
)
from csx_core.contracts.kinds import EventDescriptor, RowRules, in_merge_order


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


def _trade_rows(r: RowRules) -> None:
    r.positive("price", "qty")


def _trade(
    symbol: str,
    ts_event: int,
    ts_recv: int,
    trade_id: int,
    price: float,
    qty: float,
    buyer_is_maker: bool,
) -> Trade:
    return Trade(
        symbol=symbol,
        ts_event=ts_event,
        ts_recv=ts_recv,
        trade_id=trade_id,
        price=price,
        qty=qty,
        buyer_is_maker=buyer_is_maker,
    )


TRADE = EventDescriptor(
    contract=Trade,
    merge_rank=0,
    dedup_keys=("symbol", "trade_id"),
    row_rules=_trade_rows,
    from_row=_trade,
    fill="trade",
    channels=("aggTrade",),
    route="market",
)


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


def _book_top_rows(r: RowRules) -> None:
    r.positive("bid_price", "ask_price")
    r.non_negative("bid_qty", "ask_qty")
    bid, ask = r.values("bid_price"), r.values("ask_price")
    r.require(bid <= ask, lambda i: f"bid {bid[i]} is above ask {ask[i]}")


def _book_top(
    symbol: str,
    ts_event: int,
    ts_recv: int,
    update_id: int,
    bid_price: float,
    bid_qty: float,
    ask_price: float,
    ask_qty: float,
) -> BookTop:
    return BookTop(
        symbol=symbol,
        ts_event=ts_event,
        ts_recv=ts_recv,
        update_id=update_id,
        bid_price=bid_price,
        bid_qty=bid_qty,
        ask_price=ask_price,
        ask_qty=ask_qty,
    )


BOOK_TOP = EventDescriptor(
    contract=BookTop,
    merge_rank=1,
    dedup_keys=("symbol", "update_id"),
    row_rules=_book_top_rows,
    from_row=_book_top,
    fill="book_top",
    channels=("bookTicker",),
    route="public",
)


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


def _kline_rows(r: RowRules) -> None:
    r.positive("open", "high", "low", "close")
    r.non_negative("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume")
    trades = r.ints("trades")
    r.require(trades >= 0, lambda i: f"trades must be >= 0, got {trades[i]}")
    open_time, close_time = r.ints("open_time"), r.ints("close_time")
    r.require(close_time >= open_time, lambda i: f"close_time {close_time[i]} is before open_time")
    o, h, lo, c = (r.values(k) for k in ("open", "high", "low", "close"))
    volume, taker = r.values("volume"), r.values("taker_buy_volume")
    with np.errstate(invalid="ignore", over="ignore"):
        consistent = (lo <= np.minimum(o, c)) & (h >= np.maximum(o, c))
        taker_ok = taker <= volume * (1 + 1e-9)
    r.require(consistent, lambda i: f"bar is inconsistent: o={o[i]} h={h[i]} l={lo[i]} c={c[i]}")
    r.require(taker_ok, lambda i: f"taker_buy_volume {taker[i]} exceeds volume {volume[i]}")


def _kline(
    symbol: str,
    ts_event: int,
    ts_recv: int,
    interval: str,
    open_time: int,
    close_time: int,
    open: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    quote_volume: float,
    trades: int,
    taker_buy_volume: float,
    taker_buy_quote_volume: float,
    closed: bool,
) -> Kline:
    return Kline(
        symbol=symbol,
        ts_event=ts_event,
        ts_recv=ts_recv,
        interval=interval,
        open_time=open_time,
        close_time=close_time,
        open=open,
        high=high,
        low=low,
        close=close,
        volume=volume,
        quote_volume=quote_volume,
        trades=trades,
        taker_buy_volume=taker_buy_volume,
        taker_buy_quote_volume=taker_buy_quote_volume,
        closed=closed,
    )


KLINE = EventDescriptor(
    contract=Kline,
    merge_rank=2,
    dedup_keys=("symbol", "interval", "open_time"),
    # a bar is re-sent while it forms: the closed one, else the latest update, is the bar
    newest_wins=("closed", "ts_event", "ts_recv"),
    row_rules=_kline_rows,
    from_row=_kline,
    fill="kline",
    channels=("kline_",),
    route="market",
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


def _mark_price_rows(r: RowRules) -> None:
    r.positive("mark_price", "index_price", "estimated_settle_price")
    rate = r.values("funding_rate")
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (rate > -1.0) & (rate < 1.0)
    r.require(ok, lambda i: f"funding_rate must be a fraction in (-1, 1), got {rate[i]!r}")


def _mark_price(
    symbol: str,
    ts_event: int,
    ts_recv: int,
    mark_price: float,
    index_price: float | None,
    estimated_settle_price: float | None,
    funding_rate: float,
    next_funding_time: int,
) -> MarkPrice:
    return MarkPrice(
        symbol=symbol,
        ts_event=ts_event,
        ts_recv=ts_recv,
        mark_price=mark_price,
        index_price=index_price,
        estimated_settle_price=estimated_settle_price,
        funding_rate=funding_rate,
        next_funding_time=next_funding_time,
    )


MARK_PRICE = EventDescriptor(
    contract=MarkPrice,
    merge_rank=3,
    dedup_keys=("symbol", "ts_event"),
    row_rules=_mark_price_rows,
    from_row=_mark_price,
    fill="mark_price",
    channels=("markPrice",),
    route="market",
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


def _liquidation_rows(r: RowRules) -> None:
    side = r.table.column("side")
    ok = np.asarray(pc.is_in(side, pa.array(["BUY", "SELL"])).to_numpy(zero_copy_only=False))
    r.require(ok, lambda i: f"side must be BUY or SELL, got {side[i]}")
    r.positive("price", "qty")
    r.non_negative("avg_price", "filled_qty")


def _liquidation(
    symbol: str,
    ts_event: int,
    ts_recv: int,
    side: str,
    price: float,
    avg_price: float,
    qty: float,
    filled_qty: float,
    status: str,
) -> Liquidation:
    return Liquidation(
        symbol=symbol,
        ts_event=ts_event,
        ts_recv=ts_recv,
        side=Side(side),
        price=price,
        avg_price=avg_price,
        qty=qty,
        filled_qty=filled_qty,
        status=status,
    )


LIQUIDATION = EventDescriptor(
    contract=Liquidation,
    merge_rank=4,
    dedup_keys=("symbol", "ts_event", "side", "price", "qty"),
    row_rules=_liquidation_rows,
    from_row=_liquidation,
    fill="liquidation",
    channels=("forceOrder",),
    route="market",
)


MarketEvent = Trade | BookTop | Kline | MarkPrice | Liquidation
"""Every normalised market event; tagged by ``kind`` in JSON."""

EVENT_DESCRIPTORS: tuple[EventDescriptor, ...] = in_merge_order(
    TRADE, BOOK_TOP, KLINE, MARK_PRICE, LIQUIDATION
)
"""One descriptor per event kind, in merge order (``merge_rank``)."""
DESCRIPTORS: dict[str, EventDescriptor] = {d.kind: d for d in EVENT_DESCRIPTORS}
"""Kind name -> its descriptor."""
KIND_ORDER: tuple[str, ...] = tuple(DESCRIPTORS)
"""Every event kind in merge order: the tie-break between kinds at an equal ``ts_event``."""
EVENT_TYPES: tuple[type[MarketEvent], ...] = tuple(d.contract for d in EVENT_DESCRIPTORS)
EVENT_KINDS: dict[str, type[MarketEvent]] = {d.kind: d.contract for d in EVENT_DESCRIPTORS}


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
