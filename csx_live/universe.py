"""The tradable universe from REST ``exchangeInfo``: TRADING USD-M perpetuals in one quote
asset, refreshed periodically.

Real listings contain dated contracts (``CURRENT_QUARTER``), empty ``contractType``, other
quote assets (BUSD) and non-TRADING symbols (``PENDING_TRADING``, ``SETTLING``); all are
excluded. Tick and step sizes come from the ``PRICE_FILTER``/``LOT_SIZE`` filters, never from
``pricePrecision``.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class UniverseError(ValueError):
    """``exchangeInfo`` is not shaped as documented."""


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One tradable perpetual; sizes as floats parsed from the venue's decimal strings."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: float
    step_size: float
    min_notional: float


@dataclass(frozen=True, slots=True)
class Universe:
    """The selected symbols (sorted) and what the override asked for but could not get."""

    specs: tuple[SymbolSpec, ...]
    missing: tuple[str, ...] = ()

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(s.symbol for s in self.specs)


def _filter_value(filters: Iterable[Mapping[str, Any]], kind: str, key: str) -> float:
    for f in filters:
        if not isinstance(f, Mapping):
            continue  # a malformed entry is skipped, like an unknown filter type
        if f.get("filterType") == kind and key in f:
            return float(f[key])
    return 0.0


def is_eligible(entry: Mapping[str, Any], quote_asset: str) -> bool:
    return (
        entry.get("contractType") == "PERPETUAL"
        and entry.get("status") == "TRADING"
        and entry.get("quoteAsset") == quote_asset
    )


def in_shard(symbol: str, shard: tuple[int, int]) -> bool:
    """Stable assignment of symbols to ``(index, count)`` shards (CRC-32, same everywhere)."""
    index, count = shard
    return zlib.crc32(symbol.encode()) % count == index


def select_universe(
    exchange_info: Mapping[str, Any],
    *,
    quote_asset: str = "USDT",
    override: Iterable[str] = (),
    shard: tuple[int, int] = (0, 1),
) -> Universe:
    """Pick eligible symbols; with ``override``, only those of them (unknown or ineligible
    override symbols are reported in ``missing``, not silently added); with ``shard``
    ``(i, n)``, only the symbols of replica ``i`` of ``n``."""
    entries = exchange_info.get("symbols")
    if not isinstance(entries, list):
        raise UniverseError("exchangeInfo has no 'symbols' list")
    specs: dict[str, SymbolSpec] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not is_eligible(entry, quote_asset):
            continue
        try:
            filters = entry.get("filters", [])
            spec = SymbolSpec(
                symbol=str(entry["symbol"]),
                base_asset=str(entry["baseAsset"]),
                quote_asset=str(entry["quoteAsset"]),
                tick_size=_filter_value(filters, "PRICE_FILTER", "tickSize"),
                step_size=_filter_value(filters, "LOT_SIZE", "stepSize"),
                min_notional=_filter_value(filters, "MIN_NOTIONAL", "notional"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("skipping malformed exchangeInfo entry: %s", exc)
            continue
        if in_shard(spec.symbol, shard):
            specs[spec.symbol] = spec
    wanted = [s.upper() for s in override]
    if wanted:
        missing = tuple(s for s in wanted if s not in specs and in_shard(s, shard))
        chosen = [specs[s] for s in sorted(set(wanted)) if s in specs]
        return Universe(tuple(chosen), missing)
    return Universe(tuple(specs[s] for s in sorted(specs)))


class JsonGetter(Protocol):
    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any: ...


UniverseListener = Callable[[Universe], Awaitable[None]]


class UniverseWatcher:
    """Fetches the universe now and every ``refresh_s``; keeps the last good one when a
    refresh fails, and calls ``on_change`` only when the symbol set changes."""

    def __init__(
        self,
        rest: JsonGetter,
        *,
        quote_asset: str,
        override: tuple[str, ...],
        refresh_s: float,
        on_change: UniverseListener | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self._rest = rest
        self._quote = quote_asset
        self._override = override
        self._refresh_s = refresh_s
        self._on_change = on_change
        self._shard = shard
        self.current: Universe | None = None
        self.refresh_failures = 0

    async def refresh(self) -> Universe:
        info = await self._rest.get_json("/fapi/v1/exchangeInfo")
        if not isinstance(info, dict):
            raise UniverseError("exchangeInfo is not a JSON object")
        universe = select_universe(
            info, quote_asset=self._quote, override=self._override, shard=self._shard
        )
        if universe.missing:
            log.warning("override symbols not tradable: %s", ",".join(universe.missing))
        changed = self.current is None or self.current.symbols != universe.symbols
        self.current = universe
        if changed and self._on_change is not None:
            await self._on_change(universe)
        return universe

    async def run(self) -> None:
        """Refresh forever (cancel to stop); failures are logged and counted."""
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # any failure keeps the last universe
                self.refresh_failures += 1
                log.warning("universe refresh failed: %s", exc)
