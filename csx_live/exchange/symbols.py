"""``exchangeInfo``: the replayed symbols as TRADING USDT perpetuals, plus listings a
universe filter must reject (a dated quarterly contract, a USDC-quoted perpetual, a
PENDING_TRADING perpetual and an empty ``contractType``), as real listings contain them."""

from __future__ import annotations

from typing import Any

from csx_live.exchange.encode import decimal_str
from csx_live.exchange.market import SymbolSpec

_QUOTES = ("USDT", "USDC", "BUSD")


def _decimals(size: float) -> int:
    text = decimal_str(size)
    return len(text.partition(".")[2].rstrip("0"))


def _entry(
    spec: SymbolSpec, *, base: str, quote: str, contract: str, status: str, pair: str
) -> dict[str, Any]:
    tick, step = decimal_str(spec.tick_size), decimal_str(spec.step_size)
    return {
        "symbol": spec.symbol, "pair": pair, "contractType": contract,
        "deliveryDate": 4133404800000 if contract == "PERPETUAL" else 1798790400000,
        "onboardDate": 1569398400000, "status": status, "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": base, "quoteAsset": quote,
        "marginAsset": quote, "pricePrecision": _decimals(spec.tick_size),
        "quantityPrecision": _decimals(spec.step_size), "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000",
             "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000000", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "100000", "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": decimal_str(spec.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }  # fmt: skip


def _split(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


def non_tradable_extras(specs: dict[str, SymbolSpec]) -> list[dict[str, Any]]:
    """Listings that must not enter a USDT-perpetual TRADING universe."""
    first = specs[min(specs)] if specs else SymbolSpec("BTCUSDT", 0.1, 0.001)
    base, _ = _split(first.symbol)
    sized = {"tick_size": first.tick_size, "step_size": first.step_size}
    return [
        _entry(SymbolSpec(f"{base}USDT_261225", **sized), base=base, quote="USDT",
               contract="CURRENT_QUARTER", status="TRADING", pair=f"{base}USDT"),
        _entry(SymbolSpec(f"{base}USDC", **sized), base=base, quote="USDC",
               contract="PERPETUAL", status="TRADING", pair=f"{base}USDC"),
        _entry(SymbolSpec("NEWLISTUSDT", 0.0001, 1.0), base="NEWLIST", quote="USDT",
               contract="PERPETUAL", status="PENDING_TRADING", pair="NEWLISTUSDT"),
        _entry(SymbolSpec("OLDCOINUSDT", 0.0001, 1.0), base="OLDCOIN", quote="USDT",
               contract="", status="SETTLING", pair="OLDCOINUSDT"),
    ]  # fmt: skip


def exchange_info(
    specs: dict[str, SymbolSpec], *, server_time_ms: int, weight_limit: int
) -> dict[str, Any]:
    symbols = []
    for symbol in sorted(specs):
        base, quote = _split(symbol)
        symbols.append(_entry(specs[symbol], base=base, quote=quote, contract="PERPETUAL",
                              status="TRADING", pair=symbol))  # fmt: skip
    symbols.extend(non_tradable_extras(specs))
    assets = sorted({s["marginAsset"] for s in symbols})
    return {
        "timezone": "UTC", "serverTime": server_time_ms, "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": weight_limit},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"}
                   for a in assets],
        "symbols": symbols,
    }  # fmt: skip
