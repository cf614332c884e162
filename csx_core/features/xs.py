"""Cross-sectional rank and z-score for many ticks at once, bit for bit ``_pct_rank_z``.

``tick._pct_rank_z`` works on the finite entries of one tick. Here ticks (rows) are
grouped by how many finite entries they have, so each group is a contiguous
``(ticks, k)`` block: a sum along its last axis is numpy's pairwise sum of each row,
the very sum the 1-D call makes; ranks are counts of smaller / not larger values (exact
integers) found from each sorted row, as ``searchsorted`` finds them.
"""

from __future__ import annotations

import numpy as np

from csx_core.features.buckets import F64, I64


def _tie_sums(vals: F64) -> I64:
    """Per entry of each row: how many entries of the row are smaller plus how many are
    not larger (``searchsorted`` left + right in the sorted row)."""
    rows, k = vals.shape
    perm = np.argsort(vals, axis=1, kind="stable")
    at = np.arange(rows)[:, None]
    srt = vals[at, perm]
    pos = np.arange(k)
    starts = np.ones((rows, k), dtype=bool)
    starts[:, 1:] = srt[:, 1:] != srt[:, :-1]  # equal floats (0.0 and -0.0 too) tie
    ends = np.ones((rows, k), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    left = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    right = np.minimum.accumulate(np.where(ends, pos + 1, k)[:, ::-1], axis=1)[:, ::-1]
    out = np.empty((rows, k), dtype=np.int64)
    out[at, perm] = left + right
    return out


def rank_z_rows(x: F64) -> tuple[F64, F64]:
    """Percentile rank and z-score of the finite entries of each row of ``x`` (ticks x
    symbols); NaN elsewhere, and for rows with fewer than two finite entries."""
    rank = np.full(x.shape, np.nan)
    z = np.full(x.shape, np.nan)
    finite = np.isfinite(x)
    counts = finite.sum(axis=1)
    for k in np.unique(counts).tolist():
        if k < 2:
            continue
        every = k == x.shape[1]
        sel = np.flatnonzero(counts == k)
        mask = finite[sel]
        vals = x[sel] if every else x[sel][mask].reshape(len(sel), k)
        r = (_tie_sums(vals) - 1) / 2.0
        r /= k - 1
        mean = np.add.reduce(vals, axis=1) / k
        dev = vals - mean[:, None]
        sd = np.sqrt(np.add.reduce(dev * dev, axis=1) / k)
        zk = np.full((len(sel), k), np.nan)
        spread = sd > 0
        zk[spread] = dev[spread] / sd[spread, None]
        if every:
            rank[sel], z[sel] = r, zk
            continue
        block_r, block_z = rank[sel], z[sel]
        block_r[mask], block_z[mask] = r.reshape(-1), zk.reshape(-1)
        rank[sel], z[sel] = block_r, block_z
    return rank, z
