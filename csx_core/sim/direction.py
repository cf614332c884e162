"""Directional order flow in hot regimes: taker imbalance that leads the price.

Real short-horizon markets carry a little directional predictability where they are in play:
order-flow imbalance persists for minutes and moves the price the way it leans. The
simulator models it as a latent standardised flow ``f`` per (symbol, second), an
Ornstein-Uhlenbeck process with memory ``FLOW_MEMORY_S`` (stationary N(0, 1)), switched on
only in the in-play regimes: while the symbol's own volatility regime or the market's is hot
(the regimes that raise activity and volatility; together about 30 % of the time on
average). Where it
is on it

* leans taker buys: ``p_buy += FLOW_LEAN * f`` (seen in the ``imb_*`` features), and
* drifts the mid: ``directional_strength * f`` per second, in units of the symbol's current
  per-second volatility.

Because ``f`` persists, the imbalance seen up to ``t`` predicts the drift over
``(t, t + H]`` — learnable but noisy, since ``f`` is seen only through a finite number of
trades and the drift is small against the volatility. ``SimConfig.directional_strength = 0``
switches all of it off and draws nothing, so the event stream is that of a simulator
without this component.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

FLOW_MEMORY_S = 120.0
"""e-folding time of the latent flow (s): minutes, and shorter than the 300 s label horizon,
so the signal decays within it."""
FLOW_LEAN = 0.08
"""Taker-buy probability shift per standard deviation of flow: a one-sigma flow gives a
58/42 buy/sell split, visible in a minute of trades but far from one-sided."""
_BLOCK_S = 256
"""Seconds per block of the vectorised AR(1) recursion; ``exp(BLOCK / memory)`` stays far
from overflow for any memory above ~10 s."""


def latent_flow(rng: np.random.Generator, hot: npt.NDArray[np.bool_]) -> F64:
    """Standardised flow per (symbol, second), zero outside ``hot``; ``hot`` is (n, seconds).

    The OU process sampled each second is the AR(1) ``f_s = phi f_(s-1) + sqrt(1 - phi^2)
    e_s`` started from its stationary law; it runs through calm seconds too (unseen), so a
    symbol that turns hot shows a flow already under way.
    """
    n, seconds = hot.shape
    phi = float(np.exp(-1.0 / FLOW_MEMORY_S))
    shocks = rng.standard_normal((n, seconds)) * np.sqrt(1.0 - phi * phi)
    flow = np.empty((n, seconds))
    level: F64 = np.asarray(rng.standard_normal(n), np.float64)
    for a in range(0, seconds, _BLOCK_S):
        block = shocks[:, a : a + _BLOCK_S]
        powers = phi ** np.arange(1, block.shape[1] + 1)
        # f_(a+j) = phi^j (f_a + sum_(k<=j) phi^-k e_k): one cumsum per block.
        flow[:, a : a + block.shape[1]] = powers * (
            level[:, None] + np.cumsum(block / powers, axis=1)
        )
        level = np.asarray(flow[:, a + block.shape[1] - 1], np.float64)
    return np.where(hot, flow, 0.0)
