"""Live outcome resolution: every prediction made at tick t is labelled at t+H with exactly
the label of ``csx_core.ml.labels.label_features`` (same cost model, horizon, threshold,
tick, the same drop rule), streaming, and fed into per-role rolling metrics.

Streaming equals batch because both work on each symbol's own row sequence: the batch label
of row i looks at the symbol's next ``n = H / tick`` rows and drops the row when any of them
is "bad" (a step other than one tick from the symbol's previous row, a ``gap`` flag, a
non-finite mid). Here every symbol has a row counter ``r``; a prediction made at row ``r0``
sits in ring slot ``r0 mod n`` and is resolved when row ``r0 + n`` arrives — it is valid iff
the symbol's last bad row is ``<= r0``. The forward high (and the negated low) over rows
``r0+1 .. r0+n`` (``extremes``) is the van Herk / Gil-Werman split of ``forward_window_max`` run
online: the running max of the current block of ``n`` rows and the suffix maxima of the
previous block, computed once per block; max is exact, so values are bit-identical.

A prediction is dropped (counted, never guessed) when its window meets a bad row, when its
symbol misses a tick (the next row is then necessarily bad, so pending rows are dropped at
once), or when the book at t gives no finite cost or ``mid <= 0``.
State is O(symbols × n) arrays, with a cap on symbols (``max_symbols``, counted).
Time is the tick ``ts`` (ns) the caller passes; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from csx_core.features import FEATURE_INDEX, PRICE_COLUMNS, TickFrame
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import NS_PER_S
from csx_core.ml.labels import LabelConfig
from csx_core.ml.policy import barrier_outcomes
from csx_core.outcomes.extremes import ForwardExtremes, grown
from csx_core.outcomes.predictions import PredictionBatch
from csx_core.outcomes.window import LiveMetrics, RollingOutcomes

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
Bools = npt.NDArray[np.bool_]

_BID, _ASK, _MID = (PRICE_COLUMNS.index(c) for c in ("px_bid", "px_ask", "px_mid"))
_HIGH, _LOW = PRICE_COLUMNS.index("px_high"), PRICE_COLUMNS.index("px_low")
_NEVER = np.iinfo(np.int64).min // 2


@dataclass(frozen=True, kw_only=True)
class ResolverConfig:
    """``window_s``: rolling metrics window (tick time); ``max_window_rows``: row cap of
    each role's window; ``top_k``: K used when a batch brings no top-K mask;
    ``max_symbols``/``max_roles``: state caps."""

    window_s: int = 3600
    max_window_rows: int = 2_000_000
    top_k: int = 10
    ece_bins: int = 10
    max_symbols: int = 4096
    max_roles: int = 4

    def __post_init__(self) -> None:
        for name in ("window_s", "max_window_rows", "top_k", "ece_bins", "max_symbols"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.max_roles <= 0:
            raise ValueError("max_roles must be > 0")


def label_values(
    mid: F64,
    fwd_high: F64,
    fwd_low: F64,
    cost_bps: F64,
    end_mid: F64,
    threshold_bps: float,
    stop_bps: float | None = None,
) -> dict[str, F64 | I8 | Bools]:
    """The label columns of ``label_features`` from the window extremes (same expressions,
    same order, so the floats are identical). The label policy's outcomes need the path
    inside the window when the label has a stop, which is not kept here: NaN then."""
    mfe_long = np.maximum((fwd_high - mid) / mid * 1e4, 0.0)
    mae_long = np.maximum((mid - fwd_low) / mid * 1e4, 0.0)
    mfe_short, mae_short = mae_long, mfe_long
    net_best = np.maximum(mfe_long, mfe_short) - cost_bps
    fwd_ret = (end_mid - mid) / mid * 1e4
    if stop_bps is None:
        policy = barrier_outcomes(
            mfe_long_bps=mfe_long,
            mfe_short_bps=mfe_short,
            cost_bps=cost_bps,
            fwd_ret_bps=fwd_ret,
            threshold_bps=threshold_bps,
        )
        long_bps, short_bps = policy.long_bps, policy.short_bps
    else:
        long_bps = short_bps = np.full(len(mid), np.nan)
    return {
        "mfe_long_bps": mfe_long,
        "mae_long_bps": mae_long,
        "mfe_short_bps": mfe_short,
        "mae_short_bps": mae_short,
        "direction": np.where(mfe_long >= mfe_short, 1, -1).astype(np.int8),
        "cost_bps": cost_bps,
        "net_best_bps": net_best,
        "fwd_ret_bps": fwd_ret,
        "in_play": net_best > threshold_bps,
        "policy_long_bps": long_bps,
        "policy_short_bps": short_bps,
    }


@dataclass(frozen=True)
class Resolved:
    """One role's predictions resolved at tick ``ts`` (made at ``ts − H``): the prediction
    (``p``, ``predicted_direction``, ``top_k``) beside its label columns (``labels``: the
    ``LABEL_COLUMNS`` of ``label_features`` except ``label_end_ts``, which is ``ts``)."""

    role: str
    model_id: str
    ts: int
    symbols: list[str]
    p: F64
    predicted_direction: I8
    top_k: Bools
    labels: dict[str, F64 | I8 | Bools]

    @property
    def in_play(self) -> Bools:
        out: Bools = np.asarray(self.labels["in_play"], dtype=bool)
        return out


@dataclass
class _Role:
    p: F64
    direction: I8
    top_k: Bools
    pending: I64
    window: RollingOutcomes
    model_id: str = ""
    resolved_total: int = 0
    dropped_window: int = 0
    dropped_at_t: int = 0


@dataclass
class _State:
    """Per-symbol columns: row counter, last row ts, last bad row, last tick seen, position
    in the current tick; mid and cost at decision time per ring slot (symbols, n)."""

    n: int
    cap: int
    row: I64 = field(init=False)
    last_ts: I64 = field(init=False)
    last_bad: I64 = field(init=False)
    seen_ts: I64 = field(init=False)
    pos: I64 = field(init=False)
    mid0: F64 = field(init=False)
    cost0: F64 = field(init=False)

    def __post_init__(self) -> None:
        self.row = np.full(self.cap, -1, np.int64)
        self.last_ts = np.full(self.cap, _NEVER, np.int64)
        self.last_bad = np.full(self.cap, -1, np.int64)
        self.seen_ts = np.full(self.cap, _NEVER, np.int64)
        self.pos = np.zeros(self.cap, np.int64)
        self.mid0 = np.full((self.cap, self.n), np.nan)
        self.cost0 = np.full((self.cap, self.n), np.nan)


class OutcomeResolver:
    """Resolve every role's predictions at t+H and keep rolling live metrics per role.

    Call :meth:`on_frame` (or :meth:`on_tick`) once per tick, in strictly increasing tick
    time, with the prices of **every** symbol of the tick (rows the scorer skipped too: a
    missing row is a missing tick for the label) and that tick's prediction batches.
    """

    def __init__(
        self, cost: CostModel, labels: LabelConfig, config: ResolverConfig | None = None
    ) -> None:
        self.cost = cost
        self.labels = labels
        self.config = config or ResolverConfig()
        self.n = labels.horizon_ticks
        self.tick_ns = labels.tick_s * NS_PER_S
        self._st = _State(self.n, 64)
        self._ext = ForwardExtremes(self.n, 64)
        self._index: dict[str, int] = {}
        self._names: list[str] = []
        self._roles: dict[str, _Role] = {}
        self._last_symbols: list[str] = []
        self._last_cols: I64 = np.empty(0, np.int64)
        self._tick_symbols: Sequence[str] = ()
        self.last_ts: int | None = None
        self.symbols_rejected = 0
        self.ticks = 0

    # -- inputs ----------------------------------------------------------------------------
    def on_frame(
        self, frame: TickFrame, predictions: Sequence[PredictionBatch] = ()
    ) -> list[Resolved]:
        """A feature-engine tick (its ``gap`` flags and price columns; the label's volume
        feature, when configured, from its values)."""
        volume = None
        if self.labels.volume_feature is not None:
            volume = frame.values[:, FEATURE_INDEX[self.labels.volume_feature]]
        return self.on_tick(
            frame.ts, frame.symbols, frame.prices, frame.gap, predictions, volume=volume
        )

    def on_tick(
        self,
        ts: int,
        symbols: Sequence[str],
        prices: F64,
        gap: Bools,
        predictions: Sequence[PredictionBatch] = (),
        *,
        volume: F64 | None = None,
    ) -> list[Resolved]:
        """``prices``: rows × ``PRICE_COLUMNS`` aligned with ``symbols``; ``gap``: the
        frame's gap flags; ``volume``: the label's volume feature per row (only when
        ``LabelConfig.volume_feature`` is set). Returns what resolved at this tick, per role
        (roles with nothing resolved are left out)."""
        if self.last_ts is not None and ts <= self.last_ts:
            raise ValueError(f"tick ts {ts} is not after the previous tick {self.last_ts}")
        if self.labels.volume_feature is None:
            volume = None
        elif volume is None:
            raise ValueError(f"the label prices impact from {self.labels.volume_feature!r}")
        self.last_ts = ts
        self.ticks += 1
        cols, rows = self._columns(symbols)
        st = self._st
        px = np.asarray(prices, dtype=np.float64)[rows]
        with np.errstate(invalid="ignore"):
            mid = px[:, _MID]
            hi = np.fmax(px[:, _HIGH], mid)
            lo = np.fmin(px[:, _LOW], mid)
        hi = np.where(np.isfinite(hi), hi, -np.inf)
        nlo = np.where(np.isfinite(lo), -lo, -np.inf)
        bad = (st.last_ts[cols] != ts - self.tick_ns) | np.asarray(gap, bool)[rows]
        bad |= ~np.isfinite(mid)
        self._drop_absent(ts, cols)
        st.last_ts[cols] = ts
        st.seen_ts[cols] = ts
        st.pos[cols] = np.arange(len(cols))
        row = st.row[cols] + 1
        st.row[cols] = row
        st.last_bad[cols[bad]] = row[bad]
        self._drop_pending(cols[bad])
        j = row % self.n
        self._ext.push(cols, j, hi, nlo)
        out = self._resolve(ts, cols, j, row, mid)
        for role in self._roles.values():
            role.p[cols, j] = np.nan
        book = (px[:, _BID], px[:, _ASK], mid)
        vol = None if volume is None else np.asarray(volume, dtype=np.float64)[rows]
        for batch in predictions:
            self._store(batch, ts, j, book, vol)
        for role in self._roles.values():
            role.window.evict(ts)
        return out

    # -- outputs ---------------------------------------------------------------------------
    def accepts(self, cost: CostModel, labels: LabelConfig) -> bool:
        """Whether a model trained with ``cost``/``labels`` is judged by this resolver's
        label (otherwise it needs a resolver of its own)."""
        return cost.version == self.cost.version and labels == self.labels

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._roles)

    def pending(self, role: str) -> int:
        r = self._roles.get(role)
        return 0 if r is None else int(r.pending.sum())

    def metrics(self, role: str) -> LiveMetrics:
        """The role's rolling metrics (NaN ratios, zero counts for an unknown role). Costs a
        sort of the window when it changed since the last call (see :meth:`metrics_job`)."""
        return self.metrics_job(role)()

    def metrics_job(self, role: str) -> Callable[[], LiveMetrics]:
        """Capture the role's counters and window now (cheap); the returned function does the
        heavy part and touches no resolver state, so it may run in a worker thread
        (``await asyncio.to_thread(job)``) while ticks go on."""
        r = self._roles.get(role)
        if r is None:
            r = _Role(
                np.empty((0, 0)),
                np.empty((0, 0), np.int8),
                np.empty((0, 0), bool),
                np.empty(0, np.int64),
                RollingOutcomes(window_s=self.config.window_s, max_rows=1),
            )
        snap = r.window.snapshot()
        model_id, ts, window_s = r.model_id, self.last_ts or 0, self.config.window_s
        totals = (r.resolved_total, r.dropped_window, r.dropped_at_t, int(r.pending.sum()))
        trimmed = r.window.trimmed_total

        def job() -> LiveMetrics:
            s = snap.summary()
            return LiveMetrics(
                role=role,
                model_id=model_id,
                ts=ts,
                window_s=window_s,
                count=int(s["count"]),
                brier=float(s["brier"]),
                ece=float(s["ece"]),
                base_rate=float(s["base_rate"]),
                mean_p=float(s["mean_p"]),
                topk_count=int(s["topk_count"]),
                topk_hit_rate=float(s["topk_hit_rate"]),
                direction_hit_rate=float(s["direction_hit_rate"]),
                resolved_total=totals[0],
                dropped_window=totals[1],
                dropped_at_t=totals[2],
                pending=totals[3],
                trimmed_total=trimmed,
            )

        return job

    def gauges(self) -> dict[str, dict[str, float]]:
        """``{role: {prometheus metric name: value}}`` for every role seen so far."""
        return {role: self.metrics(role).to_gauges() for role in self._roles}

    # -- internals -------------------------------------------------------------------------
    def _columns(self, symbols: Sequence[str]) -> tuple[I64, I64]:
        """State column and input row of every accepted symbol of the tick."""
        self._tick_symbols = symbols
        if list(symbols) != self._last_symbols:
            if len(set(symbols)) != len(symbols):
                raise ValueError("a symbol appears twice in one tick")
            found = [self._column(s) for s in symbols]
            self._last_symbols = list(symbols)
            self._last_cols = np.array(found, dtype=np.int64)
        cols = self._last_cols
        ok = cols >= 0
        if ok.all():
            return cols, np.arange(len(cols), dtype=np.int64)
        self.symbols_rejected += int((~ok).sum())
        return cols[ok], np.flatnonzero(ok).astype(np.int64)

    def _column(self, symbol: str) -> int:
        col = self._index.get(symbol)
        if col is not None:
            return col
        if len(self._names) >= self.config.max_symbols:
            return -1
        col = len(self._names)
        self._index[symbol] = col
        self._names.append(symbol)
        if col >= self._st.cap:
            self._grow(2 * self._st.cap)
        return col

    def _grow(self, cap: int) -> None:
        old = self._st
        new = _State(self.n, cap)
        for name in vars(new):
            if name not in ("n", "cap"):
                setattr(new, name, grown(getattr(old, name), cap, getattr(new, name).flat[0]))
        self._st = new
        self._ext.grow(cap)
        for r in self._roles.values():
            r.p = grown(r.p, cap, np.nan)
            r.direction = grown(r.direction, cap, 0)
            r.top_k = grown(r.top_k, cap, False)
            r.pending = grown(r.pending, cap, 0)

    def _role(self, name: str) -> _Role:
        r = self._roles.get(name)
        if r is None:
            if len(self._roles) >= self.config.max_roles:
                raise ValueError(f"more than {self.config.max_roles} roles: {name!r}")
            cap, n = self._st.cap, self.n
            window = RollingOutcomes(
                window_s=self.config.window_s,
                max_rows=self.config.max_window_rows,
                ece_bins=self.config.ece_bins,
            )
            r = _Role(
                np.full((cap, n), np.nan),
                np.zeros((cap, n), np.int8),
                np.zeros((cap, n), bool),
                np.zeros(cap, np.int64),
                window,
            )
            self._roles[name] = r
        return r

    def _drop_pending(self, cols: I64) -> None:
        if len(cols):
            for r in self._roles.values():
                r.dropped_window += int(r.pending[cols].sum())
                r.pending[cols] = 0

    def _drop_absent(self, ts: int, cols: I64) -> None:
        """A symbol missing from a tick at least one tick after its last row: its next row
        cannot be one tick after the last, so every pending window of it is already lost."""
        st, m = self._st, len(self._names)
        if not self._roles or len(cols) == m:
            return
        absent = st.seen_ts[:m] != ts
        absent[cols] = False
        absent &= ts >= st.last_ts[:m] + self.tick_ns
        self._drop_pending(np.flatnonzero(absent))

    def _resolve(self, ts: int, cols: I64, j: I64, row: I64, mid: F64) -> list[Resolved]:
        st = self._st
        valid = (row >= self.n) & (st.last_bad[cols] <= row - self.n)
        has = {name: valid & np.isfinite(r.p[cols, j]) for name, r in self._roles.items()}
        if not has:
            return []
        any_has = np.logical_or.reduce(list(has.values()))
        if not any_has.any():
            return []
        k = np.flatnonzero(any_has)
        c, jj = cols[k], j[k]
        fwd_high, fwd_low = self._ext.window(c, jj)
        lab = label_values(
            st.mid0[c, jj],
            fwd_high,
            fwd_low,
            st.cost0[c, jj],
            mid[k],
            self.labels.threshold_bps,
            self.labels.stop_bps,
        )
        out = []
        for name, r in self._roles.items():
            sel = has[name][k]
            if not sel.any():
                continue
            rc, rj = c[sel], jj[sel]
            p = r.p[rc, rj]
            top = r.top_k[rc, rj]
            pred_dir = r.direction[rc, rj]
            part = {key: v[sel] for key, v in lab.items()}
            y = np.asarray(part["in_play"], dtype=bool)
            r.window.append(ts, p, y, top, pred_dir == part["direction"])
            r.pending[rc] -= 1
            r.resolved_total += len(rc)
            names = self._names
            out.append(
                Resolved(
                    name, r.model_id, ts, [names[i] for i in rc.tolist()], p, pred_dir, top, part
                )
            )
        return out

    def _store(
        self,
        batch: PredictionBatch,
        ts: int,
        j_tick: I64,
        book: tuple[F64, F64, F64],
        volume: F64 | None,
    ) -> None:
        """Park a batch's predictions in the ring slot of their symbol's current row, with
        the cost priced from the book at this tick (``book``/``volume``/``j_tick`` are
        aligned with this tick's accepted columns)."""
        r = self._role(batch.role)
        r.model_id = batch.model_id
        st = self._st
        p = np.asarray(batch.p, dtype=np.float64)
        top = batch.top_k
        if top is None:
            top = np.zeros(len(p), bool)
            top[np.argsort(-p, kind="stable")[: self.config.top_k]] = True
        same = batch.symbols is self._tick_symbols
        if same:
            cb = self._last_cols
        else:
            cb = np.array([self._index.get(s, -1) for s in batch.symbols], dtype=np.int64)
        ok = cb >= 0
        ok[ok] = st.seen_ts[cb[ok]] == ts
        ok &= np.isfinite(p)
        src = np.flatnonzero(ok)
        c = cb[src]
        if not same and len(np.unique(c)) != len(c):
            raise ValueError(f"{batch.role}: a symbol appears twice in one tick's batch")
        k = st.pos[c]
        bid, ask, mid = (a[k] for a in book)
        vol = None if volume is None else volume[k]
        cost = self.cost.total_bps(bid, ask, vol, holding_s=self.labels.horizon_s)
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(cost) & (mid > 0)
        r.dropped_at_t += len(p) - int(usable.sum())
        c, k, src = c[usable], k[usable], src[usable]
        jj = j_tick[k]
        r.p[c, jj] = p[src]
        r.direction[c, jj] = np.sign(np.asarray(batch.direction)[src]).astype(np.int8)
        r.top_k[c, jj] = np.asarray(top, dtype=bool)[src]
        st.mid0[c, jj] = mid[usable]
        st.cost0[c, jj] = cost[usable]
        r.pending[c] += 1
