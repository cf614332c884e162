"""The tick function vectorised over time: a run of ticks at once, bit for bit ``compute_tick``.

Offline replay of a sparse market pays numpy's per-call overhead once per tick in
``compute_tick`` (about 0.5 ms for 20 symbols: ~80 k events/s on the simulator). Here the
same expressions run once per run of ticks (up to ``MAX_AHEAD_S`` of them), on arrays with
a leading tick axis:

* every operand is the one the per-tick path would use (``RolledSpan`` holds the state at
  each tick; window sums are exact integer differences; maxima are order-free, so
  growing a max second by second gives the ring slices' max);
* every float result comes from the same element-wise operation on those operands, in
  numpy or in the compiled loops of ``kernels`` (exactly rounded operations only; the
  logarithms stay numpy's);
* per-minute terms (baseline, beta) come from the per-tick path's own function,
  ``tick.minute_terms``, for every cache key of a run in one call;
* the cross-sectional reductions sum in numpy's pairwise order (``kernels._pairwise_sum``).

``tests/test_replay_batch.py`` holds the digests and the tables equal on the simulator
and on the real captures.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from csx_core.features import buckets as bk
from csx_core.features import tick as tk
from csx_core.features.buckets import F64, I64, Bools, Buckets
from csx_core.features.config import EngineConfig
from csx_core.features.names import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    INSTANT,
    PER_WINDOW,
    PRICE_COLUMNS,
    RELRET_WINDOWS_S,
    WINDOW_LABELS,
    WINDOWS_S,
    XS_WINDOWS_S,
    Z_FEATURES,
)
from csx_core.features.span import RolledSpan
from csx_core.features.tick import MinuteTerms, TickCache, TickFrame, minute_terms


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


def _minute_terms(
    b: Buckets, cfg: EngineConfig, t: I64, version: I64, cache: TickCache
) -> MinuteTerms:
    """``cache.refresh`` at each tick second ``t`` (``version``: ``Buckets.version`` then),
    one key each, all in one pass; a first key that is the cache's takes the cache's
    terms. The cache ends on the last key, as after ticking them one by one."""
    keys = [(v, b.n, x // 60) for x, v in zip(t.tolist(), version.tolist(), strict=True)]
    cached = cache.terms if cache.key == keys[0] else None
    fresh = t[1:] if cached is not None else t
    terms = minute_terms(b, cfg, fresh) if len(fresh) else None
    if cached is not None:
        terms = cached if terms is None else cached.concat(terms)
    assert terms is not None
    cache.key, cache.terms = keys[-1], terms.take(slice(len(keys) - 1, None))
    return terms


def _kernels() -> ModuleType:
    """The compiled loops, imported on first use: numba's import alone takes most of a
    second, which the live path (per tick, no kernels) should not pay."""
    from csx_core.features import kernels

    return kernels


def load_kernels() -> None:
    """Import the compiled loops and load their machine code now (about a second: numba's
    import, then its cache), e.g. in a thread while a process starts, rather than in its
    first ``tick_many``."""
    _kernels().warm_up()


def _window_index() -> I64:
    """Column of per-window feature ``f`` (``PER_WINDOW`` order) in window ``k``: (f, k),
    -1 where the feature has no such window (only the z-scores of the long windows)."""
    index = np.full((len(PER_WINDOW), len(WINDOWS_S)), -1, dtype=np.int64)
    for f, name in enumerate(PER_WINDOW):
        for k, w in enumerate(WINDOWS_S):
            index[f, k] = FEATURE_INDEX.get(f"{name}_{WINDOW_LABELS[w]}", -1)
    missing = {PER_WINDOW[f] for f in np.flatnonzero((index < 0).any(axis=1)).tolist()}
    assert missing <= Z_FEATURES, f"only z-scores may lack a window: {missing}"
    return index


_WINDOW_INDEX = _window_index()
_INSTANT_INDEX = np.array([FEATURE_INDEX[name] for name in INSTANT], dtype=np.int64)
_OTHER_INDEX = np.setdiff1d(
    np.arange(len(FEATURE_NAMES)), np.r_[_WINDOW_INDEX[_WINDOW_INDEX >= 0], _INSTANT_INDEX]
)


_XS_RET_INDEX = np.array([FEATURE_INDEX[f"ret_{WINDOW_LABELS[w]}"] for w in XS_WINDOWS_S])
_XS_INDEX = np.array(
    [
        [
            FEATURE_INDEX[f"xs_{kind}_{label}"]
            for kind in ("surge_rank", "surge_z", "ret_rank", "ret_z")
        ]
        for label in (WINDOW_LABELS[w] for w in XS_WINDOWS_S)
    ]
)
_RELRET_INDEX = np.array(
    [
        [FEATURE_INDEX[f"{kind}_{WINDOW_LABELS[w]}"] for kind in ("ret", "relret")]
        for w in RELRET_WINDOWS_S
    ]
)


def _tick_block(
    b: Buckets,
    cfg: EngineConfig,
    t: I64,
    ff: F64,
    last: I64,
    liq_seen: Bools,
    terms: MinuteTerms,
    at: I64,
    mx: F64,
    dest: I64,
) -> tuple[F64, Bools]:
    """``_windows`` + ``_window_features`` and the instant features of every tick (``mx``:
    the windows' maxima), laid out (ticks, symbols, features) with the cross-sectional
    columns NaN; and the per-tick "some window overlaps a gap" mask (ticks, symbols). Symbol
    ``s`` goes to position ``dest[s]`` of the symbol axis."""
    n, kn = b.n, _kernels()
    logs = np.empty((kn.NLOG, len(t), len(WINDOWS_S), n))
    kn.window_log_args(t, b.cum, b.mcum, b.dsec, b.mdsec, tk._SHORT_W, tk._LONG_M, ff, mx, logs)
    np.log(logs, out=logs)  # numpy's log, as in the per-tick path (see ``kernels``)
    out = np.empty((len(t), n, len(FEATURE_NAMES)))
    any_gap = np.empty((len(t), n), dtype=bool)
    kn.window_features(
        t,
        b.cum,
        b.mcum,
        tk._SHORT_W,
        tk._LONG_M,
        ff,
        last,
        mx,
        logs,
        terms.k_mu,
        terms.scale,
        terms.base_gap,
        at,
        liq_seen,
        float(cfg.stale_after_s),
        _WINDOW_INDEX,
        _INSTANT_INDEX,
        _OTHER_INDEX,
        dest,
        out,
        any_gap,
    )
    return out, any_gap


def _cross_section(
    b: Buckets,
    cfg: EngineConfig,
    m_cur: I64,
    rows: I64,
    first: I64,
    terms: MinuteTerms,
    at: I64,
    by_symbol: F64,
    dest: I64,
) -> tuple[F64, Bools]:
    """Symbols ``rows`` of ``by_symbol`` (ticks, symbols at their ``dest`` positions,
    features) with the cross-sectional features, beta and relative returns filled in,
    laid out as the batch's values: (ticks, rows, features), in place when ``rows`` are
    every symbol; and the warm flags (ticks, rows). The volume surges'
    ``log1p`` is numpy's, on a contiguous block as in the per-tick path; the rest is
    ``kernels.cross_section``."""
    pos = dest[rows]  # increasing: ``rows`` and ``dest`` are both in symbol-name order
    surge = np.empty((len(at), len(XS_WINDOWS_S), len(rows)))
    for k, w in enumerate(XS_WINDOWS_S):
        base = np.log1p((w / 60.0) * terms.base_mu[:, 1, rows])
        qvol = np.ascontiguousarray(by_symbol[:, pos, FEATURE_INDEX[f"qvol_{WINDOW_LABELS[w]}"]])
        surge[:, k] = np.log1p(qvol) - base[at]  # numpy's log1p, as in the per-tick path
    beta = np.empty((len(terms.base_mu), 0)) if terms.beta is None else terms.beta[:, rows]
    every = len(rows) == by_symbol.shape[1]
    v = by_symbol if every else np.empty((len(at), len(rows), len(FEATURE_NAMES)))
    bench = b.index.get(cfg.benchmark_symbol, -1)
    _kernels().cross_section(
        by_symbol,
        pos,
        surge,
        _XS_RET_INDEX,
        _XS_INDEX,
        beta,
        FEATURE_INDEX["beta_btc"],
        int(dest[bench]) if bench >= 0 else -1,
        _RELRET_INDEX,
        at,
        not every,
        v,
    )
    warm_from = 60 * (m_cur - cfg.warm_minutes - 1)
    f = first[:, rows]
    warm: Bools = (f >= 0) & (f <= warm_from[:, None])
    return v, warm


def _prices(ff: F64, tick_mx: F64, rows: I64) -> F64:
    out = np.empty((len(ff), len(rows), len(PRICE_COLUMNS)))
    _kernels().tick_prices(ff, tick_mx, rows, out)
    return out


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
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
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
    i: I64 | slice = t - span.start
    if t[-1] - t[0] == len(t) - 1:  # every second ticks: views, not copies
        i = slice(int(t[0] - span.start), int(t[-1] - span.start) + 1)
    ff, last, first = span.ff[i], span.last[i], span.first[i]
    m_cur = t // 60
    version = span.version[i]
    change = np.flatnonzero(np.r_[True, (version[1:] != version[:-1]) | (m_cur[1:] != m_cur[:-1])])
    terms = _minute_terms(b, cfg, t[change], version[change], cache)
    at = np.cumsum(np.isin(np.arange(len(t)), change)) - 1
    a = np.empty(0, dtype=np.int64)  # the tick intervals' starts, for the second ring's maxima
    if not cfg.bar_cadence:
        a0 = (
            int(t[0]) - cfg.cadence_s if prev_t is None else max(prev_t, int(t[0]) - bk.MAX_AHEAD_S)
        )
        a = np.r_[a0, np.maximum(t[:-1], t[1:] - bk.MAX_AHEAD_S)]
    mx = np.empty((len(t), len(WINDOWS_S), bk.NX, n))
    tick_mx = np.empty((len(a), bk.NX, n))
    _kernels().window_maxima(t, b.fmax, b.mfmax, n, tk._SHORT_W, tk._LONG_M, a, mx, tick_mx)
    dest = np.empty(n, dtype=np.int64)  # each symbol's position in name order
    dest[order] = np.arange(n)
    by_symbol, any_gap = _tick_block(b, cfg, t, ff, last, span.liq_seen[i], terms, at, mx, dest)
    if cfg.bar_cadence:  # whole minutes: the minute ring, one tick at a time
        prevs = [prev_t, *t[:-1].tolist()]
        tick_mx = np.stack(
            [tk.interval_max(b, cfg, x, p) for x, p in zip(t.tolist(), prevs, strict=True)]
        )
    active = (first[:, order] >= 0).sum(axis=1)
    bounds = np.flatnonzero(np.r_[True, active[1:] != active[:-1], True])
    batches = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = order[first[lo, order] >= 0]
        g = slice(lo, hi)
        values, warm = _cross_section(
            b, cfg, m_cur[g], rows, first[g], terms, at[g], by_symbol[g], dest
        )
        batches.append(
            TickBatch(
                ts=ts[g],
                symbols=[b.names[r] for r in rows.tolist()],
                warm=warm,
                gap=any_gap[g][:, dest[rows]],
                prices=_prices(ff[g], tick_mx[g], rows),
                values=values,
            )
        )
    return batches
