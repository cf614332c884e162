"""Forward-looking labels: excursions over (t, t+H], net of the cost model.

For a row at tick t with horizon H (``n = H / tick`` ticks):

* the favourable price path uses ``px_high``/``px_low`` (trades in each forward tick) and
  ``px_mid`` (the book) — whichever is more extreme; NaN highs/lows are ignored;
* moves are measured from ``px_mid`` at t in bps. A long enters at the ask and exits at the
  bid, a short enters at the bid and exits at the ask: those two half-spreads are charged by
  the cost model (with the fee and impact), not by shifting the prices;
* ``mfe_*``/``mae_*``: maximum favourable / adverse excursion (bps, >= 0 favourable side) for
  the long and the short; ``direction`` is +1 where the long's MFE is at least the short's;
* ``net_best_bps`` = best MFE − round-trip cost at t; ``in_play`` = ``net_best_bps >
  threshold_bps``; ``fwd_ret_bps`` = mid return from t to t+H (for the hold-to-H PnL);
* ``policy_long_bps``/``policy_short_bps``: the net bps of trading the label's own policy in
  that direction (see :mod:`csx_core.ml.policy`): exit at the first touch of the barrier the
  label asks for (cost + threshold), or at the stop if ``stop_bps`` is set, or at t+H.

Bar-only data has no book: with ``assumed_spread_bps`` set, the last trade price (a bar's
close) stands in for the mid and the book is that spread around it, for every row; the
assumption is recorded with the label config in the model package and its report.

Rows whose window runs past the data, crosses a symbol boundary, contains a missing tick
(a step other than ``tick``) or a ``gap`` flag, or that lack a usable book at t, are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from csx_core.ml.costs import CostModel
from csx_core.ml.frame import NS_PER_S, column, sort_by_symbol_time, symbol_codes
from csx_core.ml.policy import label_policy_outcomes

FloatArray = npt.NDArray[np.float64]

LABEL_COLUMNS = (
    "label_end_ts",
    "mfe_long_bps",
    "mae_long_bps",
    "mfe_short_bps",
    "mae_short_bps",
    "direction",
    "cost_bps",
    "net_best_bps",
    "fwd_ret_bps",
    "in_play",
    "policy_long_bps",
    "policy_short_bps",
)


@dataclass(frozen=True, kw_only=True)
class LabelConfig:
    """``volume_feature`` names the feature holding recent quote volume (USD over the cost
    model's ``volume_window_s``) for the impact term; None prices impact at the cost model's
    reference volume. ``stop_bps`` is the label policy's stop: an adverse move from the mid
    at t that closes the trade (None: no stop, the trade runs to the barrier or t+H)."""

    horizon_s: int = 300
    tick_s: int = 1
    threshold_bps: float = 10.0
    volume_feature: str | None = None
    stop_bps: float | None = None
    assumed_spread_bps: float | None = None

    def __post_init__(self) -> None:
        if self.tick_s <= 0 or self.horizon_s <= 0 or self.horizon_s % self.tick_s:
            raise ValueError(
                f"horizon_s ({self.horizon_s}) must be a positive multiple of "
                f"tick_s ({self.tick_s})"
            )
        spread = self.assumed_spread_bps
        if spread is not None and not (math.isfinite(spread) and 0.0 <= spread < 1_000.0):
            raise ValueError(f"assumed_spread_bps must be in [0, 1000) bps or None, got {spread}")
        if self.stop_bps is not None and not (0.0 < self.stop_bps < 10_000.0):
            raise ValueError(f"stop_bps must be in (0, 10000) bps or None, got {self.stop_bps}")

    @property
    def horizon_ticks(self) -> int:
        return self.horizon_s // self.tick_s

    @property
    def horizon_ns(self) -> int:
        return self.horizon_s * NS_PER_S


def forward_window_max(values: FloatArray, n: int) -> FloatArray:
    """``out[i] = max(values[i+1 : i+n+1])`` in O(len) (van Herk / Gil-Werman blocks);
    positions whose window runs past the end are ``-inf``. NaN must be pre-replaced."""
    size = len(values)
    out = np.full(size, -np.inf)
    if size <= n or n <= 0:
        return out
    blocks = -(-size // n)
    padded = np.full(blocks * n, -np.inf)
    padded[:size] = values
    grid = padded.reshape(blocks, n)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    start = np.arange(1, size - n + 1)
    out[: size - n] = np.maximum(suffix[start], prefix[start + n - 1])
    return out


def _window_clean(bad: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.bool_]:
    """True where none of ``bad[i+1 : i+n+1]`` is set and the window fits in the data."""
    size = len(bad)
    csum = np.concatenate([[0], np.cumsum(bad, dtype=np.int64)])
    ok = np.zeros(size, dtype=bool)
    if size > n:
        idx = np.arange(size - n)
        ok[: size - n] = csum[idx + n + 1] - csum[idx + 1] == 0
    return ok


def label_features(features: pa.Table, cost: CostModel, config: LabelConfig) -> pa.Table:
    """A new table: the labelable rows of ``features`` sorted by (symbol, ts), with the
    :data:`LABEL_COLUMNS` appended. The input is not modified."""
    table = sort_by_symbol_time(features)
    n = config.horizon_ticks
    tick_ns = config.tick_s * NS_PER_S
    ts = np.asarray(table.column("ts").to_numpy(), dtype=np.int64)
    codes = symbol_codes(table)
    gap = np.asarray(table.column("gap").to_numpy(zero_copy_only=False), dtype=bool)
    mid, bid, ask = book_prices(table, config)
    high = np.fmax(column(table, "px_high"), mid)
    low = np.fmin(column(table, "px_low"), mid)

    step_bad = np.ones(len(ts), dtype=bool)
    step_bad[1:] = (codes[1:] != codes[:-1]) | (np.diff(ts) != tick_ns)
    bad = step_bad | gap | ~np.isfinite(mid)
    fwd_high = forward_window_max(np.where(np.isfinite(high), high, -np.inf), n)
    fwd_low = -forward_window_max(np.where(np.isfinite(low), -low, -np.inf), n)
    end_mid = np.full(len(ts), np.nan)
    end_mid[: max(len(ts) - n, 0)] = mid[n:]

    costs = cost.total_bps(bid, ask, _volume(table, config), holding_s=config.horizon_s)
    keep = _window_clean(bad, n) & np.isfinite(costs) & (mid > 0)
    keep &= np.isfinite(fwd_high) & np.isfinite(fwd_low)

    idx = np.flatnonzero(keep)
    m = mid[idx]
    mfe_long = np.maximum((fwd_high[idx] - m) / m * 1e4, 0.0)
    mae_long = np.maximum((m - fwd_low[idx]) / m * 1e4, 0.0)
    mfe_short, mae_short = mae_long, mfe_long
    direction = np.where(mfe_long >= mfe_short, 1, -1).astype(np.int8)
    net_best = np.maximum(mfe_long, mfe_short) - costs[idx]
    fwd_ret = (end_mid[idx] - m) / m * 1e4
    out = table.take(pa.array(idx))
    extra = {
        "label_end_ts": pa.array(ts[idx] + config.horizon_ns, pa.int64()),
        "mfe_long_bps": pa.array(mfe_long),
        "mae_long_bps": pa.array(mae_long),
        "mfe_short_bps": pa.array(mfe_short),
        "mae_short_bps": pa.array(mae_short),
        "direction": pa.array(direction, pa.int8()),
        "cost_bps": pa.array(costs[idx]),
        "net_best_bps": pa.array(net_best),
        "fwd_ret_bps": pa.array(fwd_ret),
        "in_play": pa.array(net_best > config.threshold_bps),
    }
    policy = label_policy_outcomes(
        idx=idx,
        mid=mid,
        high=high,
        low=low,
        cost_bps=costs[idx],
        fwd_ret_bps=fwd_ret,
        mfe_long_bps=mfe_long,
        mfe_short_bps=mfe_short,
        horizon_ticks=n,
        threshold_bps=config.threshold_bps,
        stop_bps=config.stop_bps,
    )
    extra["policy_long_bps"] = pa.array(policy.long_bps)
    extra["policy_short_bps"] = pa.array(policy.short_bps)
    for name, arr in extra.items():
        out = out.append_column(name, arr)
    return out.replace_schema_metadata(features.schema.metadata)


def book_prices(table: pa.Table, config: LabelConfig) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mid, bid, ask) per row: the book's, or the assumed spread around the last price."""
    if config.assumed_spread_bps is None:
        return column(table, "px_mid"), column(table, "px_bid"), column(table, "px_ask")
    mid = column(table, "px_last")
    half = 0.5 * config.assumed_spread_bps / 1e4
    return mid, mid * (1.0 - half), mid * (1.0 + half)


def _volume(table: pa.Table, config: LabelConfig) -> FloatArray | None:
    if config.volume_feature is None:
        return None
    return column(table, config.volume_feature)
