"""The label's own trading policy, priced once for labels, the backtest, gates and live edge.

The label calls a row in play when the best move within H clears the round-trip cost by
``threshold_bps``. Trading that claim in direction d means:

* enter at t at the cost model's entry price (the cost model charges both half-spreads, the
  fees and the impact; moves are measured from the mid at t);
* take profit at the first touch of the barrier the label asks for, a favourable move of
  ``cost + threshold`` bps: the net is then exactly ``threshold_bps``;
* with a stop (``stop_bps``), close at the first adverse move of ``stop_bps``: the net is
  ``-(stop_bps + cost)``. A tick that touches both counts as the stop (the conservative
  reading: one-second bars do not say which came first);
* otherwise exit at the mid at t+H: the net is ``d · fwd_ret − cost``.

So a long is "right" in the label's sense exactly when the long's policy reaches its
barrier. ``hold_to_h_bps`` (the second, labelled row of the report) ignores the barrier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PolicyOutcomes:
    """Net bps per labelled row of trading the label policy long and short."""

    long_bps: FloatArray
    short_bps: FloatArray


def label_policy_outcomes(
    *,
    idx: IntArray,
    mid: FloatArray,
    high: FloatArray,
    low: FloatArray,
    cost_bps: FloatArray,
    fwd_ret_bps: FloatArray,
    mfe_long_bps: FloatArray,
    mfe_short_bps: FloatArray,
    horizon_ticks: int,
    threshold_bps: float,
    stop_bps: float | None,
) -> PolicyOutcomes:
    """Outcomes for the rows ``idx`` of per-tick arrays ``mid``/``high``/``low`` (whose
    windows ``idx+1 … idx+horizon_ticks`` the caller has checked to be clean)."""
    if stop_bps is None:
        return barrier_outcomes(
            mfe_long_bps=mfe_long_bps,
            mfe_short_bps=mfe_short_bps,
            cost_bps=cost_bps,
            fwd_ret_bps=fwd_ret_bps,
            threshold_bps=threshold_bps,
        )
    barrier = cost_bps + threshold_bps
    hold_long = fwd_ret_bps - cost_bps
    hold_short = -fwd_ret_bps - cost_bps
    stop_loss = -(stop_bps + cost_bps)
    m = mid[idx]
    long_bps = hold_long.copy()
    short_bps = hold_short.copy()
    long_open = np.ones(len(idx), dtype=bool)
    short_open = np.ones(len(idx), dtype=bool)
    for k in range(1, horizon_ticks + 1):
        if not (long_open.any() or short_open.any()):
            break
        up = (high[idx + k] - m) / m * 1e4
        down = (m - low[idx + k]) / m * 1e4
        long_stop = long_open & (down >= stop_bps)
        long_take = long_open & ~long_stop & (up > barrier)
        short_stop = short_open & (up >= stop_bps)
        short_take = short_open & ~short_stop & (down > barrier)
        long_bps[long_stop] = stop_loss[long_stop]
        long_bps[long_take] = threshold_bps
        short_bps[short_stop] = stop_loss[short_stop]
        short_bps[short_take] = threshold_bps
        long_open &= ~(long_stop | long_take)
        short_open &= ~(short_stop | short_take)
    return PolicyOutcomes(long_bps, short_bps)


def barrier_outcomes(
    *,
    mfe_long_bps: FloatArray,
    mfe_short_bps: FloatArray,
    cost_bps: FloatArray,
    fwd_ret_bps: FloatArray,
    threshold_bps: float,
) -> PolicyOutcomes:
    """The policy without a stop: only whether the barrier is reached matters, and the
    label's MFE already says so (the same strict comparison as ``in_play``). The live
    outcome resolver prices resolved rows with this too."""
    barrier = cost_bps + threshold_bps
    long_bps = np.where(mfe_long_bps > barrier, threshold_bps, fwd_ret_bps - cost_bps)
    short_bps = np.where(mfe_short_bps > barrier, threshold_bps, -fwd_ret_bps - cost_bps)
    return PolicyOutcomes(long_bps, short_bps)


def called_outcome(
    direction: npt.NDArray[np.int8], long_bps: FloatArray, short_bps: FloatArray
) -> FloatArray:
    """Net bps of the label policy in the called direction; NaN where no direction is
    called (an abstention is not a trade)."""
    out: FloatArray = np.where(direction > 0, long_bps, np.where(direction < 0, short_bps, np.nan))
    return out


def hold_outcome(
    direction: npt.NDArray[np.int8], fwd_ret_bps: FloatArray, cost_bps: FloatArray
) -> FloatArray:
    """Net bps of holding the called direction to t+H (NaN where none is called)."""
    out: FloatArray = np.where(direction != 0, direction * fwd_ret_bps - cost_bps, np.nan)
    return out
