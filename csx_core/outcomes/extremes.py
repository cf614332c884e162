"""Online forward window extremes per symbol: ``labels.forward_window_max`` run streaming.

Each symbol has its own row counter ``r``; row ``r`` goes to slot ``r mod n``. The window of
the row made at ``r0`` is rows ``r0+1 .. r0+n``, complete when row ``c = r0 + n`` arrives.
It splits at the block boundary ``b = c − (c mod n)`` (van Herk / Gil-Werman): the rows of
the current block up to ``c`` (their running max, ``pre``) and the tail ``j+1 .. n−1`` of
the previous block (its suffix maxima ``suf``, computed once when that block closed). So a
tick costs O(symbols) plus, once per ``n`` rows, O(n) per symbol — and max is exact, so the
result is bit-identical to the batch function on the same values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def grown(a: np.ndarray, cap: int, fill: object) -> np.ndarray:
    """``a`` with its first axis extended to ``cap`` rows of ``fill``."""
    out = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


class ForwardExtremes:
    """Forward max of ``hi`` and of ``nlo`` (the negated low) for ``cap`` symbols, window
    ``n`` rows. Values are (symbols, n), symbol-major; empty slots hold −inf."""

    def __init__(self, n: int, cap: int) -> None:
        self.n = n
        self.pre = np.full((2, cap), -np.inf)
        self.ring = np.full((2, cap, n), -np.inf)
        self.suf = np.full((2, cap, n), -np.inf)

    def grow(self, cap: int) -> None:
        old = self.pre.shape[1]
        for name in ("pre", "ring", "suf"):
            a = getattr(self, name)
            out = np.full((2, cap, *a.shape[2:]), -np.inf)
            out[:, :old] = a
            setattr(self, name, out)

    def push(self, cols: I64, j: I64, hi: F64, nlo: F64) -> None:
        """Add one row per symbol ``cols`` at slots ``j`` (= row mod n)."""
        fresh = j == 0
        if fresh.any():
            self._close_blocks(cols[fresh])
        for k, v in ((0, hi), (1, nlo)):
            self.pre[k, cols] = np.where(fresh, v, np.maximum(self.pre[k, cols], v))
            self.ring[k, cols, j] = v

    def window(self, c: I64, j: I64) -> tuple[F64, F64]:
        """(forward high, forward low) of the windows ending at the just-pushed rows of
        symbols ``c`` (slots ``j``)."""
        nxt = j + 1
        tail = nxt < self.n
        nxt = np.minimum(nxt, self.n - 1)
        hi = np.maximum(self.pre[0, c], np.where(tail, self.suf[0, c, nxt], -np.inf))
        nlo = np.maximum(self.pre[1, c], np.where(tail, self.suf[1, c, nxt], -np.inf))
        return hi, -nlo

    def _close_blocks(self, sel: I64) -> None:
        """Suffix maxima of the blocks that just closed (a slice when ``sel`` is contiguous:
        the usual case, every symbol closing its block on the same tick)."""
        lo, hi = int(sel[0]), int(sel[-1]) + 1
        if hi - lo == len(sel) and bool((np.diff(sel) == 1).all()):
            for k in (0, 1):
                np.maximum.accumulate(
                    self.ring[k, lo:hi, ::-1], axis=1, out=self.suf[k, lo:hi, ::-1]
                )
        else:
            for k in (0, 1):
                self.suf[k, sel] = np.maximum.accumulate(self.ring[k, sel, ::-1], axis=1)[:, ::-1]
