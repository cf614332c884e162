"""Compiled loops for the batch tick path, each the arithmetic of its numpy expression.

Why compiled: in numpy, the window features of a run of ticks take some fifty passes over
(ticks, windows, symbols) blocks, one temporary array each; the batch path spent most of
its time there (about 31 ns per output value on the simulator's mix). One loop per tick,
symbol and window computes the same values in a single pass, straight into the
(ticks, symbols, features) layout the batch returns.

Why bit for bit: only exactly rounded IEEE operations happen here (``+ - * /``, ``sqrt``,
integer arithmetic, comparisons), and numba fuses none of them into a multiply-add
without ``fastmath``, so each result equals numpy's element-wise result on the same
operands. Logarithms are not exactly rounded and implementations differ in the last bit,
so the kernels only build their arguments: the caller takes them with numpy's own
``np.log`` on one contiguous buffer, the very loop the per-tick path runs. Sums follow
numpy's pairwise order (``_pairwise_sum``), so a mean or a standard deviation is
``np.mean``/``np.std``'s to the bit. ``tests/test_replay_batch.py`` holds the digests
equal; ``tests/test_feature_kernels.py`` holds the pieces equal on random data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

import numba
import numpy as np

from csx_core.features import buckets as bk
from csx_core.features.buckets import F64, I64, Bools
from csx_core.features.names import INSTANT, PER_WINDOW

_P = ParamSpec("_P")
_R = TypeVar("_R")


_DISPATCHERS: list[Any] = []


def _compiled(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """``fn`` compiled to machine code on first call (cached on disk next to this file),
    IEEE division semantics (``x / 0`` is inf or NaN, not an exception), GIL released."""
    out = numba.njit(cache=True, error_model="numpy", nogil=True)(fn)
    _DISPATCHERS.append(out)
    return cast(Callable[_P, _R], out)


def _layout_key() -> int:
    """A fingerprint of the other modules' constants that the kernels compile in (ring
    sizes, field positions, scales, feature positions)."""
    constants = sorted(
        (k, v) for k, v in vars(bk).items() if k.isupper() and isinstance(v, int | float)
    )
    text = repr((constants, PER_WINDOW, INSTANT))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "little")


_LAYOUT_KEY = _layout_key()


# log arguments of the window features, along axis 0 of the buffer ``window_log_args`` fills
LOG_RET, LOG_RANGE, LOG_VWAP, LOG_MID = range(4)
NLOG = 4
# positions of the per-window features in ``names.PER_WINDOW`` (the rows of
# ``window_features``' window index) and of the instant ones in ``names.INSTANT``
RET, RVOL, RANGE, COUNT, QVOL, COUNT_Z, QVOL_Z, IMB, MAXSHARE, VWAPD, MIDCHG, LIQ = (
    PER_WINDOW.index(f)
    for f in (
        *("ret", "rvol", "range", "count", "qvol", "count_z"),
        *("qvol_z", "imb", "maxshare", "vwapd", "midchg", "liq"),
    )
)
SPREAD, BOOK_IMB, FUNDING, BASIS, SINCE_EVENT, SINCE_TRADE, SINCE_BOOK, STALE = (
    INSTANT.index(f)
    for f in (
        *("spread_bps", "book_imb", "funding_rate", "basis_bps"),
        *("since_event_s", "since_trade_s", "since_book_s", "stale"),
    )
)


@_compiled
def _window_start(tt: int, k: int, short_w: I64, long_m: I64) -> tuple[int, bool]:
    """The slot just before window ``k`` at tick second ``tt`` (its sums are the end's minus
    that slot's), and whether it is a slot of the minute rings (the long windows)."""
    if k < len(short_w):
        return (tt - short_w[k] - 1) % bk.R1, False
    return (tt // 60 - long_m[k - len(short_w)] - 1) % bk.RM, True


@_compiled
def window_log_args(
    t: I64,
    cum: I64,
    mcum: I64,
    dsec: F64,
    mdsec: F64,
    short_w: I64,
    long_m: I64,
    ff: F64,
    mx: F64,
    out: F64,
) -> None:
    """The arguments of every window's logarithms into ``out``: (``NLOG``, ticks, windows,
    symbols), contiguous (``LOG_*`` along axis 0): last / start price, high / low, last /
    VWAP (1.0 where the window has no volume: the feature is NaN there), mid / start mid."""
    n = out.shape[3]
    for i in range(len(t)):
        tt = t[i]
        end = (tt - 1) % bk.R1
        for k in range(out.shape[2]):
            before, in_minutes = _window_start(tt, k, short_w, long_m)
            ring, start = (mcum, mdsec) if in_minutes else (cum, dsec)
            for s in range(n):
                start_px, start_mid = start[before, bk.CPX, s], start[before, bk.CMID, s]
                q = cum[end, bk.QUOTE, s] - ring[before, bk.QUOTE, s]
                qty = cum[end, bk.QTY, s] - ring[before, bk.QTY, s]
                px = ff[i, bk.LASTPX, s]
                mid = 0.5 * (ff[i, bk.BID, s] + ff[i, bk.ASK, s])
                out[LOG_RET, i, k, s] = px / start_px
                out[LOG_RANGE, i, k, s] = mx[i, k, bk.HI, s] / -mx[i, k, bk.NEGLO, s]
                vwap = (q / bk.QUOTE_SCALE) / (qty / bk.QTY_SCALE)
                out[LOG_VWAP, i, k, s] = px / vwap if qty > 0 else 1.0
                out[LOG_MID, i, k, s] = mid / start_mid


@_compiled
def _nan_or_div(x: float, y: float) -> float:
    """``tick._safe_div`` for one value: ``x / y``, NaN where ``y == 0``."""
    return np.nan if y == 0 else x / y


@_compiled
def _inf_to_nan(x: float) -> float:
    """``x``, NaN if it is infinite: the per-tick path's last step (``values[np.isinf(values)]
    = np.nan``), taken as each value is written rather than in a pass of its own."""
    return np.nan if math.isinf(x) else x


@_compiled
def _max(a: float, b: float) -> float:
    """``np.maximum(a, b)``: NaN if either is, else the larger."""
    return a if (a >= b or math.isnan(a)) else b


@_compiled
def _fold_max(acc: F64, slot: F64, n: int) -> None:
    """``acc`` (fields x symbols) becomes its max with ``slot[:, :n]`` (a ring's slot)."""
    for f in range(acc.shape[0]):
        for s in range(n):
            acc[f, s] = _max(acc[f, s], slot[f, s])


@_compiled
def window_maxima(
    t: I64, fmax: F64, mfmax: F64, n: int, short_w: I64, long_m: I64, a: I64, mx: F64, tick_mx: F64
) -> None:
    """``tick._windows``' maxima of every tick second ``t[i]`` into ``mx`` (ticks, windows,
    ``NX``, n): a short window ``w`` over the seconds ``[t - w, t)`` of the second ring
    ``fmax``; a long one (``w`` minutes) over the previous window's and the minutes
    ``[m - w, m)`` of the minute ring ``mfmax``. Then, if ``a`` has an entry per tick,
    the tick interval's maxima, over seconds ``[a[i], t[i])``, into ``tick_mx`` (ticks,
    ``NX``, n). Max is order-free, so a max grown block by block, second by second, is
    the ring slices' max. The short windows read blocks of ``short_w[0]`` seconds, each
    block's max taken once per run (a 60-second window: six reads, not sixty)."""
    acc = np.empty((bk.NX, n))
    minutes = np.empty((len(long_m), bk.NX, n))
    ns, m_done, size = len(short_w), -1, short_w[0]
    first = t[0] - short_w[ns - 1]  # the earliest second a short window reads
    blocks = np.empty((t[-1] - size + 1 - first, bk.NX, n))  # max of [s, s + size), by s
    for s in range(first, t[-1] - size + 1):
        acc[:] = -np.inf
        for sec in range(s, s + size):
            _fold_max(acc, fmax[sec % bk.R1], n)
        blocks[s - first] = acc
    for i in range(len(t)):
        acc[:] = -np.inf
        back = 0
        for k in range(ns):
            while back + size <= short_w[k]:
                back += size
                _fold_max(acc, blocks[t[i] - back - first], n)
            while back < short_w[k]:
                back += 1
                _fold_max(acc, fmax[(t[i] - back) % bk.R1], n)
            mx[i, k] = acc
        m = t[i] // 60
        if m != m_done:  # the minutes' maxima, once per minute
            acc[:] = -np.inf
            back = 0
            for k in range(len(long_m)):
                while back < long_m[k]:
                    back += 1
                    _fold_max(acc, mfmax[(m - back) % bk.RM], n)
                minutes[k] = acc
            m_done = m
        for k in range(len(long_m)):
            for f in range(bk.NX):
                for s in range(n):
                    mx[i, ns + k, f, s] = _max(mx[i, ns + k - 1, f, s], minutes[k, f, s])
        if len(a):
            acc[:] = -np.inf
            for sec in range(a[i], t[i]):
                _fold_max(acc, fmax[sec % bk.R1], n)
            tick_mx[i] = acc


@_compiled
def add_at(ring: I64, slot: I64, field: int, sym: I64, values: I64) -> None:
    """``ring[slot[i], field, sym[i]] += values[i]`` for each row ``i``, as ``np.add.at``
    on the ring."""
    for i in range(len(slot)):
        ring[slot[i], field, sym[i]] += values[i]


@_compiled
def max_at(ring: F64, slot: I64, field: int, sym: I64, values: F64) -> None:
    """``np.maximum.at`` on the ring: ``ring[slot[i], field, sym[i]]`` becomes its max
    with ``values[i]``, row after row."""
    for i in range(len(slot)):
        cell = ring[slot[i], field]
        cell[sym[i]] = _max(cell[sym[i]], values[i])


@_compiled
def last_at(ring: F64, slot: I64, field: int, sym: I64, values: F64) -> None:
    """``ring[slot[i], field, sym[i]] = values[i]`` row after row: each cell keeps the value
    of its last row in order."""
    for i in range(len(slot)):
        ring[slot[i], field, sym[i]] = values[i]


@_compiled
def window_features(
    t: I64,
    cum: I64,
    mcum: I64,
    short_w: I64,
    long_m: I64,
    ff: F64,
    last: I64,
    mx: F64,
    logs: F64,
    k_mu: F64,
    scale: F64,
    base_gap: Bools,
    at: I64,
    liq_seen: Bools,
    stale_after_s: float,
    window_index: I64,
    instant_index: I64,
    other_index: I64,
    dest: I64,
    out: F64,
    any_gap: Bools,
) -> None:
    """``tick._window_features`` and the instant features of every tick into ``out``
    (ticks, symbols, features; ``other_index`` columns set to NaN for the cross-section;
    an infinity written as NaN, where the value could be one),
    and the per-tick "some window overlaps a gap" mask into ``any_gap`` (ticks, symbols);
    symbol ``s`` at position ``dest[s]`` of their symbol axis.

    ``logs``: ``window_log_args`` after ``np.log``; ``k_mu``/``scale``/``base_gap``: the
    cache terms stacked per key, ``at`` the key of each tick; ``window_index[f, k]``: the
    column of per-window feature ``f`` in window ``k`` (-1: none)."""
    nan = np.nan
    n = out.shape[1]
    for i in range(len(t)):  # symbols innermost: the rings hold them contiguous
        tt = t[i]
        end = (tt - 1) % bk.R1
        a = at[i]
        for s in range(n):
            any_gap[i, dest[s]] = base_gap[a, s]
        for k in range(window_index.shape[1]):
            before, in_minutes = _window_start(tt, k, short_w, long_m)
            ring = mcum if in_minutes else cum
            idx = window_index[:, k]
            for s in range(n):
                row = out[i, dest[s]]
                if cum[end, bk.GAPC, s] - ring[before, bk.GAPC, s] > 0:
                    any_gap[i, dest[s]] = True
                    for f in range(len(idx)):
                        if idx[f] >= 0:
                            row[idx[f]] = nan
                    continue
                count = np.float64(cum[end, bk.N, s] - ring[before, bk.N, s])
                q = (cum[end, bk.QUOTE, s] - ring[before, bk.QUOTE, s]) / bk.QUOTE_SCALE
                bq = (cum[end, bk.BUYQ, s] - ring[before, bk.BUYQ, s]) / bk.QUOTE_SCALE
                qty = cum[end, bk.QTY, s] - ring[before, bk.QTY, s]
                r2 = cum[end, bk.R2U, s] - ring[before, bk.R2U, s]
                nk = cum[end, bk.NK, s] - ring[before, bk.NK, s]
                liq = (cum[end, bk.LIQ, s] - ring[before, bk.LIQ, s]) / bk.QUOTE_SCALE
                row[idx[RET]] = _inf_to_nan(logs[LOG_RET, i, k, s])
                row[idx[RVOL]] = math.sqrt(r2 / bk.R2_SCALE)
                hi = mx[i, k, bk.HI, s]
                row[idx[RANGE]] = (
                    _inf_to_nan(logs[LOG_RANGE, i, k, s]) if math.isfinite(hi) else nan
                )
                row[idx[COUNT]] = count
                row[idx[QVOL]] = q
                if idx[COUNT_Z] >= 0:
                    z_c = _nan_or_div(count - k_mu[a, k, 0, s], scale[a, k, 0, s])
                    row[idx[COUNT_Z]] = nan if base_gap[a, s] else _inf_to_nan(z_c)
                if idx[QVOL_Z] >= 0:
                    z_q = _nan_or_div(q - k_mu[a, k, 1, s], scale[a, k, 1, s])
                    row[idx[QVOL_Z]] = nan if base_gap[a, s] else _inf_to_nan(z_q)
                row[idx[IMB]] = _inf_to_nan(_nan_or_div(2.0 * bq - q, q))
                maxq = mx[i, k, bk.MAXQ, s]
                row[idx[MAXSHARE]] = _inf_to_nan(_nan_or_div(maxq, q)) if nk == 0 else nan
                row[idx[VWAPD]] = _inf_to_nan(logs[LOG_VWAP, i, k, s]) if qty > 0 else nan
                row[idx[MIDCHG]] = _inf_to_nan(logs[LOG_MID, i, k, s])
                row[idx[LIQ]] = liq if liq_seen[i] else nan
        for s in range(n):
            row = out[i, dest[s]]
            bid, ask = ff[i, bk.BID, s], ff[i, bk.ASK, s]
            mid = 0.5 * (bid + ask)
            for j, column in enumerate((SINCE_EVENT, SINCE_TRADE, SINCE_BOOK)):
                since = last[i, j, s]  # ``last`` rows: event, trade, book
                row[instant_index[column]] = np.float64(tt - since) if since >= 0 else nan
            row[instant_index[SPREAD]] = _inf_to_nan(_nan_or_div(ask - bid, mid) * 1e4)
            bid_q, ask_q = ff[i, bk.BIDQ, s], ff[i, bk.ASKQ, s]
            row[instant_index[BOOK_IMB]] = _inf_to_nan(
                _nan_or_div(bid_q - ask_q, bid_q + ask_q) * 1.0
            )
            row[instant_index[FUNDING]] = _inf_to_nan(ff[i, bk.FUND, s])
            index = ff[i, bk.INDEX, s]
            row[instant_index[BASIS]] = _inf_to_nan(
                _nan_or_div(ff[i, bk.MARK, s] - index, index) * 1e4
            )
            stale = row[instant_index[SINCE_EVENT]] > stale_after_s
            row[instant_index[STALE]] = 1.0 if stale else 0.0
            for f in range(len(other_index)):
                row[other_index[f]] = nan


@_compiled
def _block_sum(a: F64, lo: int, n: int) -> float:
    """numpy's pairwise sum of at most 128 values: eight running sums, started from 0.0."""
    if n < 8:
        res = 0.0
        for j in range(n):
            res += a[lo + j]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    j = 8
    while j < n - n % 8:
        r0, r1, r2, r3 = r0 + a[lo + j], r1 + a[lo + j + 1], r2 + a[lo + j + 2], r3 + a[lo + j + 3]
        r4, r5, r6, r7 = (
            r4 + a[lo + j + 4],
            r5 + a[lo + j + 5],
            r6 + a[lo + j + 6],
            r7 + a[lo + j + 7],
        )
        j += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while j < n:
        res += a[lo + j]
        j += 1
    return float(res)


@_compiled
def _pairwise_sum(a: F64, lo: int, n: int) -> float:
    """``np.add.reduce(a[lo:lo + n])`` to the bit: numpy sums blocks of up to 128 values
    (``_block_sum``) and adds the two halves of anything longer, the first half a multiple
    of 8. The same tree, walked with an explicit stack (numba cannot cache recursion)."""
    if n <= 128:
        return _block_sum(a, lo, n)
    depth = 64
    seg_lo = np.empty(depth, dtype=np.int64)
    seg_n = np.empty(depth, dtype=np.int64)
    stage = np.zeros(depth, dtype=np.int64)  # 0: left half next, 1: right half, 2: add
    sums = np.empty(depth)
    top, done = 0, 0
    seg_lo[0], seg_n[0] = lo, n
    while top >= 0:
        k = seg_n[top]
        if k <= 128:
            sums[done] = _block_sum(a, seg_lo[top], k)
            done += 1
            top -= 1
            continue
        half = k // 2
        half -= half % 8
        if stage[top] == 2:
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
            continue
        left = stage[top] == 0
        stage[top] += 1
        top += 1
        seg_lo[top] = seg_lo[top - 1] + (0 if left else half)
        seg_n[top] = half if left else k - half
        stage[top] = 0
    return float(sums[0])


@_compiled
def _sift_down(vals: F64, order: I64, root: int, size: int) -> None:
    while 2 * root + 1 < size:
        child = 2 * root + 1
        if child + 1 < size and vals[order[child + 1]] > vals[order[child]]:
            child += 1
        if vals[order[child]] <= vals[order[root]]:
            return
        order[root], order[child] = order[child], order[root]
        root = child


@_compiled
def _sort_order(vals: F64, m: int, order: I64) -> None:
    """Positions of ``vals[:m]`` in ascending order into ``order[:m]`` (ties in any order:
    only the tie groups matter), by heap sort: it serves only past ``_COUNT_RANKS_UPTO``
    values (numba's own sort costs seconds of compilation)."""
    for j in range(m):
        order[j] = j
    for root in range(m // 2 - 1, -1, -1):
        _sift_down(vals, order, root, m)
    for end in range(m - 1, 0, -1):
        order[0], order[end] = order[end], order[0]
        _sift_down(vals, order, 0, end)


# Up to this many values, ranks come from counting, for each value, the values below it
# and those not above it: m * m comparisons without a branch, which the compiler
# vectorises. Past it, from a sort (m log m). Counting measured faster up to ~400 values
# (20: 0.25 us vs 0.45 us a tick; 256: 10.8 vs 19.0 us; 384: 26 vs 32 us).
_COUNT_RANKS_UPTO = 384


@_compiled
def _rank_z(x: F64, rank_out: F64, z_out: F64, vals: F64, where: I64, dev: F64, order: I64) -> None:
    """``tick._pct_rank_z`` of one tick's ``x`` (``vals``/``where``/``dev``/``order``:
    scratch of ``len(x)``) into ``rank_out``/``z_out``, which stay as they are (NaN) at
    the entries that are not finite. A value's rank counts the values below it and the
    values not above it, as the sorted ``searchsorted`` pair does: the bounds of its tie
    group in sorted order (equal floats tie, 0.0 and -0.0 too)."""
    m = 0
    for j in range(len(x)):
        if math.isfinite(x[j]):
            vals[m] = x[j]
            where[m] = j
            m += 1
    if m < 2:
        return
    if m <= _COUNT_RANKS_UPTO:  # every pair compared: no branches, vectorised
        for j in range(m):
            v, twice = vals[j], np.int64(0)  # below + not above, in one int64 sum
            for p in range(m):
                twice += np.int64(vals[p] < v) + np.int64(vals[p] <= v)
            rank_out[where[j]] = (twice - 1) / 2.0 / (m - 1)
    else:
        _sort_order(vals, m, order)
        lo = 0
        while lo < m:
            hi = lo + 1
            while hi < m and vals[order[hi]] == vals[order[lo]]:
                hi += 1
            rank = (lo + hi - 1) / 2.0 / (m - 1)
            for p in range(lo, hi):
                rank_out[where[order[p]]] = rank
            lo = hi
    mean = _pairwise_sum(vals, 0, m) / m
    for j in range(m):
        dev[j] = vals[j] - mean
    for j in range(m):  # the squares into ``vals``, no longer needed
        vals[j] = dev[j] * dev[j]
    sd = math.sqrt(_pairwise_sum(vals, 0, m) / m)
    if sd > 0:
        for j in range(m):
            z_out[where[j]] = dev[j] / sd


@_compiled
def cross_section(
    by_symbol: F64,
    rows: I64,
    surge: F64,
    ret_index: I64,
    xs_index: I64,
    beta: F64,
    beta_index: int,
    bench: int,
    relret_index: I64,
    at: I64,
    copy_rows: bool,
    out: F64,
) -> None:
    """``batch._cross_section``'s features: ``out`` (ticks, rows, features) gets the
    feature vectors of ``rows`` from ``by_symbol`` (ticks, symbols, features) with the
    cross-sectional ranks and z-scores, beta and relative returns filled in, each infinity
    written as NaN (as ``window_features`` writes the rest). ``copy_rows`` false: ``out``
    is ``by_symbol`` itself, every row (``rows`` is ``0..n-1``), filled in place; every
    value read is one no write changes.

    ``surge``: (ticks, XS windows, rows) volume surges; ``ret_index``: each XS window's
    return column; ``xs_index[w]``: its surge rank, surge z, return rank, return z
    columns; ``beta``: (keys, rows), no columns when there is no benchmark, into column
    ``beta_index``;
    ``relret_index``: (return column, relative return column) per relative window."""
    nr = len(rows)
    x = np.empty(nr)
    rank = np.empty(nr)
    z = np.empty(nr)
    vals = np.empty(nr)
    where = np.empty(nr, dtype=np.int64)
    dev = np.empty(nr)
    order = np.empty(nr, dtype=np.int64)
    for i in range(out.shape[0]):
        if copy_rows:
            for r in range(nr):
                out[i, r] = by_symbol[i, rows[r]]
        for w in range(len(ret_index)):
            for kind in range(2):  # the surge, then the return
                for r in range(nr):
                    x[r] = surge[i, w, r] if kind == 0 else by_symbol[i, rows[r], ret_index[w]]
                rank[:] = np.nan
                z[:] = np.nan
                _rank_z(x, rank, z, vals, where, dev, order)
                for r in range(nr):
                    out[i, r, xs_index[w, 2 * kind]] = rank[r]
                    out[i, r, xs_index[w, 2 * kind + 1]] = _inf_to_nan(z[r])
        if beta.shape[1]:
            a = at[i]
            for r in range(nr):
                out[i, r, beta_index] = _inf_to_nan(beta[a, r])
            for j in range(relret_index.shape[0]):
                ret_bench = by_symbol[i, bench, relret_index[j, 0]]
                for r in range(nr):
                    ret = by_symbol[i, rows[r], relret_index[j, 0]]
                    out[i, r, relret_index[j, 1]] = _inf_to_nan(ret - beta[a, r] * ret_bench)


@_compiled
def tick_prices(ff: F64, tick_mx: F64, rows: I64, out: F64) -> None:
    """The price columns (``names.PRICE_COLUMNS``: bid, ask, mid, last, high, low) of
    symbols ``rows`` at each tick into ``out`` (ticks, rows, 6), from the forward-filled
    values ``ff`` (ticks, ``NL``, symbols) and the tick interval's maxima ``tick_mx``
    (ticks, ``NX``, symbols); a high or low that is not finite (no trade) is NaN."""
    for i in range(out.shape[0]):
        for r in range(len(rows)):
            s = rows[r]
            bid, ask = ff[i, bk.BID, s], ff[i, bk.ASK, s]
            hi, lo = tick_mx[i, bk.HI, s], -tick_mx[i, bk.NEGLO, s]
            out[i, r, 0] = bid
            out[i, r, 1] = ask
            out[i, r, 2] = 0.5 * (bid + ask)
            out[i, r, 3] = ff[i, bk.LASTPX, s]
            out[i, r, 4] = hi if math.isfinite(hi) else np.nan
            out[i, r, 5] = lo if math.isfinite(lo) else np.nan


@_compiled
def roll_prices(flast: F64, c: int, n: int, start: F64, ff: F64, ratio: F64) -> None:
    """``roll_span``'s last values of seconds ``c .. c + len(ratio) - 1`` (ring ``flast``):
    a kline's close stands in for the last trade price where a second has none (written
    back to the ring, as ``_roll_second`` does); ``ff`` gets ``start`` (fields x symbols)
    then each second's values where they are not NaN, the previous second's elsewhere;
    ``ratio`` the last price over the second before's, the argument of the 1-second log
    return (``np.log`` is the caller's)."""
    ff[0] = start
    for i in range(ratio.shape[0]):
        last = flast[(c + i) % flast.shape[0]]
        for s in range(n):
            if math.isnan(last[bk.LASTPX, s]):
                last[bk.LASTPX, s] = last[bk.KCLOSE, s]
        for f in range(ff.shape[1]):
            for s in range(n):
                x = last[f, s]
                ff[i + 1, f, s] = ff[i, f, s] if math.isnan(x) else x
        for s in range(n):
            ratio[i, s] = ff[i + 1, bk.LASTPX, s] / ff[i, bk.LASTPX, s]


@_compiled
def roll_sums(
    isum: I64,
    flast: F64,
    c: int,
    r: F64,
    gap_after_s: int,
    declared: Bools,
    ff: F64,
    cum: I64,
    dsec: F64,
    last: I64,
    first: I64,
    liq: Bools,
) -> None:
    """The rest of ``roll_span`` for seconds ``c + i`` (``r``: their 1-second log returns,
    seconds x symbols; ``ff``: ``roll_prices``' output): per second and symbol, whether it
    traded, booked or had any event; the last such seconds into ``last`` (seconds + 1, 3,
    symbols; row 0 given) and the first active one into ``first`` (row 0 given); the gap
    flag (silent for more than ``gap_after_s``, or ``declared``); the cumulative sums of
    the bucket sums, squared-return units and gap seconds into the ring ``cum``; close
    price and mid into ``dsec``; whether a liquidation was seen into ``liq`` (row 0
    given). Each step is ``_roll_second``'s: integer sums, selections, and the same
    float operations (``np.rint`` rounds half to even, as numpy's does)."""
    n = r.shape[1]
    r1 = cum.shape[0]
    acc = cum[(c - 1) % r1, :, :n].copy()
    for i in range(r.shape[0]):
        sec, j = c + i, (c + i) % r1
        cnt, lastv, row = isum[j], flast[j], cum[j]
        liq_now = liq[i]
        for f in range(bk.NI):  # field by field: contiguous rows, vector code
            for s in range(n):
                acc[f, s] += cnt[f, s]
                row[f, s] = acc[f, s]
        for s in range(n):
            traded = cnt[bk.N, s] + cnt[bk.NK, s] > 0 or not math.isnan(lastv[bk.LASTPX, s])
            booked = not math.isnan(lastv[bk.BID, s])
            active = traded or booked or cnt[bk.NMARK, s] > 0 or cnt[bk.NLIQ, s] > 0
            last[i + 1, 0, s] = sec if active else last[i, 0, s]
            last[i + 1, 1, s] = sec if traded else last[i, 1, s]
            last[i + 1, 2, s] = sec if booked else last[i, 2, s]
            first[i + 1, s] = first[i, s] if first[i, s] >= 0 else (sec if active else -1)
            seen = last[i + 1, 0, s]
            gap = (seen >= 0 and sec - seen > gap_after_s) or declared[i, s]
            x = r[i, s]
            r2 = np.rint(min(x * x if math.isfinite(x) else 0.0, 1.0) * bk.R2_SCALE)
            acc[bk.R2U, s] += np.int64(r2)
            row[bk.R2U, s] = acc[bk.R2U, s]
            acc[bk.GAPC, s] += gap
            row[bk.GAPC, s] = acc[bk.GAPC, s]
            dsec[j, bk.CPX, s] = ff[i + 1, bk.LASTPX, s]
            dsec[j, bk.CMID, s] = 0.5 * (ff[i + 1, bk.BID, s] + ff[i + 1, bk.ASK, s])
            liq_now = liq_now or cnt[bk.NLIQ, s] > 0
        liq[i + 1] = liq_now


@_compiled
def canonical_copy(values: F64, out: F64) -> None:
    """``out[...] = values`` (any layout, e.g. a field of the digest's packed records) with
    every NaN written as ``np.nan``, the one bit pattern the digest defines: NaNs from
    different operations differ in sign and payload bits. A copy, no arithmetic."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            for k in range(values.shape[2]):
                x = values[i, j, k]
                out[i, j, k] = np.nan if math.isnan(x) else x


@_compiled
def _compiled_layout_key() -> int:
    return _LAYOUT_KEY


def _drop_stale_cache() -> None:
    """numba keys its disk cache on this file alone and freezes globals at compile time, so
    a change to, say, ``buckets.RM`` would leave every cached kernel on the old value (a
    wrong replay, silently). A kernel compiled with the fingerprint tells: if it differs
    from the current one, every kernel's cache is dropped and compiles afresh."""
    if _compiled_layout_key() != _LAYOUT_KEY:
        for dispatcher in _DISPATCHERS:
            dispatcher.recompile()


def warm_up() -> None:
    """Compile every kernel for the argument types the batch path passes, into numba's
    on-disk cache (about 12 s once; a process then loads them in well under a second).
    ``./csx.sh`` runs this after a sync, so no replay pays the compilation; the live
    runner calls it in a thread at start-up. ``tests/test_feature_kernels.py`` checks that
    a replay then adds no signature."""
    t, n, feats, keys = 2, 3, 78, 1
    ticks = np.arange(100_000, 100_000 + t, dtype=np.int64)
    short_w, long_m = np.array([10, 60], dtype=np.int64), np.array([5, 15, 60], dtype=np.int64)
    windows = len(short_w) + len(long_m)
    cum = np.zeros((bk.R1, bk.NC, n), dtype=np.int64)
    mcum = np.zeros((bk.RM, bk.NC, n), dtype=np.int64)
    dsec, mdsec = np.ones((bk.R1, bk.ND, n)), np.ones((bk.RM, bk.ND, n))
    ff, mx = np.ones((t, bk.NL, n)), np.ones((t, windows, bk.NX, n))
    fmax, mfmax = np.ones((bk.R1, bk.NX, n)), np.ones((bk.RM, bk.NX, n))
    tick_mx = np.empty((t, bk.NX, n))
    window_maxima(ticks, fmax, mfmax, n, short_w, long_m, ticks - 1, mx, tick_mx)
    logs = np.empty((NLOG, t, windows, n))
    window_log_args(ticks, cum, mcum, dsec, mdsec, short_w, long_m, ff, mx, logs)
    out = np.empty((t, n, feats))
    window_features(
        ticks,
        cum,
        mcum,
        short_w,
        long_m,
        ff,
        np.zeros((t, 3, n), dtype=np.int64),
        mx,
        logs,
        np.zeros((keys, windows, 2, n)),
        np.ones((keys, windows, 2, n)),
        np.zeros((keys, n), dtype=bool),
        np.zeros(t, dtype=np.int64),
        np.ones(t, dtype=bool),
        60.0,
        np.zeros((12, windows), dtype=np.int64),
        np.zeros(8, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.arange(n, dtype=np.int64),
        out,
        np.empty((t, n), dtype=bool),
    )
    tick_prices(ff, tick_mx, np.arange(n, dtype=np.int64), np.empty((t, n, 6)))
    ratio = np.empty((t, n))
    ff_roll = np.empty((t + 1, bk.NL, n))
    flast = np.ones((bk.R1, bk.NL, n))
    roll_prices(flast, 5, n, np.ones((bk.NL, n)), ff_roll, ratio)
    roll_sums(
        np.zeros((bk.R1, bk.NI, n), dtype=np.int64),
        flast,
        5,
        ratio,
        60,
        np.zeros((t, n), dtype=bool),
        ff_roll,
        np.zeros((bk.R1, bk.NC, n), dtype=np.int64),
        np.ones((bk.R1, bk.ND, n)),
        np.zeros((t + 1, 3, n), dtype=np.int64),
        np.zeros((t + 1, n), dtype=np.int64),
        np.zeros(t + 1, dtype=bool),
    )
    cross_section(
        out,
        np.arange(n, dtype=np.int64),
        np.zeros((t, 2, n)),
        np.zeros(2, dtype=np.int64),
        np.zeros((2, 4), dtype=np.int64),
        np.zeros((keys, n)),
        0,
        0,
        np.zeros((3, 2), dtype=np.int64),
        np.zeros(t, dtype=np.int64),
        True,
        np.empty((t, n, feats)),
    )
    # the fills: values straight from Arrow are read-only, computed ones are not
    slots, syms = np.arange(t, dtype=np.int64), np.arange(t, dtype=np.int64) % n
    for writable in (True, False):
        counts, prices = np.ones(t, dtype=np.int64), np.ones(t)
        counts.setflags(write=writable)
        prices.setflags(write=writable)
        add_at(cum, slots, 0, syms, counts)
        max_at(fmax, slots, 0, syms, prices)
        last_at(fmax, slots, 0, syms, prices)
    # the digest's records: ``table.SnapshotDigest.update_batch`` copies into a field
    record = np.dtype([("ts", "<i8"), ("rows", "<u4"), ("values", "<f8", (n, feats))])
    canonical_copy(out, np.empty(t, record)["values"])


_drop_stale_cache()

if __name__ == "__main__":
    warm_up()
