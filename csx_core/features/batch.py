"""The tick function vectorised over time: a run of ticks at once, bit for bit ``compute_tick``.

Offline replay of a sparse market pays numpy's per-call overhead once per tick in
``compute_tick`` (about 0.5 ms for 20 symbols: ~80 k events/s on the simulator). Here the
same expressions run once per run of ticks (up to ``MAX_AHEAD_S`` of them), on arrays with
a leading tick axis:

* every operand is the one the per-tick path would use (``RolledSpan`` holds the state at
  each tick; window sums are exact integer differences; maxima are order-free, so a
  sparse table of per-second maxima gives the same max as the ring slices);
* every float result comes from the same element-wise operation on those operands;
* per-minute terms (baseline, beta) are computed by the per-tick functions themselves,
  once per cache key, exactly as ``TickCache`` would;
* the cross-sectional reductions use ``xs.rank_z_rows`` (same sums, same order).

``tests/test_replay_batch.py`` holds the digests and the tables equal on the simulator
and on the real captures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csx_core.features import buckets as bk
from csx_core.features import tick as tk
from csx_core.features.buckets import F64, I64, Bools, Buckets
from csx_core.features.config import EngineConfig
from csx_core.features.names import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    PRICE_COLUMNS,
    RELRET_WINDOWS_S,
    WINDOW_LABELS,
    WINDOWS_S,
    XS_WINDOWS_S,
)
from csx_core.features.span import RolledSpan
from csx_core.features.tick import TickCache, TickFrame
from csx_core.features.xs import rank_z_rows


@dataclass(frozen=True)
class TickBatch:
    """Consecutive ticks that report the same symbols: ``TickFrame`` with a tick axis.

    ``warm``/``gap``: (ticks, rows); ``prices``: (ticks, rows, ``PRICE_COLUMNS``);
    ``values``: (ticks, rows, ``FEATURE_NAMES``).
    """

    ts: I64
    symbols: list[str]
    warm: Bools
    gap: Bools
    prices: F64
    values: F64

    def __len__(self) -> int:
        return len(self.ts)

    def frames(self) -> list[TickFrame]:
        return [
            TickFrame(
                int(ts),
                list(self.symbols),
                self.warm[i],
                self.gap[i],
                self.prices[i],
                self.values[i],
            )
            for i, ts in enumerate(self.ts.tolist())
        ]


class _SparseMax:
    """Max over any run of seconds from a linear (time-major) copy of the maxima ring:
    level ``k`` holds maxima of ``2**k`` consecutive seconds; two overlapping blocks cover
    any run (max is idempotent and order-free, so the result is the ring slice's)."""

    def __init__(self, b: Buckets, lo: int, hi: int) -> None:
        self.lo = lo
        self.levels = [b.fmax[np.arange(lo, hi) % bk.R1, :, : b.n]]

    def _level(self, k: int) -> F64:
        while len(self.levels) <= k:
            prev, h = self.levels[-1], 1 << (len(self.levels) - 1)
            self.levels.append(np.maximum(prev[:-h], prev[h:]))
        return self.levels[k]

    def query(self, a: I64, b: I64) -> F64:
        """Max over seconds ``[a, b)`` per entry (``b > a``): (len(a), NX, n)."""
        k = np.floor(np.log2(b - a)).astype(np.int64)
        out = np.empty((len(a), *self.levels[0].shape[1:]))
        for kk in np.unique(k).tolist():
            sel = k == kk
            lev = self._level(kk)
            out[sel] = np.maximum(lev[a[sel] - self.lo], lev[b[sel] - (1 << kk) - self.lo])
        return out


def _maxima(b: Buckets, t: I64, m_cur: I64, span_max: _SparseMax) -> F64:
    """Per tick and window, the maxima ``_windows`` builds: (ticks, windows, NX, n)."""
    mx = np.empty((len(t), len(WINDOWS_S), bk.NX, b.n))
    k = 0
    for w in tk._SHORT_W.tolist():
        mx[:, k] = span_max.query(t - w, t)
        k += 1
    minutes, at = np.unique(m_cur, return_inverse=True)
    for w in tk._LONG_M.tolist():
        piece = np.stack(
            [b.mfmax[np.arange(m - w, m) % bk.RM, :, : b.n].max(axis=0) for m in minutes.tolist()]
        )
        np.maximum(mx[:, k - 1], piece[at], out=mx[:, k])
        k += 1
    return mx


@dataclass
class _KeyTerms:
    """Per cache key (see ``TickCache``): what ``_compute`` reads from the cache."""

    base_mu: F64
    base_gap: Bools
    beta: F64 | None
    k_mu: F64
    scale: F64


def _key_terms(b: Buckets, cfg: EngineConfig, t: int, version: int, cache: TickCache) -> _KeyTerms:
    """``_compute``'s cache refresh at tick second ``t`` (``version``: ``Buckets.version``
    then), with the same functions on the same ring state."""
    key = (version, b.n, t // 60)
    if cache.key != key:
        bench = b.index.get(cfg.benchmark_symbol, -1)
        cache.key = key
        cache.baseline = tk._baseline(b, t)
        cache.beta = tk._beta(b, t, bench, cfg) if bench >= 0 else None
        mu, sd = cache.baseline[0], cache.baseline[1]
        cache.z_terms = (
            tk._WINDOW_K[:, :, None] * mu[None],
            np.sqrt(tk._WINDOW_K)[:, :, None] * sd[None],
        )
    return _KeyTerms(cache.baseline[0], cache.baseline[2], cache.beta, *cache.z_terms)


def _window_block(
    b: Buckets,
    t: I64,
    ff: F64,
    liq_seen: Bools,
    terms: list[_KeyTerms],
    at: I64,
    out: F64,
    span_max: _SparseMax,
) -> Bools:
    """``_windows`` + ``_window_features`` for every tick: window features into ``out``
    (ticks x features x symbols); returns the per-tick "some window overlaps a gap" mask."""
    n, m_cur = b.n, t // 60
    end = b.cum[(t - 1) % bk.R1, :, :n]
    before_s = (t[:, None] - tk._SHORT_W - 1) % bk.R1
    before_m = (m_cur[:, None] - tk._LONG_M - 1) % bk.RM
    cnt = np.empty((len(t), len(WINDOWS_S), *end.shape[1:]), dtype=end.dtype)
    short = len(tk._SHORT_W)  # each window's sum straight into its place: no concatenation
    np.subtract(end[:, None], b.cum[before_s, :, :n], out=cnt[:, :short])
    np.subtract(end[:, None], b.mcum[before_m, :, :n], out=cnt[:, short:])
    before = np.concatenate([b.dsec[before_s, :, :n], b.mdsec[before_m, :, :n]], axis=1)
    start_px, start_mid = before[:, :, bk.CPX], before[:, :, bk.CMID]
    mx = _maxima(b, t, m_cur, span_max)
    px, mid = ff[:, bk.LASTPX, None], (0.5 * (ff[:, bk.BID] + ff[:, bk.ASK]))[:, None]
    q = cnt[:, :, bk.QUOTE] / bk.QUOTE_SCALE
    bq = cnt[:, :, bk.BUYQ] / bk.QUOTE_SCALE
    qty = cnt[:, :, bk.QTY] / bk.QTY_SCALE
    count = cnt[:, :, bk.N].astype(np.float64)
    hi, lo = mx[:, :, bk.HI], -mx[:, :, bk.NEGLO]
    k_mu = np.stack([terms[i].k_mu for i in range(len(terms))])[at]
    scale = np.stack([terms[i].scale for i in range(len(terms))])[at]
    base_gap = np.stack([terms[i].base_gap for i in range(len(terms))])[at]
    z = tk._safe_div(np.stack([count, q], axis=2) - k_mu, scale)
    z = np.where(base_gap[:, None, None, :], np.nan, z)
    liq = cnt[:, :, bk.LIQ] / bk.QUOTE_SCALE
    values: dict[str, F64] = {
        "ret": np.log(px / start_px),
        "rvol": np.sqrt(cnt[:, :, bk.R2U] / bk.R2_SCALE),
        "range": np.where(np.isfinite(hi), np.log(hi / lo), np.nan),
        "count": count,
        "qvol": q,
        "count_z": z[:, :, 0],
        "qvol_z": z[:, :, 1],
        "imb": tk._safe_div(2.0 * bq - q, q),
        "maxshare": np.where(cnt[:, :, bk.NK] == 0, tk._safe_div(mx[:, :, bk.MAXQ], q), np.nan),
        "vwapd": np.where(qty > 0, np.log(px / tk._safe_div(q, qty)), np.nan),
        "midchg": np.log(mid / start_mid),
        "liq": np.where(liq_seen[:, None, None], liq, np.nan),
    }
    gap = cnt[:, :, bk.GAPC] > 0
    has_gap = bool(gap.any())
    for name, sel in tk._SEL.items():
        block = values[name]  # each its own array (or view), read by nothing after this
        if has_gap:
            np.copyto(block, np.nan, where=gap)
        out[:, tk._OUT[name]] = block[:, sel]
    any_gap: Bools = gap.any(axis=1) | base_gap
    return any_gap


def _instant(cfg: EngineConfig, t: I64, ff: F64, last: I64, out: F64) -> None:
    mid = 0.5 * (ff[:, bk.BID] + ff[:, bk.ASK])
    out[:, tk._SINCE] = np.where(last >= 0, t[:, None, None] - last, np.nan)
    book = tk._safe_div(
        ff[:, [bk.ASK, bk.BIDQ, bk.MARK]] - ff[:, [bk.BID, bk.ASKQ, bk.INDEX]],
        np.stack([mid, ff[:, bk.BIDQ] + ff[:, bk.ASKQ], ff[:, bk.INDEX]], axis=1),
    )
    book *= tk._BOOK_SCALE
    out[:, FEATURE_INDEX["spread_bps"]] = book[:, 0]
    out[:, FEATURE_INDEX["book_imb"]] = book[:, 1]
    out[:, FEATURE_INDEX["funding_rate"]] = ff[:, bk.FUND]
    out[:, FEATURE_INDEX["basis_bps"]] = book[:, 2]
    since_event = out[:, FEATURE_INDEX["since_event_s"]]
    out[:, FEATURE_INDEX["stale"]] = np.where(since_event > cfg.stale_after_s, 1.0, 0.0)


def _cross_section(
    b: Buckets,
    cfg: EngineConfig,
    m_cur: I64,
    rows: I64,
    first: I64,
    terms: list[_KeyTerms],
    at: I64,
    by_symbol: F64,
) -> tuple[F64, Bools]:
    """Rows ``rows`` of ``by_symbol`` with the cross-sectional features, beta and relative
    returns filled in, laid out as the batch's values: (ticks, rows, features); and the
    warm flags (ticks, rows). The tick block comes as (ticks, symbols, features): rows
    of whole feature vectors are then taken as contiguous blocks, several times faster
    than a gather along the symbol axis of (ticks, features, symbols)."""
    v = np.take(by_symbol, rows, axis=1)
    for w in XS_WINDOWS_S:
        label = WINDOW_LABELS[w]
        base = np.stack(
            [np.log1p((w / 60.0) * terms[i].base_mu[1][rows]) for i in range(len(terms))]
        )
        surge = np.log1p(v[:, :, FEATURE_INDEX[f"qvol_{label}"]]) - base[at]
        rank, z = rank_z_rows(surge)
        v[:, :, FEATURE_INDEX[f"xs_surge_rank_{label}"]] = rank
        v[:, :, FEATURE_INDEX[f"xs_surge_z_{label}"]] = z
        rank, z = rank_z_rows(v[:, :, FEATURE_INDEX[f"ret_{label}"]])
        v[:, :, FEATURE_INDEX[f"xs_ret_rank_{label}"]] = rank
        v[:, :, FEATURE_INDEX[f"xs_ret_z_{label}"]] = z
    bench = b.index.get(cfg.benchmark_symbol, -1)
    if terms[0].beta is not None:
        beta = np.stack([terms[i].beta[rows] for i in range(len(terms))])[at]  # type: ignore[index]
        v[:, :, FEATURE_INDEX["beta_btc"]] = beta
        for w in RELRET_WINDOWS_S:
            ret = by_symbol[:, :, FEATURE_INDEX[f"ret_{WINDOW_LABELS[w]}"]]
            v[:, :, FEATURE_INDEX[f"relret_{WINDOW_LABELS[w]}"]] = (
                ret[:, rows] - beta * ret[:, bench, None]
            )
    warm_from = 60 * (m_cur - cfg.warm_minutes - 1)
    f = first[:, rows]
    warm: Bools = (f >= 0) & (f <= warm_from[:, None])
    return v, warm


def compute_ticks(
    b: Buckets,
    cfg: EngineConfig,
    ts: I64,
    prev_t: int | None,
    order: I64,
    cache: TickCache,
    span: RolledSpan,
) -> list[TickBatch]:
    """``compute_tick`` for every tick ``ts`` (ns, increasing, all within ``span``), after
    ``roll_span`` and before ``clear_span``; one ``TickBatch`` per set of reported rows."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _compute_ticks(b, cfg, ts, prev_t, order, cache, span)


def _compute_ticks(
    b: Buckets,
    cfg: EngineConfig,
    ts: I64,
    prev_t: int | None,
    order: I64,
    cache: TickCache,
    span: RolledSpan,
) -> list[TickBatch]:
    n, t = b.n, ts // bk.SEC
    i = t - span.start
    ff, last, first = span.ff[i], span.last[i], span.first[i]
    m_cur = t // 60
    version = span.version[i]
    change = np.flatnonzero(np.r_[True, (version[1:] != version[:-1]) | (m_cur[1:] != m_cur[:-1])])
    terms = [_key_terms(b, cfg, int(t[k]), int(version[k]), cache) for k in change.tolist()]
    at = np.cumsum(np.isin(np.arange(len(t)), change)) - 1
    lo = int(t[0]) - int(tk._SHORT_W.max())
    if not cfg.bar_cadence:  # the tick interval's maxima come from the second ring too
        a0 = (
            int(t[0]) - cfg.cadence_s if prev_t is None else max(prev_t, int(t[0]) - bk.MAX_AHEAD_S)
        )
        a = np.r_[a0, np.maximum(t[:-1], t[1:] - bk.MAX_AHEAD_S)]
        lo = min(a0, lo)
    span_max = _SparseMax(b, lo, int(t[-1]))
    out = np.full((len(t), len(FEATURE_NAMES), n), np.nan)
    any_gap = _window_block(b, t, ff, span.liq_seen[i], terms, at, out, span_max)
    _instant(cfg, t, ff, last, out)
    if cfg.bar_cadence:  # whole minutes: the minute ring, one tick at a time
        prevs = [prev_t, *t[:-1].tolist()]
        tick_mx = np.stack(
            [tk.interval_max(b, cfg, x, p) for x, p in zip(t.tolist(), prevs, strict=True)]
        )
    else:
        tick_mx = span_max.query(a, t)
    px = np.empty((len(t), len(PRICE_COLUMNS), n))
    px[:, 0], px[:, 1], px[:, 3] = ff[:, bk.BID], ff[:, bk.ASK], ff[:, bk.LASTPX]
    px[:, 2] = 0.5 * (ff[:, bk.BID] + ff[:, bk.ASK])
    px[:, 4], px[:, 5] = tick_mx[:, bk.HI], -tick_mx[:, bk.NEGLO]
    high_low = px[:, 4:]
    high_low[~np.isfinite(high_low)] = np.nan
    active = (first[:, order] >= 0).sum(axis=1)
    bounds = np.flatnonzero(np.r_[True, active[1:] != active[:-1], True])
    by_symbol = np.ascontiguousarray(out.transpose(0, 2, 1))
    batches = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = order[first[lo, order] >= 0]
        g = slice(lo, hi)
        values, warm = _cross_section(b, cfg, m_cur[g], rows, first[g], terms, at[g], by_symbol[g])
        values[np.isinf(values)] = np.nan
        batches.append(
            TickBatch(
                ts=ts[g],
                symbols=[b.names[r] for r in rows.tolist()],
                warm=warm,
                gap=any_gap[g][:, rows],
                prices=np.ascontiguousarray(px[g].transpose(0, 2, 1)[:, rows]),
                values=values,
            )
        )
    return batches
