"""Rolling many seconds at once: ``Buckets._roll_second`` vectorised over time.

The batch tick path (``csx_core.features.batch``) needs the state the per-tick path would
see at each tick of a run of ticks. ``roll_span`` finalises every second of ``[closed,
t_end)`` in one pass and leaves the rings exactly as that many ``_roll_second`` calls
would, because every step is either integer arithmetic (cumulative sums: any grouping is
exact), a selection (forward fill, last active second) or the same element-wise float
operation on the same operands. It also returns the per-tick history of the small state
that the rings do not keep (forward-filled values, last-event seconds, ...).

Clearing the slots that fall out of ``KEEP_S`` is left to ``clear_span`` so that the
batch tick function can still read the per-second maxima its windows need; nothing
between the two calls may add events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csx_core.features import buckets as bk
from csx_core.features.buckets import F64, I64, Bools, Buckets


@dataclass(frozen=True)
class RolledSpan:
    """State at each tick second ``start + i``, ``i`` in ``[0, len]``: what the per-tick
    path holds after rolling every second before it (index 0: before the span)."""

    start: int
    ff: F64  # (i, NL, n) forward-filled last values
    last: I64  # (i, 3, n) last event, trade and book second (-1: never)
    first: I64  # (i, n) first active second (-1: none yet)
    liq_seen: Bools  # (i,)
    version: I64  # (i,) ``Buckets.version``

    def index(self, t: int) -> int:
        return t - self.start


def _declared_gaps(b: Buckets, secs: I64, gap: Bools) -> None:
    """Mark the declared gaps in ``gap`` (seconds x symbols), then drop the ones that end
    within the span, as ``Buckets._gap_now`` does second by second."""
    s0, s1 = int(secs[0]), int(secs[-1]) + 1
    for g, a, end in b.gaps:
        lo, hi = max(a, s0) - s0, min(end, s1) - s0
        if lo < hi:
            if g < 0:
                gap[lo:hi] = True
            elif g < b.n:
                gap[lo:hi, g] = True
    b.gaps = [gap_ for gap_ in b.gaps if gap_[2] > s1]


def roll_span(b: Buckets, t_end: int) -> RolledSpan:
    """Finalise the seconds ``[b.closed, t_end)`` (at most ``MAX_AHEAD_S`` of them: the
    ring then holds each second's own events) except for ``clear_span``."""
    assert b.closed is not None
    c, n = b.closed, b.n
    k = t_end - c
    if not 0 <= k <= bk.MAX_AHEAD_S:
        raise ValueError(f"a span rolls 0 to {bk.MAX_AHEAD_S} seconds, got {k}")
    ff0 = b.ff[:, :n].copy()
    last0 = np.stack([b.last_event[:n], b.last_trade[:n], b.last_book[:n]])
    first0 = b.first[:n].copy()
    if k == 0:
        return RolledSpan(
            c, ff0[None], last0[None], first0[None], np.array([b.liq_seen]), np.array([b.version])
        )
    from csx_core.features import kernels  # on first use: the live path never imports numba

    ff = np.empty((k + 1, *ff0.shape))
    ratio = np.empty((k, n))
    kernels.roll_prices(b.flast, c, n, ff0, ff, ratio)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.log(ratio)  # numpy's log, as ``_roll_second``'s
    secs = np.arange(c, t_end, dtype=np.int64)
    declared = np.zeros((k, n), dtype=bool)
    _declared_gaps(b, secs, declared)
    last = np.empty((k + 1, 3, n), dtype=np.int64)
    first = np.empty((k + 1, n), dtype=np.int64)
    liq = np.empty(k + 1, dtype=bool)
    last[0], first[0], liq[0] = last0, first0, b.liq_seen
    kernels.roll_sums(
        b.isum, b.flast, c, r, b.gap_after_s, declared, ff, b.cum, b.dsec, last, first, liq
    )
    version = np.full(k + 1, b.version, dtype=np.int64)
    for s in secs[secs % 60 == 59].tolist():
        b._close_minute(s // 60)
        version[s - c + 1 :] += 1
    b.ff[:, :n] = ff[-1]
    b.last_event[:n], b.last_trade[:n], b.last_book[:n] = last[-1]
    b.first[:n] = first[-1]
    b.liq_seen = bool(liq[-1])
    b.closed = t_end
    return RolledSpan(start=c, ff=ff, last=last, first=first, liq_seen=liq, version=version)


def clear_span(b: Buckets, start: int, t_end: int) -> None:
    """The slot clearing that ``_roll_second`` does for each second of ``[start, t_end)``:
    the slots of seconds ``[start - KEEP_S, t_end - KEEP_S)``, as one or two runs of the
    ring (slices: a fill, where an index array scattered slot by slot). Only the columns
    of registered symbols: the others were never written (20 symbols in 64 columns: a
    third of the memory traffic)."""
    a, z, n = start - bk.KEEP_S, t_end - bk.KEEP_S, b.n
    if z - a >= bk.R1:
        a = z - bk.R1
    lo, hi = a % bk.R1, a % bk.R1 + (z - a)
    for run in (slice(lo, min(hi, bk.R1)), slice(0, max(hi - bk.R1, 0))):
        b.isum[run, :, :n] = 0
        b.fmax[run, :, :n] = -np.inf
        b.flast[run, :, :n] = np.nan


def roll_quiet(b: Buckets, t_end: int) -> None:
    """``roll_span`` then ``clear_span`` over ``[b.closed, t_end)`` of any length, for a span
    that holds no event (every event so far lies before ``b.closed``): what a bar cadence
    does between two bars. Nothing changes but time, so the per-second work reduces to
    closed forms: cumulative sums stay flat except the gap seconds, forward-filled prices
    and their 1-second returns (log 1 = 0) stay put, and the minutes that close in the span
    repeat the last second's sums; only the last ``R1`` seconds and ``RM`` minutes are
    written, since older slots would be overwritten anyway."""
    assert b.closed is not None
    c, n = b.closed, b.n
    k = t_end - c
    if k <= 0:
        return
    secs = np.arange(c, t_end, dtype=np.int64)
    seen = b.last_event[:n] >= 0
    gap = seen[None] & (secs[:, None] - b.last_event[:n][None] > b.gap_after_s)
    _declared_gaps(b, secs, gap)
    base = b.cum[(c - 1) % bk.R1, :, :n]
    gap_cum = base[bk.GAPC][None] + np.cumsum(gap, axis=0, dtype=np.int64)
    px = b.ff[bk.LASTPX, :n]
    mid = 0.5 * (b.ff[bk.BID, :n] + b.ff[bk.ASK, :n])
    # the minutes that close in the span, the first of which may hold earlier seconds
    first_close = -(-(c - 59) // 60)  # first m with 60 m + 59 >= c
    minutes = np.arange(first_close, (t_end - 60) // 60 + 1, dtype=np.int64)
    if len(minutes):
        m0 = int(minutes[0])
        first_max = b.fmax[np.arange(60 * m0, 60 * m0 + 60) % bk.R1, :, :n].max(axis=0)
        tail = minutes[-bk.RM :]
        slots_m = tail % bk.RM
        b.mcum[slots_m, :, :n] = base[None]
        b.mcum[slots_m, bk.GAPC, :n] = gap_cum[60 * tail + 59 - c]
        b.mfmax[slots_m, :, :n] = -np.inf
        if tail[0] == m0:
            b.mfmax[m0 % bk.RM, :, :n] = first_max
        b.mdsec[slots_m, bk.CPX, :n] = px
        b.mdsec[slots_m, bk.CMID, :n] = mid
        b.version += len(minutes)
    # slots cleared by the span's rolls: those of seconds [c - KEEP_S, t_end - KEEP_S)
    cleared = np.arange(max(c - bk.KEEP_S, t_end - bk.KEEP_S - bk.R1), t_end - bk.KEEP_S) % bk.R1
    b.isum[cleared] = 0
    b.fmax[cleared] = -np.inf
    b.flast[cleared] = np.nan
    last = secs[-bk.R1 :]
    j = last % bk.R1
    b.cum[j, :, :n] = base[None]
    b.cum[j, bk.GAPC, :n] = gap_cum[last - c]
    b.dsec[j, bk.CPX, :n] = px
    b.dsec[j, bk.CMID, :n] = mid
    b.flast[j, bk.LASTPX, :n] = np.nan  # roll writes the (absent) kline close there
    b.closed = t_end
