"""Per-symbol 1-second buckets in time-aligned rings: the state both engine paths share.

Why the values are bit-identical whether events arrive one by one (live) or as columnar
batches (offline), whatever the batch boundaries:

* additive bucket fields are integers (counts, and quote/base volumes in fixed point:
  ``QUOTE_SCALE`` units per USDT, ``QTY_SCALE`` per base unit, rounded half-even), so any
  grouping of the additions gives the same sum;
* the others are max/min (order-free) or "last value in stream order" (selected, not
  computed);
* everything derived from buckets (1-second returns, forward-filled prices, cumulative
  sums, minute aggregates) is computed by ``roll`` and the tick function, which both paths
  call with identical state.

Window sums are differences of per-second *cumulative* integer sums (``cum``; 1-second
squared returns and gap flags are integers too, ``R2_SCALE`` units), so they are exact: an
emptied window sums to exactly 0, with no cancellation residue, and a 1-hour window costs
one subtraction.

Layout: time-major rings ``[slot, field, symbol]``; second ``s`` lives in slot ``s % R1``
and minute ``m`` in slot ``m % RM``. Seconds ``< closed`` have been rolled (final); events
may land in seconds ``[closed, closed + MAX_AHEAD_S)``; earlier ("late") events are counted
and folded into second ``closed``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SEC = 1_000_000_000
# The second ring reaches MAX_AHEAD_S past the last tick, which is also how many ticks one
# offline batch computes: 888 at 1024 slots, where 256 slots (120 per batch) spent a third
# of a day's replay on per-batch overhead. 287 KB per symbol.
R1 = 1024
KEEP_S = 136
MAX_AHEAD_S = R1 - KEEP_S
# The minute ring must still hold a tick's oldest per-minute input (beta: up to 120
# minutes, plus the two around them) after a batch rolls MAX_AHEAD_S (15 minutes) past the
# tick: at 128 slots a 120-minute beta read minutes the batch had already overwritten.
RM = 256
MAX_HISTORY_MINUTES = 120
assert RM >= MAX_HISTORY_MINUTES + 2 + -(-MAX_AHEAD_S // 60)

QUOTE_SCALE = 10_000.0
QTY_SCALE = 1_000.0
MAX_UNITS = float(2**50)

# integer sums
N, NK, QUOTE, BUYQ, QTY, LIQ, NLIQ, NBOOK, NMARK = range(9)
NI = 9
# maxima (the low is stored negated so one max covers it)
MAXQ, HI, NEGLO = range(3)
NX = 3
# last value in the second (NaN: none); forward filled per symbol by ``roll``. Each field
# is written by one event kind only, so the interleaving of kinds cannot matter; a kline's
# close (KCLOSE) stands in for the last trade price only in a second without trades.
LASTPX, BID, ASK, BIDQ, ASKQ, MARK, INDEX, FUND, KCLOSE = range(9)
NL = 9
# cumulative sums: the NI bucket sums plus squared 1-s log returns and gap seconds
R2U, GAPC = NI, NI + 1
NC = NI + 2
R2_SCALE = 1e12
# derived per rolled second: close price and close mid (forward filled)
CPX, CMID = range(2)
ND = 2

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def units(value: float, scale: float) -> int:
    """Fixed-point units of one value; identical to ``units_array`` element-wise."""
    return round(min(value * scale, MAX_UNITS))


def units_array(values: F64, scale: float) -> I64:
    return np.rint(np.minimum(values * scale, MAX_UNITS)).astype(np.int64)


def _empty(shape: tuple[int, ...], fill: float, dtype: type) -> npt.NDArray[np.generic]:
    return np.full(shape, fill, dtype=dtype)


class Buckets:
    """Ring buffers and forward-filled state for every registered symbol."""

    def __init__(self, *, gap_after_s: int, capacity: int = 64) -> None:
        self.gap_after_s = gap_after_s
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.cap = 0
        self.closed: int | None = None
        self.liq_seen = False
        self.late_events = 0
        self.gaps: list[tuple[int, int, int]] = []
        self.version = 0
        self._allocate(capacity)

    # -- symbols ------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.names)

    def symbol_index(self, symbol: str) -> int:
        i = self.index.get(symbol)
        if i is None:
            i = len(self.names)
            if i >= self.cap:
                self._allocate(self.cap * 2)
            self.names.append(symbol)
            self.index[symbol] = i
        return i

    def _allocate(self, cap: int) -> None:
        old, n = self.cap, self.n
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "isum": _empty((R1, NI, cap), 0, np.int64),
            "fmax": _empty((R1, NX, cap), -np.inf, np.float64),
            "flast": _empty((R1, NL, cap), np.nan, np.float64),
            "dsec": _empty((R1, ND, cap), np.nan, np.float64),
            "cum": _empty((R1, NC, cap), 0, np.int64),
            "mcum": _empty((RM, NC, cap), 0, np.int64),
            "mfmax": _empty((RM, NX, cap), -np.inf, np.float64),
            "mdsec": _empty((RM, ND, cap), np.nan, np.float64),
            "ff": _empty((NL, cap), np.nan, np.float64),
            "last_event": _empty((cap,), -1, np.int64),
            "last_trade": _empty((cap,), -1, np.int64),
            "last_book": _empty((cap,), -1, np.int64),
            "first": _empty((cap,), -1, np.int64),
        }
        if old:
            for name, new in arrays.items():
                new[..., :n] = getattr(self, name)[..., :n]
        for name, new in arrays.items():
            setattr(self, name, new)
        self.cap = cap

    # declared for the type checker; bound in _allocate
    isum: I64
    fmax: F64
    flast: F64
    dsec: F64
    cum: I64
    mcum: I64
    mfmax: F64
    mdsec: F64
    ff: F64
    last_event: I64
    last_trade: I64
    last_book: I64
    first: I64

    # -- where an event goes --------------------------------------------------------------
    def second_of(self, ts: int) -> int:
        """The bucket second of one event (late events fold into ``closed``)."""
        s = ts // SEC
        if self.closed is None:
            self.closed = s
        if s < self.closed:
            self.late_events += 1
            return self.closed
        if s >= self.closed + MAX_AHEAD_S:
            raise ValueError(
                f"event at second {s} is {s - self.closed} s ahead of the last tick; "
                f"call on_tick first (at most {MAX_AHEAD_S} s ahead)"
            )
        return s

    def seconds_of(self, ts: I64) -> I64:
        """``second_of`` for a time-ordered batch."""
        s = ts // SEC
        if self.closed is None:
            self.closed = int(s[0])
        late = s < self.closed
        if late.any():
            self.late_events += int(late.sum())
            s = np.maximum(s, self.closed)
        if int(s.max()) >= self.closed + MAX_AHEAD_S:
            raise ValueError(f"batch reaches {MAX_AHEAD_S} s or more past the last tick")
        return s

    # -- gaps -----------------------------------------------------------------------------
    def mark_gap(self, symbol: str | None, start_ns: int, end_ns: int) -> None:
        """Record a data gap ``[start_ns, end_ns)``; seconds already rolled are marked in
        the rings too, so windows that still cover them see the gap."""
        g = -1 if symbol is None else self.symbol_index(symbol)
        a, b = start_ns // SEC, -(-end_ns // SEC)
        if b <= a:
            return
        self.gaps.append((g, a, b))
        if self.closed is None:
            return
        self.version += 1
        rows = slice(None) if g < 0 else slice(g, g + 1)
        for s in range(max(a, self.closed - R1), self.closed):
            self.cum[s % R1, GAPC, rows] += min(b, s + 1) - a
        for m in range(max(a // 60, self.closed // 60 - RM + 1), self.closed // 60):
            self.mcum[m % RM, GAPC, rows] += min(b, 60 * m + 60) - a

    def _gap_now(self, s: int, n: int) -> Bools:
        seen = self.last_event[:n] >= 0
        gap: Bools = seen & (s - self.last_event[:n] > self.gap_after_s)
        keep: list[tuple[int, int, int]] = []
        for g, a, b in self.gaps:
            if a <= s < b:
                if g < 0:
                    gap[:] = True
                elif g < n:
                    gap[g] = True
            if b > s + 1:
                keep.append((g, a, b))
        self.gaps = keep
        return gap

    # -- rolling seconds into history -----------------------------------------------------
    def roll_to(self, t_s: int) -> None:
        """Finalise every second before ``t_s``."""
        if self.closed is None:
            self.closed = t_s
            return
        while self.closed < t_s:
            self._roll_second(self.closed)

    def _roll_second(self, s: int) -> None:
        j, n = s % R1, self.n
        cnt = self.isum[j, :, :n]
        last = self.flast[j, :, :n]
        no_trade = np.isnan(last[LASTPX])
        last[LASTPX, no_trade] = last[KCLOSE, no_trade]
        has = ~np.isnan(last)
        prev_px = self.ff[LASTPX, :n].copy()
        np.copyto(self.ff[:, :n], last, where=has)
        px = self.ff[LASTPX, :n]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            r = np.log(px / prev_px)
        traded = (cnt[N] + cnt[NK] > 0) | has[LASTPX]
        booked = has[BID]
        active = traded | booked | (cnt[NMARK] > 0) | (cnt[NLIQ] > 0)
        self.last_event[:n][active] = s
        self.last_trade[:n][traded] = s
        self.last_book[:n][booked] = s
        first = self.first[:n]
        first[(first < 0) & active] = s
        r2 = np.rint(np.minimum(np.where(np.isfinite(r), r * r, 0.0), 1.0) * R2_SCALE)
        c = self.cum[j, :, :n]
        prev = self.cum[(s - 1) % R1, :, :n]
        c[:NI] = prev[:NI] + cnt
        c[R2U] = prev[R2U] + r2.astype(np.int64)
        c[GAPC] = prev[GAPC] + self._gap_now(s, n)
        d = self.dsec[j]
        d[CPX, :n] = px
        d[CMID, :n] = 0.5 * (self.ff[BID, :n] + self.ff[ASK, :n])
        if not self.liq_seen and bool((cnt[NLIQ] > 0).any()):
            self.liq_seen = True
        if s % 60 == 59:
            self._close_minute(s // 60)
        old = (s - KEEP_S) % R1
        self.isum[old] = 0
        self.fmax[old] = -np.inf
        self.flast[old] = np.nan
        self.closed = s + 1

    def _close_minute(self, m: int) -> None:
        lo, last, k = 60 * m % R1, (60 * m + 59) % R1, m % RM
        self.mcum[k] = self.cum[last]
        # the minute's seconds are one run of the ring, or two across its end (max is
        # order-free): slices, not a gathered copy
        self.fmax[lo : lo + 60].max(axis=0, out=self.mfmax[k])
        if lo + 60 > R1:
            np.maximum(self.mfmax[k], self.fmax[: lo + 60 - R1].max(axis=0), out=self.mfmax[k])
        self.mdsec[k] = self.dsec[last]
        self.version += 1
