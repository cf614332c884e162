"""The one vectorised tick function: bucket rings at tick ``T`` -> feature matrix.

Live (``FeatureEngine.on_tick``) and offline (the batch drivers) both call ``compute_tick``
after ``Buckets.roll_to(T)``; it reads only rolled seconds (``< T``) and reduces across
symbols in symbol-name order, so its output depends on nothing but the bucket state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csx_core.features import buckets as bk
from csx_core.features.buckets import F64, I64, Bools, Buckets
from csx_core.features.config import EngineConfig
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
class _Window:
    cnt: I64
    mx: F64
    start_px: F64
    start_mid: F64


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


def _max2(x: F64 | None, y: F64 | None) -> F64 | None:
    if x is None or y is None:
        return y if x is None else x
    return np.maximum(x, y)


def _windows(b: Buckets, t: int) -> dict[int, _Window]:
    """Every window's sums (exact: differences of cumulative integers) and maxima.

    Maxima grow window by window (max is idempotent, so overlapping pieces are fine): the
    short windows from the second ring, then whole minutes from the minute ring; the
    60-second window covers the current partial minute of every long window.
    """
    n, m_cur = b.n, t // 60
    end = b.cum[(t - 1) % bk.R1, :, :n]
    out: dict[int, _Window] = {}
    mx: F64 | None = None
    covered_s, covered_m = t, m_cur
    for w in WINDOWS_S:
        if w < SHORT_LIMIT_S:
            a = t - w
            start = b.cum[(a - 1) % bk.R1, :, :n]
            mx = _max2(mx, _ring_max(b.fmax, a, covered_s, n))
            covered_s = a
            before = b.dsec[(a - 1) % bk.R1]
        else:
            m0 = m_cur - w // 60
            start = b.mcum[(m0 - 1) % bk.RM, :, :n]
            mx = _max2(mx, _ring_max(b.mfmax, m0, covered_m, n))
            covered_m = m0
            before = b.mdsec[(m0 - 1) % bk.RM]
        full = mx if mx is not None else np.full((bk.NX, n), -np.inf)
        out[w] = _Window(end - start, full, before[bk.CPX, :n], before[bk.CMID, :n])
    return out


def _safe_div(x: F64, y: F64) -> F64:
    out: F64 = np.where(y != 0, x / np.where(y != 0, y, 1.0), np.nan)
    return out


_WINDOW_K = np.array([w / 60.0 for w in WINDOWS_S])[:, None]
_LABELS = [WINDOW_LABELS[w] for w in WINDOWS_S]
_ROWS: dict[str, tuple[list[int], list[int]]] = {
    f: (
        [k for k, label in enumerate(_LABELS) if f"{f}_{label}" in FEATURE_INDEX],
        [FEATURE_INDEX[f"{f}_{label}"] for label in _LABELS if f"{f}_{label}" in FEATURE_INDEX],
    )
    for f in PER_WINDOW
}


def _window_features(
    b: Buckets, wins: dict[int, _Window], base_mu: F64, base_sd: F64, base_gap: Bools, out: F64
) -> Bools:
    """Write every window's features into ``out`` (features x symbols), all windows at
    once; return the per-symbol "some window overlaps a gap" mask."""
    n = b.n
    cnt = np.stack([wins[w].cnt for w in WINDOWS_S])
    mx = np.stack([wins[w].mx for w in WINDOWS_S])
    start_px = np.stack([wins[w].start_px for w in WINDOWS_S])
    start_mid = np.stack([wins[w].start_mid for w in WINDOWS_S])
    px, mid = b.ff[bk.LASTPX, :n], 0.5 * (b.ff[bk.BID, :n] + b.ff[bk.ASK, :n])
    q = cnt[:, bk.QUOTE] / bk.QUOTE_SCALE
    bq = cnt[:, bk.BUYQ] / bk.QUOTE_SCALE
    qty = cnt[:, bk.QTY] / bk.QTY_SCALE
    count = cnt[:, bk.N].astype(np.float64)
    hi, lo = mx[:, bk.HI], -mx[:, bk.NEGLO]
    k = _WINDOW_K
    scale = np.sqrt(k)[:, :, None] * base_sd[None]
    z = _safe_div(np.stack([count, q], axis=1) - k[:, :, None] * base_mu[None], scale)
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
    for name, (sel, rows) in _ROWS.items():
        out[rows] = np.where(gap[sel], np.nan, values[name][sel])
    any_gap: Bools = np.asarray(gap.any(axis=0))
    return any_gap


def _minute_sums(b: Buckets, t: int, minutes: int, fields: list[int]) -> I64:
    """Per-minute sums of ``fields`` over the last ``minutes`` complete minutes:
    (minutes, len(fields), n)."""
    m_cur = t // 60
    slots = np.arange(m_cur - minutes - 1, m_cur) % bk.RM
    cum = b.mcum[np.ix_(slots, np.asarray(fields, dtype=np.int64))][..., : b.n]
    out: I64 = cum[1:] - cum[:-1]
    return out


def _baseline(b: Buckets, t: int) -> tuple[F64, F64, Bools]:
    """Per-minute (count, quote) mean and std over the last complete baseline minutes."""
    sums = _minute_sums(b, t, BASELINE_MINUTES, [bk.N, bk.QUOTE])
    block = sums.astype(np.float64)
    block[:, 1] /= bk.QUOTE_SCALE
    m_cur = t // 60
    gap_cum = b.mcum[[(m_cur - 1) % bk.RM, (m_cur - BASELINE_MINUTES - 1) % bk.RM], bk.GAPC]
    gap = (gap_cum[0] - gap_cum[1])[: b.n] > 0
    return block.mean(axis=0), block.std(axis=0), gap


def _pct_rank(x: F64) -> F64:
    finite = np.isfinite(x)
    vals = np.sort(x[finite])
    out = np.full(x.shape, np.nan)
    if len(vals) >= 2:
        left = np.searchsorted(vals, x[finite], side="left")
        right = np.searchsorted(vals, x[finite], side="right")
        out[finite] = (left + right - 1) / 2.0 / (len(vals) - 1)
    return out


def _xs_z(x: F64) -> F64:
    finite = np.isfinite(x)
    out = np.full(x.shape, np.nan)
    if finite.sum() >= 2:
        sd = x[finite].std()
        if sd > 0:
            out[finite] = (x[finite] - x[finite].mean()) / sd
    return out


def _beta(b: Buckets, t: int, bench: int, cfg: EngineConfig) -> F64:
    """OLS beta of every symbol's 1-minute log returns on the benchmark's."""
    m_cur = t // 60
    slots = np.arange(m_cur - cfg.beta_minutes - 1, m_cur) % bk.RM
    closes = b.mdsec[slots, bk.CPX, : b.n]
    gaps = _minute_sums(b, t, cfg.beta_minutes, [bk.GAPC])[:, 0] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.log(closes[1:] / closes[:-1])
    r[gaps] = np.nan
    y = r[:, bench : bench + 1]
    mask = np.isfinite(r) & np.isfinite(y)
    cnt = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(mask, r, 0.0).sum(axis=0) / cnt
        ym = np.where(mask, y, 0.0).sum(axis=0) / cnt
        dx = np.where(mask, r - xm, 0.0)
        dy = np.where(mask, y - ym, 0.0)
        var_y = (dy * dy).sum(axis=0)
        beta = (dx * dy).sum(axis=0) / var_y
    return np.where((cnt >= cfg.min_beta_points) & (var_y > 0), beta, np.nan)


@dataclass
class TickCache:
    """Per-minute results (baseline statistics, betas): they change only when a minute
    closes or a gap is marked (``Buckets.version``), so recomputing them each tick would
    give the same values."""

    key: tuple[int, int, int] | None = None
    baseline: tuple[F64, F64, Bools] = (np.empty(0), np.empty(0), np.empty(0, dtype=bool))
    beta: F64 | None = None


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
    key = (b.version, n, t // 60)
    if cache.key != key:
        cache.key = key
        cache.baseline = _baseline(b, t)
        cache.beta = _beta(b, t, bench, cfg) if bench >= 0 else None
    base_mu, base_sd, base_gap = cache.baseline
    any_gap = base_gap | _window_features(b, _windows(b, t), base_mu, base_sd, base_gap, out)
    ff = b.ff[:, :n]
    bid, ask, mid = ff[bk.BID], ff[bk.ASK], 0.5 * (ff[bk.BID] + ff[bk.ASK])
    since = {
        "since_event_s": b.last_event[:n],
        "since_trade_s": b.last_trade[:n],
        "since_book_s": b.last_book[:n],
    }
    for name, last in since.items():
        out[FEATURE_INDEX[name]] = np.where(last >= 0, t - last, np.nan)
    out[FEATURE_INDEX["spread_bps"]] = _safe_div(ask - bid, mid) * 1e4
    out[FEATURE_INDEX["book_imb"]] = _safe_div(ff[bk.BIDQ] - ff[bk.ASKQ], ff[bk.BIDQ] + ff[bk.ASKQ])
    out[FEATURE_INDEX["funding_rate"]] = ff[bk.FUND]
    out[FEATURE_INDEX["basis_bps"]] = _safe_div(ff[bk.MARK] - ff[bk.INDEX], ff[bk.INDEX]) * 1e4
    since_event = out[FEATURE_INDEX["since_event_s"]]
    out[FEATURE_INDEX["stale"]] = np.where(since_event > cfg.stale_after_s, 1.0, 0.0)

    rows = order[b.first[order] >= 0]
    v = out[:, rows]
    for w in XS_WINDOWS_S:
        label = WINDOW_LABELS[w]
        qvol = v[FEATURE_INDEX[f"qvol_{label}"]]
        surge = np.log1p(qvol) - np.log1p((w / 60.0) * base_mu[1][rows])
        ret = v[FEATURE_INDEX[f"ret_{label}"]]
        v[FEATURE_INDEX[f"xs_surge_rank_{label}"]] = _pct_rank(surge)
        v[FEATURE_INDEX[f"xs_surge_z_{label}"]] = _xs_z(surge)
        v[FEATURE_INDEX[f"xs_ret_rank_{label}"]] = _pct_rank(ret)
        v[FEATURE_INDEX[f"xs_ret_z_{label}"]] = _xs_z(ret)
    if cache.beta is not None:
        beta = cache.beta[rows]
        v[FEATURE_INDEX["beta_btc"]] = beta
        for w in RELRET_WINDOWS_S:
            ret = out[FEATURE_INDEX[f"ret_{WINDOW_LABELS[w]}"]]
            v[FEATURE_INDEX[f"relret_{WINDOW_LABELS[w]}"]] = ret[rows] - beta * ret[bench]

    values = np.ascontiguousarray(v.T)
    values[np.isinf(values)] = np.nan
    a = t - cfg.cadence_s if prev_t is None else max(prev_t, t - bk.MAX_AHEAD_S)
    tick_mx = _ring_max(b.fmax, a, t, n)
    assert tick_mx is not None
    high, low = tick_mx[bk.HI], -tick_mx[bk.NEGLO]
    prices = np.stack(
        [
            bid,
            ask,
            mid,
            ff[bk.LASTPX],
            np.where(np.isfinite(high), high, np.nan),
            np.where(np.isfinite(low), low, np.nan),
        ],
        axis=1,
    )[rows]
    assert prices.shape[1] == len(PRICE_COLUMNS)
    warm_from = 60 * (t // 60 - max(BASELINE_MINUTES, cfg.beta_minutes) - 1)
    first = b.first[rows]
    return TickFrame(
        ts=ts,
        symbols=[b.names[i] for i in rows.tolist()],
        warm=(first >= 0) & (first <= warm_from),
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
    with np.errstate(invalid="ignore", divide="ignore"):
        return _compute(b, cfg, t, prev_t, order, ts, cache)
