"""Classification and ranking metrics in numpy (fast enough to bootstrap).

Per-tick metrics take ``group`` = an integer tick id per row; top-K picks the K highest
scores within each tick (ties broken by row order, so results are deterministic).
"""

from __future__ import annotations

from typing import NamedTuple

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
    mean_p, freq, counts = ss.reliability(ss.weights(np.ones(len(ss.y))), n_bins)
    return mean_p, freq, counts.astype(np.int64)


def ece(y: BoolArray, p: FloatArray, n_bins: int = 10) -> float:
    """Expected calibration error over equal-mass bins (count-weighted |p̄ − ȳ|)."""
    if len(p) == 0:
        return float("nan")
    ss = SortedScores(y, p)
    return ss.ece(ss.weights(np.ones(len(p))), n_bins)


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
        self.squared_error = (self.score - self.y) ** 2
        bounds = np.flatnonzero(np.diff(self.score)) + 1
        self.starts = np.concatenate([[0], bounds]).astype(np.int64)
        self.level_ends = np.r_[self.starts[1:], len(self.score)] - 1

    def weights(self, w: FloatArray) -> Weighing:
        """``w`` (one weight per row, in the caller's order) as this sort's weighing."""
        return Weighing(np.asarray(w, dtype=np.float64)[self.order], self.y)

    def level_sums(self, ws: Weighing) -> Levels:
        """Per score level (ascending): the weight of its positives and its total weight,
        with their running sums.

        Every sum here is of integer weights (unit weights, bootstrap draw counts), so the
        running sums are exact up to 2**53 in total, and so is each per-level sum as their
        difference and each sum the metrics take from the top level down."""
        cum_pos = ws.cum_wy[self.level_ends]
        cum_cnt = ws.cum_w[self.level_ends]
        pos = np.diff(cum_pos, prepend=0.0)
        cnt = np.diff(cum_cnt, prepend=0.0)
        return Levels(pos, cnt, cum_pos, cum_cnt)

    def roc_auc(self, ws: Weighing, levels: Levels | None = None) -> float:
        """``levels``: ``level_sums(ws)`` when the caller already has them."""
        lv = levels if levels is not None else self.level_sums(ws)
        neg = lv.cnt - lv.pos
        p_tot, n_tot = lv.pos.sum(), neg.sum()
        if p_tot <= 0 or n_tot <= 0:
            return float("nan")
        below = (lv.cum_cnt - lv.cum_pos) - neg  # negatives on lower levels
        return float(np.sum(lv.pos * (below + 0.5 * neg)) / (p_tot * n_tot))

    def average_precision(self, ws: Weighing, levels: Levels | None = None) -> float:
        lv = levels if levels is not None else self.level_sums(ws)
        p_tot = lv.pos.sum()
        if p_tot <= 0:
            return float("nan")
        # From the top level down: positives and weight at or above each level.
        tp = (lv.cum_pos[-1] - np.r_[0.0, lv.cum_pos[:-1]])[::-1]
        seen = (lv.cum_cnt[-1] - np.r_[0.0, lv.cum_cnt[:-1]])[::-1]
        precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
        return float(np.sum(lv.pos[::-1] / p_tot * precision))

    def brier(self, ws: Weighing) -> float:
        return float(np.sum(ws.w * self.squared_error) / ws.total)

    def reliability(
        self, ws: Weighing, n_bins: int = 10
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per equal-mass bin: mean p, observed rate, total weight (empty bins dropped).

        A row's bin follows its cumulative weight, which never decreases in score order, so
        each bin is a run of rows: its weight and positives are differences of the running
        sums (exact for integer weights, as ``level_sums``); its p mass is summed row by
        row."""
        mid = ws.cum_w - 0.5 * ws.w
        b = np.minimum((mid / ws.total * n_bins).astype(np.int64), n_bins - 1)
        edges = np.searchsorted(b, np.arange(n_bins + 1))
        wsum = np.diff(np.r_[0.0, ws.cum_w][edges])
        ysum = np.diff(np.r_[0.0, ws.cum_wy][edges])
        psum = np.bincount(b, weights=ws.w * self.score, minlength=n_bins)
        keep = wsum > 0
        return psum[keep] / wsum[keep], ysum[keep] / wsum[keep], wsum[keep]

    def ece(self, ws: Weighing, n_bins: int = 10) -> float:
        if ws.total <= 0:
            return float("nan")
        mean_p, freq, wsum = self.reliability(ws, n_bins)
        return float(np.sum(wsum * np.abs(mean_p - freq)) / wsum.sum())


class Levels(NamedTuple):
    """A weighing summed per score level (ascending), with the running sums."""

    pos: FloatArray
    cnt: FloatArray
    cum_pos: FloatArray
    cum_cnt: FloatArray


class Weighing:
    """Row weights in a ``SortedScores``' order (unit weights, or a bootstrap replicate's
    draw counts) with the sums every metric of it reads, each computed once."""

    __slots__ = ("cum_w", "cum_wy", "total", "w", "wy")

    def __init__(self, w: FloatArray, y: FloatArray) -> None:
        self.w = w
        self.wy = w * y
        self.cum_w = np.cumsum(w)
        self.cum_wy = np.cumsum(self.wy)
        self.total = float(w.sum())
