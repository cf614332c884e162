"""The feature vocabulary: names, order, version, and what each one means.

Bump ``FEATURE_VERSION`` on any change to a name, the order, a definition or a default of
``EngineConfig`` that changes values: models record it and refuse vectors of another version.

Windows (``WINDOWS_S``): 10 s, 1 min, 5 min, 15 min, 1 h. A window of ``w`` seconds at tick
``T`` (seconds, the snapshot sees events with ``ts_event < T``) covers

* ``w < 300``: the seconds ``[T - w, T)`` exactly;
* ``w >= 300``: the last ``w / 60`` complete UTC minutes plus the current partial minute,
  i.e. ``[60 * (T // 60) - w, T)`` (between ``w`` and ``w + 59`` seconds long). Long
  windows are summed from per-minute aggregates, which keeps a 500-symbol tick cheap.

Per window ``<w>`` (suffix ``10s``, ``1m``, ``5m``, ``15m``, ``1h``):

* ``ret_<w>``: log return of the last trade price (forward filled) over the window.
* ``rvol_<w>``: realised volatility, ``sqrt(sum r_s^2)`` of 1-second log returns (not annualised).
* ``range_<w>``: ``log(high / low)`` of trade prices in the window.
* ``count_<w>``: number of trades; ``qvol_<w>``: traded quote volume (USDT).
* ``count_z_<w>``, ``qvol_z_<w>`` (windows shorter than the baseline only): z-score against
  the per-minute mean and standard deviation over the last ``baseline_minutes`` complete
  minutes, scaled to the window (``(x - k mu) / (sqrt(k) sigma)``, ``k = w / 60``).
* ``imb_<w>``: taker imbalance ``(buy - sell) / (buy + sell)`` in quote volume, in [-1, 1].
* ``maxshare_<w>``: largest single trade's quote / window quote volume (NaN when klines fed
  the window: a bar hides its trades).
* ``vwapd_<w>``: ``log(last / VWAP)``.
* ``midchg_<w>``: log change of the book mid over the window.
* ``liq_<w>``: liquidated quote volume (USDT); NaN until any forceOrder event was seen.

Instant features: ``spread_bps`` (ask - bid over mid, bps), ``book_imb`` (bid qty - ask qty
over their sum, top of book), ``funding_rate`` (fraction per funding interval), ``basis_bps``
(mark over index, bps), ``since_event_s`` / ``since_trade_s`` / ``since_book_s`` (seconds since
the start of the last second with such an event), ``stale`` (1.0 when ``since_event_s`` exceeds
``EngineConfig.stale_after_s``).

Cross-sectional, over every symbol in the tick: ``xs_surge_rank_<w>`` / ``xs_surge_z_<w>``
(percentile rank in [0, 1] and z-score of the volume surge ``log1p(qvol) - log1p(k mu)``),
``xs_ret_rank_<w>`` / ``xs_ret_z_<w>`` (same for ``ret_<w>``), for ``w`` in 1m and 5m.
``beta_btc``: OLS beta of the symbol's 1-minute returns on the benchmark's over the last
``beta_minutes`` complete minutes; ``relret_<w>`` = ``ret_<w> - beta * ret_<w>(benchmark)`` for
1m, 5m and 15m.

NaN means "cannot be computed from the data at hand": no trades, no book, no mark price,
too few points, or the window overlaps a data gap (every ``*_<w>`` feature of a window
that overlaps a gap is NaN and the snapshot has ``gap=True``).
"""

from __future__ import annotations

FEATURE_VERSION = "fe-1"

WINDOWS_S: tuple[int, ...] = (10, 60, 300, 900, 3600)
WINDOW_LABELS: dict[int, str] = {10: "10s", 60: "1m", 300: "5m", 900: "15m", 3600: "1h"}
BASELINE_MINUTES = 60
XS_WINDOWS_S: tuple[int, ...] = (60, 300)
RELRET_WINDOWS_S: tuple[int, ...] = (60, 300, 900)

PER_WINDOW: tuple[str, ...] = (
    "ret",
    "rvol",
    "range",
    "count",
    "qvol",
    "count_z",
    "qvol_z",
    "imb",
    "maxshare",
    "vwapd",
    "midchg",
    "liq",
)
Z_FEATURES = frozenset({"count_z", "qvol_z"})

INSTANT: tuple[str, ...] = (
    "spread_bps",
    "book_imb",
    "funding_rate",
    "basis_bps",
    "since_event_s",
    "since_trade_s",
    "since_book_s",
    "stale",
)

PRICE_COLUMNS: tuple[str, ...] = ("px_bid", "px_ask", "px_mid", "px_last", "px_high", "px_low")
"""Reference prices in the wide table (not model features): last known top of book at the
tick, last trade price, and high/low of trades within the tick interval (NaN if none)."""


def window_feature_names(window_s: int) -> list[str]:
    label = WINDOW_LABELS[window_s]
    return [
        f"{f}_{label}"
        for f in PER_WINDOW
        if not (f in Z_FEATURES and window_s >= BASELINE_MINUTES * 60)
    ]


def _names() -> tuple[str, ...]:
    names: list[str] = []
    for w in WINDOWS_S:
        names += window_feature_names(w)
    names += INSTANT
    for w in XS_WINDOWS_S:
        label = WINDOW_LABELS[w]
        names += [
            f"xs_surge_rank_{label}",
            f"xs_surge_z_{label}",
            f"xs_ret_rank_{label}",
            f"xs_ret_z_{label}",
        ]
    names.append("beta_btc")
    names += [f"relret_{WINDOW_LABELS[w]}" for w in RELRET_WINDOWS_S]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _names()
FEATURE_INDEX: dict[str, int] = {n: i for i, n in enumerate(FEATURE_NAMES)}
