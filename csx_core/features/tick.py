"""The one vectorised tick function: bucket rings at tick ``T`` -> feature matrix.

Live (``FeatureEngine.on_tick``) and offline (the batch drivers) both call ``compute_tick``
after ``Buckets.roll_to(T)``; it reads only rolled seconds (``< T``) and reduces across
symbols in symbol-name order, so its output depends on nothing but the bucket state.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from csx_core.features import buckets as bk
from csx_core.features.buckets import F64, I64, Bools, Buckets
from csx_core.features.config import MAX_BAR_CADENCE_S, EngineConfig
from csx_core.features.names import (
    BASELINE_MINUTES,
    FEATURE_INDEX,
    FEATURE_NAMES,
    PER_WINDOW,
    PRICE_COLUMNS,
    RELRET_WINDOWS_S,
    WINDOW_LABELS,
    WINDOWS_S,
    XS_WINDOWS_S,
)

SHORT_LIMIT_S = 300


@dataclass(frozen=True)
class TickFrame:
    """Every snapshot of one tick as arrays, rows in symbol-name order.

    ``prices`` columns follow ``PRICE_COLUMNS``; ``values`` columns follow ``FEATURE_NAMES``.
    """

    ts: int
    symbols: list[str]
    warm: Bools
    gap: Bools
    prices: F64
    values: F64

    def __len__(self) -> int:
        return len(self.symbols)


@dataclass
class _Windows:
    """Every window at once, windows along axis 0 (``WINDOWS_S`` order)."""

    cnt: I64
    mx: F64
    start_px: F64
    start_mid: F64


_SHORT_W = np.array([w for w in WINDOWS_S if w < SHORT_LIMIT_S], dtype=np.int64)
_LONG_M = np.array([w // 60 for w in WINDOWS_S if w >= SHORT_LIMIT_S], dtype=np.int64)
assert list(WINDOWS_S) == sorted(WINDOWS_S), "short windows must come first"


def _ring_max(ring: F64, a: int, b: int, n: int) -> F64 | None:
    """Max of ``ring`` over absolute slots ``[a, b)``, symbols ``:n`` (None if empty)."""
    if b <= a:
        return None
    size = ring.shape[0]
    lo, hi = a % size, (b - 1) % size + 1
    if lo < hi:
        out: F64 = ring[lo:hi, ..., :n].max(axis=0)
    else:
        out = np.maximum(ring[lo:, ..., :n].max(axis=0), ring[:hi, ..., :n].max(axis=0))
    return out


def interval_max(b: Buckets, cfg: EngineConfig, t: int, prev_t: int | None) -> F64:
    """Per-second maxima (high, -low, ...) over the tick interval ``[prev_t, t)``.

    Fine cadences read the second ring (at most ``MAX_AHEAD_S`` back); bar cadences tick
    on whole minutes, so their interval is whole closed minutes of the minute ring (at
    most ``MAX_BAR_CADENCE_S`` back). The first tick's interval is one cadence.
    """
    if cfg.bar_cadence:
        a = t - cfg.cadence_s if prev_t is None else max(prev_t, t - MAX_BAR_CADENCE_S)
        out = _ring_max(b.mfmax, a // 60, t // 60, b.n)
    else:
        a = t - cfg.cadence_s if prev_t is None else max(prev_t, t - bk.MAX_AHEAD_S)
        out = _ring_max(b.fmax, a, t, b.n)
    assert out is not None
    return out


def _windows(b: Buckets, t: int) -> _Windows:
    """Every window's sums (exact: differences of cumulative integers) and maxima.

    Maxima grow window by window (max is idempotent, so overlapping pieces are fine): the
    short windows from the second ring, then whole minutes from the minute ring; the
    60-second window covers the current partial minute of every long window.
    """
    n, m_cur = b.n, t // 60
    mx = np.empty((len(WINDOWS_S), bk.NX, n))
    end = b.cum[(t - 1) % bk.R1, :, :n]
    before_s = (t - _SHORT_W - 1) % bk.R1
    before_m = (m_cur - _LONG_M - 1) % bk.RM
    cnt = np.concatenate([b.cum[before_s, :, :n], b.mcum[before_m, :, :n]])
    np.subtract(end, cnt, out=cnt)
    before = np.concatenate([b.dsec[before_s, :, :n], b.mdsec[before_m, :, :n]])
    prev: F64 | None = None
    covered_s, covered_m = t, m_cur
    for k, w in enumerate(WINDOWS_S):
        if w < SHORT_LIMIT_S:
            piece = _ring_max(b.fmax, t - w, covered_s, n)
            covered_s = t - w
        else:
            piece = _ring_max(b.mfmax, m_cur - w // 60, covered_m, n)
            covered_m = m_cur - w // 60
        if piece is None:
            mx[k] = -np.inf if prev is None else prev
        elif prev is None:
            mx[k] = piece
        else:
            np.maximum(prev, piece, out=mx[k])
        prev = mx[k]
    return _Windows(cnt, mx, before[:, bk.CPX], before[:, bk.CMID])


def _safe_div(x: F64, y: F64) -> F64:
    """``x / y``, NaN where ``y == 0`` (the other quotients are the plain IEEE ones)."""
    out: F64 = np.asarray(x / y, dtype=np.float64)
    out[y == 0] = np.nan
    return out


_WINDOW_K = np.array([w / 60.0 for w in WINDOWS_S])[:, None]
_LABELS = [WINDOW_LABELS[w] for w in WINDOWS_S]
_ALL = list(range(len(WINDOWS_S)))
_ROWS: dict[str, tuple[list[int], list[int]]] = {
    f: (
        [k for k, label in enumerate(_LABELS) if f"{f}_{label}" in FEATURE_INDEX],
        [FEATURE_INDEX[f"{f}_{label}"] for label in _LABELS if f"{f}_{label}" in FEATURE_INDEX],
    )
    for f in PER_WINDOW
}
_SEL: dict[str, slice | I64] = {
    f: slice(None) if sel == _ALL else np.array(sel, dtype=np.int64)
    for f, (sel, _) in _ROWS.items()
}


def _as_index(rows: list[int]) -> slice | I64:
    """A slice when ``rows`` are evenly spaced (cheaper to assign through), else an array."""
    steps = {b - a for a, b in itertools.pairwise(rows)}
    if len(steps) == 1 and min(steps) > 0:
        return slice(rows[0], rows[-1] + 1, steps.pop())
    return np.array(rows, dtype=np.int64)


_OUT: dict[str, slice | I64] = {f: _as_index(rows) for f, (_, rows) in _ROWS.items()}


def _window_features(
    b: Buckets, wins: _Windows, z_terms: tuple[F64, F64], base_gap: Bools, out: F64
) -> Bools:
    """Write every window's features into ``out`` (features x symbols), all windows at
    once; return the per-symbol "some window overlaps a gap" mask."""
    n = b.n
    cnt, mx, start_px, start_mid = wins.cnt, wins.mx, wins.start_px, wins.start_mid
    px, mid = b.ff[bk.LASTPX, :n], 0.5 * (b.ff[bk.BID, :n] + b.ff[bk.ASK, :n])
    q = cnt[:, bk.QUOTE] / bk.QUOTE_SCALE
    bq = cnt[:, bk.BUYQ] / bk.QUOTE_SCALE
    qty = cnt[:, bk.QTY] / bk.QTY_SCALE
    count = cnt[:, bk.N].astype(np.float64)
    hi, lo = mx[:, bk.HI], -mx[:, bk.NEGLO]
    k_mu, scale = z_terms
    z = _safe_div(np.stack([count, q], axis=1) - k_mu, scale)
    if base_gap.any():
        z[:, :, base_gap] = np.nan
    values: dict[str, F64] = {
        "ret": np.log(px / start_px),
        "rvol": np.sqrt(cnt[:, bk.R2U] / bk.R2_SCALE),
        "range": np.where(np.isfinite(hi), np.log(hi / lo), np.nan),
        "count": count,
        "qvol": q,
        "count_z": z[:, 0],
        "qvol_z": z[:, 1],
        "imb": _safe_div(2.0 * bq - q, q),
        "maxshare": np.where(cnt[:, bk.NK] == 0, _safe_div(mx[:, bk.MAXQ], q), np.nan),
        "vwapd": np.where(qty > 0, np.log(px / _safe_div(q, qty)), np.nan),
        "midchg": np.log(mid / start_mid),
        "liq": cnt[:, bk.LIQ] / bk.QUOTE_SCALE if b.liq_seen else np.full(q.shape, np.nan),
    }
    gap = cnt[:, bk.GAPC] > 0
    has_gap = bool(gap.any())
    for name, sel in _SEL.items():
        block = values[name][sel]
        out[_OUT[name]] = np.where(gap[sel], np.nan, block) if has_gap else block
    any_gap: Bools = np.asarray(gap.any(axis=0))
    return any_gap


def _minute_sums(b: Buckets, minutes: I64, count: int, fields: list[int]) -> I64:
    """Per key ``k``: the per-minute sums of ``fields`` over the ``count`` complete minutes
    before minute ``minutes[k]``: (keys, count, len(fields), n)."""
    slots = (minutes[:, None] + np.arange(-count - 1, 0)) % bk.RM
    cum = b.mcum[slots[:, :, None], np.asarray(fields, dtype=np.int64), : b.n]
    out: I64 = cum[:, 1:] - cum[:, :-1]
    return out


@dataclass(frozen=True)
class MinuteTerms:
    """What a tick reads of the complete minutes before it, for keys ``k`` (a leading axis;
    see ``TickCache``): the per-minute (count, quote) mean and std over the baseline
    minutes (keys, 2, n), whether a gap touched them (keys, n), every symbol's beta (keys,
    n; None without a benchmark), and the window-scaled baseline (keys, windows, 2, n)
    that the z-scores subtract and divide by."""

    base_mu: F64
    base_sd: F64
    base_gap: Bools
    beta: F64 | None
    k_mu: F64
    scale: F64

    def concat(self, other: MinuteTerms) -> MinuteTerms:
        """These keys, then ``other``'s."""
        no_beta = self.beta is None or other.beta is None
        return MinuteTerms(
            np.concatenate([self.base_mu, other.base_mu]),
            np.concatenate([self.base_sd, other.base_sd]),
            np.concatenate([self.base_gap, other.base_gap]),
            None if no_beta else np.concatenate([self.beta, other.beta]),
            np.concatenate([self.k_mu, other.k_mu]),
            np.concatenate([self.scale, other.scale]),
        )

    def take(self, keys: slice) -> MinuteTerms:
        return MinuteTerms(
            self.base_mu[keys],
            self.base_sd[keys],
            self.base_gap[keys],
            None if self.beta is None else self.beta[keys],
            self.k_mu[keys],
            self.scale[keys],
        )


def minute_terms(b: Buckets, cfg: EngineConfig, t: I64) -> MinuteTerms:
    """``MinuteTerms`` at tick seconds ``t``, all keys in one pass. Each key's values are
    the ones a single key gives: the means sum the minutes in order, key by key (numpy
    reduces an outer axis element-wise), and the rest is element-wise."""
    m_cur = t // 60
    block = _minute_sums(b, m_cur, BASELINE_MINUTES, [bk.N, bk.QUOTE]).astype(np.float64)
    block[:, :, 1] /= bk.QUOTE_SCALE
    gap_cum = b.mcum[np.stack([m_cur - 1, m_cur - BASELINE_MINUTES - 1]) % bk.RM, bk.GAPC, : b.n]
    mu, sd = block.mean(axis=1), block.std(axis=1)
    bench = b.index.get(cfg.benchmark_symbol, -1)
    return MinuteTerms(
        base_mu=mu,
        base_sd=sd,
        base_gap=(gap_cum[0] - gap_cum[1]) > 0,
        beta=_beta(b, m_cur, bench, cfg) if bench >= 0 else None,
        k_mu=_WINDOW_K[None, :, :, None] * mu[:, None],
        scale=np.sqrt(_WINDOW_K)[None, :, :, None] * sd[:, None],
    )


def _pct_rank_z(x: F64, rank_out: F64, z_out: F64) -> None:
    """Percentile rank (ties get the mean rank, in [0, 1]) and z-score (population std)
    of the finite entries of ``x`` into ``rank_out`` / ``z_out``, which arrive NaN-filled
    and stay NaN elsewhere. The mean and std are spelled out as ``np.mean``/``np.std``
    compute them (pairwise sum, divide, square root), so the values are theirs bit for
    bit, without their per-call overhead."""
    finite = np.isfinite(x)
    every = bool(finite.all())
    vals = x if every else x[finite]
    m = len(vals)
    if m < 2:
        return
    srt = np.sort(vals)
    rank = (srt.searchsorted(vals, side="left") + srt.searchsorted(vals, side="right") - 1) / 2.0
    rank /= m - 1
    mean = np.add.reduce(vals) / m
    dev = vals - mean
    sd = math.sqrt(np.add.reduce(dev * dev) / m)
    if every:
        rank_out[:] = rank
        if sd > 0:
            np.divide(dev, sd, out=z_out)
    else:
        rank_out[finite] = rank
        if sd > 0:
            z_out[finite] = dev / sd


def _beta(b: Buckets, m_cur: I64, bench: int, cfg: EngineConfig) -> F64:
    """Per key: the OLS beta of every symbol's 1-minute log returns on the benchmark's,
    over the ``beta_minutes`` before minute ``m_cur[k]`` (keys, n)."""
    slots = (m_cur[:, None] + np.arange(-cfg.beta_minutes - 1, 0)) % bk.RM
    closes = b.mdsec[slots, bk.CPX, : b.n]
    gaps = _minute_sums(b, m_cur, cfg.beta_minutes, [bk.GAPC])[:, :, 0] > 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.log(closes[:, 1:] / closes[:, :-1])
    r[gaps] = np.nan
    y = r[:, :, bench : bench + 1]
    mask = np.isfinite(r) & np.isfinite(y)
    cnt = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        xm = np.where(mask, r, 0.0).sum(axis=1) / cnt
        ym = np.where(mask, y, 0.0).sum(axis=1) / cnt
        dx = np.where(mask, r - xm[:, None], 0.0)
        dy = np.where(mask, y - ym[:, None], 0.0)
        var_y = (dy * dy).sum(axis=1)
        beta = (dx * dy).sum(axis=1) / var_y
    return np.where((cnt >= cfg.min_beta_points) & (var_y > 0), beta, np.nan)


@dataclass
class TickCache:
    """Per-minute results (baseline statistics, betas): they change only when a minute
    closes or a gap is marked (``Buckets.version``), so recomputing them each tick would
    give the same values."""

    key: tuple[int, int, int] | None = None
    terms: MinuteTerms | None = None  # the key's, one key long
    rows: _RowCache | None = None

    def refresh(self, b: Buckets, cfg: EngineConfig, t: int) -> MinuteTerms:
        """The terms at tick second ``t``: cached, or computed for the new key."""
        key = (b.version, b.n, t // 60)
        if self.key != key or self.terms is None:
            self.key = key
            self.terms = minute_terms(b, cfg, np.array([t], dtype=np.int64))
        return self.terms


@dataclass(frozen=True)
class _RowCache:
    """What depends only on the cache key and the set of reported symbols (which only
    grows: a symbol's first active second never changes once set)."""

    key: tuple[tuple[int, int, int], int]
    symbols: list[str]
    warm: Bools
    beta: F64 | None
    base_log1p: dict[int, F64]


def _row_cache(b: Buckets, cfg: EngineConfig, t: int, rows: I64, cache: TickCache) -> _RowCache:
    assert cache.key is not None
    key = (cache.key, len(rows))
    if cache.rows is None or cache.rows.key != key:
        assert cache.terms is not None
        base_mu, beta = cache.terms.base_mu[0], cache.terms.beta
        warm_from = 60 * (t // 60 - cfg.warm_minutes - 1)
        first = b.first[rows]
        cache.rows = _RowCache(
            key=key,
            symbols=[b.names[i] for i in rows.tolist()],
            warm=(first >= 0) & (first <= warm_from),
            beta=None if beta is None else beta[0, rows],
            base_log1p={w: np.log1p((w / 60.0) * base_mu[1][rows]) for w in XS_WINDOWS_S},
        )
    return cache.rows


_BOOK_SCALE = np.array([[1e4], [1.0], [1e4]])
"""spread and basis in bps; ``x * 1.0`` is ``x`` exactly."""
_SINCE = _as_index([FEATURE_INDEX[f"since_{k}_s"] for k in ("event", "trade", "book")])


def _compute(
    b: Buckets,
    cfg: EngineConfig,
    t: int,
    prev_t: int | None,
    order: I64,
    ts: int,
    cache: TickCache,
) -> TickFrame:
    n = b.n
    out = np.full((len(FEATURE_NAMES), n), np.nan)
    bench = b.index.get(cfg.benchmark_symbol, -1)
    terms = cache.refresh(b, cfg, t)
    base_gap = terms.base_gap[0]
    z_terms = (terms.k_mu[0], terms.scale[0])
    any_gap = base_gap | _window_features(b, _windows(b, t), z_terms, base_gap, out)
    ff = b.ff[:, :n]
    bid, ask, mid = ff[bk.BID], ff[bk.ASK], 0.5 * (ff[bk.BID] + ff[bk.ASK])
    last = np.stack([b.last_event[:n], b.last_trade[:n], b.last_book[:n]])
    out[_SINCE] = np.where(last >= 0, t - last, np.nan)
    book = _safe_div(
        ff[[bk.ASK, bk.BIDQ, bk.MARK]] - ff[[bk.BID, bk.ASKQ, bk.INDEX]],
        np.stack([mid, ff[bk.BIDQ] + ff[bk.ASKQ], ff[bk.INDEX]]),
    )
    book *= _BOOK_SCALE
    out[FEATURE_INDEX["spread_bps"]] = book[0]
    out[FEATURE_INDEX["book_imb"]] = book[1]
    out[FEATURE_INDEX["funding_rate"]] = ff[bk.FUND]
    out[FEATURE_INDEX["basis_bps"]] = book[2]
    since_event = out[FEATURE_INDEX["since_event_s"]]
    out[FEATURE_INDEX["stale"]] = np.where(since_event > cfg.stale_after_s, 1.0, 0.0)

    rows = order[b.first[order] >= 0]
    rc = _row_cache(b, cfg, t, rows, cache)
    v = out[:, rows]
    for w in XS_WINDOWS_S:
        label = WINDOW_LABELS[w]
        qvol = v[FEATURE_INDEX[f"qvol_{label}"]]
        surge = np.log1p(qvol) - rc.base_log1p[w]
        ret = v[FEATURE_INDEX[f"ret_{label}"]]
        _pct_rank_z(
            surge,
            v[FEATURE_INDEX[f"xs_surge_rank_{label}"]],
            v[FEATURE_INDEX[f"xs_surge_z_{label}"]],
        )
        _pct_rank_z(
            ret, v[FEATURE_INDEX[f"xs_ret_rank_{label}"]], v[FEATURE_INDEX[f"xs_ret_z_{label}"]]
        )
    if rc.beta is not None:
        beta = rc.beta
        v[FEATURE_INDEX["beta_btc"]] = beta
        for w in RELRET_WINDOWS_S:
            ret = out[FEATURE_INDEX[f"ret_{WINDOW_LABELS[w]}"]]
            v[FEATURE_INDEX[f"relret_{WINDOW_LABELS[w]}"]] = ret[rows] - beta * ret[bench]

    values = np.ascontiguousarray(v.T)
    values[np.isinf(values)] = np.nan
    tick_mx = interval_max(b, cfg, t, prev_t)
    px = np.empty((len(PRICE_COLUMNS), n))
    px[0], px[1], px[2], px[3] = bid, ask, mid, ff[bk.LASTPX]
    px[4], px[5] = tick_mx[bk.HI], -tick_mx[bk.NEGLO]
    high_low = px[4:]
    high_low[~np.isfinite(high_low)] = np.nan
    prices = px.T[rows]
    return TickFrame(
        ts=ts,
        symbols=list(rc.symbols),
        warm=rc.warm.copy(),
        gap=any_gap[rows],
        prices=np.ascontiguousarray(prices),
        values=values,
    )


def compute_tick(
    b: Buckets,
    cfg: EngineConfig,
    t: int,
    prev_t: int | None,
    order: I64,
    ts: int,
    cache: TickCache,
) -> TickFrame:
    """Features at tick second ``t`` (``ts`` in ns) for every seen symbol.

    ``order`` lists symbol indices in name order; ``prev_t`` is the previous tick second
    (for the high/low of the tick interval). NaN results of empty inputs are intended, so
    floating-point warnings are silenced here, once.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _compute(b, cfg, t, prev_t, order, ts, cache)
