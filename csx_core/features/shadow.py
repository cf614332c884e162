"""Klines that would count trades twice: one rule, for live and offline.

A closed kline summarises its interval's trades; where the engine also sees those trades,
feeding both would count the volume twice. So a kline of a symbol that has traded earlier
on the same UTC day (event time) is skipped, and before a symbol's first trade of the day,
or for a symbol without trades, its klines are the only record and are fed.

``ShadowKlines.keep`` applies the rule event by event (live, in arrival order);
``ShadowTables`` applies it to time-ordered batches of per-kind tables (offline replay). On a
time-ordered stream they agree: a kline is skipped when a trade of its symbol on its UTC day
has ``ts_event <=`` its own (the drivers order a trade before a kline at the same time).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.contracts import Kline, MarketEvent, Trade

NS_PER_DAY = 86_400 * 1_000_000_000


class ShadowKlines:
    """The rule, event by event: remembers each symbol's UTC day of its last trade."""

    def __init__(self) -> None:
        self._traded: dict[str, int] = {}

    def keep(self, event: MarketEvent) -> bool:
        kind = type(event)
        if kind is Trade:
            self._traded[event.symbol] = event.ts_event // NS_PER_DAY
        elif kind is Kline:
            return self._traded.get(event.symbol) != event.ts_event // NS_PER_DAY
        return True


class ShadowTables:
    """The rule over time-ordered batches of per-kind tables split anywhere (whole days, or
    the hours ``EventStore.windows`` reads): remembers each (symbol, UTC day)'s first trade
    seen so far, so a kline is judged by every earlier trade of its day, whichever batch
    held it."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, int], int] = {}

    def apply(self, batch: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
        out = dict(batch)
        klines, trades = batch.get("kline"), batch.get("trade")
        if trades is not None and trades.num_rows:
            self._remember(trades)
        if klines is None or not klines.num_rows or not self._first:
            return out
        ts = klines.column("ts_event").to_numpy()
        symbols = klines.column("symbol").to_pylist()
        never = np.iinfo(np.int64).max
        first = np.fromiter(
            (
                self._first.get((s, int(t) // NS_PER_DAY), never)
                for s, t in zip(symbols, ts, strict=True)
            ),
            dtype=np.int64,
            count=len(ts),
        )
        out["kline"] = klines.filter(pa.array(first > ts))
        return out

    def _remember(self, trades: pa.Table) -> None:
        firsts = (
            pa.table(
                {
                    "symbol": trades.column("symbol"),
                    "day": pc.divide(trades.column("ts_event"), NS_PER_DAY),
                    "ts": trades.column("ts_event"),
                }
            )
            .group_by(["symbol", "day"])
            .aggregate([("ts", "min")])
        )
        for key, ts in zip(
            zip(firsts.column("symbol").to_pylist(), firsts.column("day").to_pylist(), strict=True),
            firsts.column("ts_min").to_pylist(),
            strict=True,
        ):
            self._first.setdefault(key, ts)  # batches are time-ordered: the first stays first


def without_shadowed_klines(batch: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    """The rule on one batch that holds every trade of the days it spans so far (whole UTC
    days); ``ShadowTables`` carries it across a day split into several batches."""
    return ShadowTables().apply(batch)
