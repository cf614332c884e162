"""Classification and ranking metrics in numpy (fast enough to bootstrap).

Per-tick metrics take ``group`` = an integer tick id per row; top-K picks the K highest
scores within each tick (ties broken by row order, so results are deterministic).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def roc_auc(y: BoolArray, score: FloatArray) -> float:
    """Mann–Whitney AUC with average ranks for ties; NaN if a class is absent."""
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s))
    bounds = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: BoolArray, score: FloatArray) -> float:
    """PR-AUC as average precision (step interpolation, like scikit-learn)."""
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(score), kind="mergesort")
    s = np.asarray(score)[order]
    hits = y[order].astype(np.float64)
    tp = np.cumsum(hits)
    last = np.concatenate([np.flatnonzero(np.diff(s)), [len(s) - 1]])
    tp_t = tp[last]
    precision = tp_t / (last + 1)
    recall = tp_t / n_pos
    d_recall = np.diff(np.concatenate([[0.0], recall]))
    return float((d_recall * precision).sum())


def brier(y: BoolArray, p: FloatArray) -> float:
    return float(np.mean((np.asarray(p) - np.asarray(y, dtype=np.float64)) ** 2))


def reliability_bins(
    y: BoolArray, p: FloatArray, n_bins: int = 10
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Equal-mass bins: mean predicted p, observed frequency and count per bin."""
    ss = SortedScores(y, p)
    mean_p, freq, counts = ss.reliability(np.ones(len(ss.y)), n_bins)
    return mean_p, freq, counts.astype(np.int64)


def ece(y: BoolArray, p: FloatArray, n_bins: int = 10) -> float:
    """Expected calibration error over equal-mass bins (count-weighted |p̄ − ȳ|)."""
    if len(p) == 0:
        return float("nan")
    return SortedScores(y, p).ece(np.ones(len(p)), n_bins)


def rank_in_group(group: IntArray, score: FloatArray) -> IntArray:
    """Each row's 0-based rank within its group (tick) by descending score, ties broken by
    row order: the rows with rank below K are the group's top K, for every K at once."""
    group = np.asarray(group)
    order = np.lexsort((np.arange(len(group)), -np.asarray(score), group))
    g = group[order]
    first = np.concatenate([[True], g[1:] != g[:-1]])
    start_of = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
    rank: IntArray = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(g)) - start_of
    return rank


def top_k_per_group(group: IntArray, score: FloatArray, k: int) -> BoolArray:
    """Mask of rows that are among the K best scores of their group (tick)."""
    mask: BoolArray = rank_in_group(group, score) < k
    return mask


def per_group_mean(group: IntArray, values: FloatArray, mask: BoolArray) -> FloatArray:
    """Mean of ``values[mask]`` per group, for groups with at least one selected row
    (ascending group id)."""
    g = np.asarray(group)[mask]
    v = np.asarray(values, dtype=np.float64)[mask]
    uniq, inv = np.unique(g, return_inverse=True)
    sums = np.bincount(inv, weights=v, minlength=len(uniq))
    counts = np.bincount(inv, minlength=len(uniq))
    out: FloatArray = sums / counts
    return out


class SortedScores:
    """One score vector sorted once, so weighted metrics (bootstrap replicates as row
    weights) cost O(n) each instead of a sort.

    With unit weights every method equals its unweighted counterpart above (ECE/reliability
    bin by cumulative weight, i.e. equal mass)."""

    def __init__(self, y: BoolArray, score: FloatArray) -> None:
        self.order = np.argsort(score, kind="mergesort")
        self.score = np.asarray(score, dtype=np.float64)[self.order]
        self.y = np.asarray(y, dtype=np.float64)[self.order]
        bounds = np.flatnonzero(np.diff(self.score)) + 1
        self.starts = np.concatenate([[0], bounds]).astype(np.int64)

    def weights(self, w: FloatArray) -> FloatArray:
        out: FloatArray = np.asarray(w, dtype=np.float64)[self.order]
        return out

    def level_sums(self, ws: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per score level (ascending): the weight of its positives and its total weight.

        Differences of running sums: exact, as a per-level sum is, for the integer weights
        the methods take (unit weights, bootstrap draw counts) up to 2**53 in total."""
        last = np.r_[self.starts[1:], len(ws)] - 1
        pos = np.diff(np.cumsum(ws * self.y)[last], prepend=0.0)
        cnt = np.diff(np.cumsum(ws)[last], prepend=0.0)
        return pos, cnt

    def roc_auc(self, ws: FloatArray, levels: tuple[FloatArray, FloatArray] | None = None) -> float:
        """``levels``: ``level_sums(ws)`` when the caller already has them."""
        pos, cnt = levels if levels is not None else self.level_sums(ws)
        neg = cnt - pos
        p_tot, n_tot = pos.sum(), neg.sum()
        if p_tot <= 0 or n_tot <= 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float(np.sum(pos * (below + 0.5 * neg)) / (p_tot * n_tot))

    def average_precision(
        self, ws: FloatArray, levels: tuple[FloatArray, FloatArray] | None = None
    ) -> float:
        pos, cnt = levels if levels is not None else self.level_sums(ws)
        pos, cnt = pos[::-1], cnt[::-1]
        p_tot = pos.sum()
        if p_tot <= 0:
            return float("nan")
        tp = np.cumsum(pos)
        seen = np.cumsum(cnt)
        precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
        return float(np.sum(pos / p_tot * precision))

    def brier(self, ws: FloatArray) -> float:
        return float(np.sum(ws * (self.score - self.y) ** 2) / ws.sum())

    def reliability(
        self, ws: FloatArray, n_bins: int = 10
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per equal-mass bin: mean p, observed rate, total weight (empty bins dropped)."""
        total = ws.sum()
        mid = np.cumsum(ws) - 0.5 * ws
        b = np.minimum((mid / total * n_bins).astype(np.int64), n_bins - 1)
        wsum = np.bincount(b, weights=ws, minlength=n_bins).astype(np.float64)
        psum = np.bincount(b, weights=ws * self.score, minlength=n_bins)
        ysum = np.bincount(b, weights=ws * self.y, minlength=n_bins)
        keep = wsum > 0
        return psum[keep] / wsum[keep], ysum[keep] / wsum[keep], wsum[keep]

    def ece(self, ws: FloatArray, n_bins: int = 10) -> float:
        if ws.sum() <= 0:
            return float("nan")
        mean_p, freq, wsum = self.reliability(ws, n_bins)
        return float(np.sum(wsum * np.abs(mean_p - freq)) / wsum.sum())
