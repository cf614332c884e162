"""Self-exciting (Hawkes) trade arrivals, generated exactly through the cluster representation.

A Hawkes process with branching ratio ``eta`` and exponential kernel of mean ``decay_s`` is a
Poisson cluster process: "immigrants" arrive with the baseline intensity and every arrival
begets Poisson(``eta``) children after Exp(``decay_s``) delays, recursively. Generating it
generation by generation is fully vectorised across all symbols; the mean rate is the
baseline divided by ``1 - eta``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

MAX_GENERATIONS = 64


def hawkes_times(
    rng: np.random.Generator,
    baseline: F64,
    *,
    branching: float,
    decay_s: float,
    horizon_ms: int,
) -> tuple[I64, I64]:
    """Arrival times (ms from the start of the grid) and row of every event.

    ``baseline`` is (rows, seconds): the immigrant intensity per second. Children falling
    past ``horizon_ms`` are dropped. Returns (row, t_ms), sorted by row then time.
    """
    rows, seconds = baseline.shape
    counts = rng.poisson(baseline.ravel())
    cell = np.repeat(np.arange(rows * seconds, dtype=np.int64), counts)
    row = cell // seconds
    t = (cell % seconds) * 1000 + rng.integers(0, 1000, cell.size)
    all_rows = [row]
    all_t = [t]
    parents_row, parents_t = row, t
    for _ in range(MAX_GENERATIONS):
        if parents_t.size == 0 or branching <= 0.0:
            break
        kids = rng.poisson(branching, parents_t.size)
        child_row = np.repeat(parents_row, kids)
        delay = np.ceil(rng.exponential(decay_s * 1000.0, child_row.size)).astype(np.int64)
        child_t = np.repeat(parents_t, kids) + delay
        keep = child_t < horizon_ms
        parents_row, parents_t = child_row[keep], child_t[keep]
        all_rows.append(parents_row)
        all_t.append(parents_t)
    row = np.concatenate(all_rows)
    t = np.concatenate(all_t)
    order = np.lexsort((t, row))
    return row[order], t[order]
