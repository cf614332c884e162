"""``clear_span`` clears exactly the slots ``_roll_second`` clears second by second."""

from __future__ import annotations

import numpy as np
import pytest

from csx_core.features import buckets as bk
from csx_core.features.span import clear_span

RINGS = ("isum", "fmax", "flast")


def _filled() -> bk.Buckets:
    """Three registered symbols with every slot written; the other columns as allocated
    (no event reaches them before their symbol registers)."""
    b = bk.Buckets(gap_after_s=60)
    for symbol in ("AUSDT", "BUSDT", "CUSDT"):
        b.symbol_index(symbol)
    for name in RINGS:
        ring = getattr(b, name)[..., : b.n]
        ring[:] = np.arange(ring.size).reshape(ring.shape)
    return b


@pytest.mark.parametrize(
    ("start", "t_end"),
    [
        (5, 5),  # nothing
        (5, 6),  # one slot
        (bk.KEEP_S, bk.KEEP_S + bk.MAX_AHEAD_S),  # a whole run from slot 0
        (bk.R1 - 10, bk.R1 + 30),  # across the ring's end
        (3 * bk.R1 + bk.KEEP_S - 1, 4 * bk.R1 + bk.KEEP_S + 1),  # more than the ring
    ],
)
def test_clear_span_clears_the_slots_each_rolled_second_clears(start: int, t_end: int) -> None:
    want, got = _filled(), _filled()
    for s in range(start, t_end):  # what _roll_second does for second s
        old = (s - bk.KEEP_S) % bk.R1
        want.isum[old], want.fmax[old], want.flast[old] = 0, -np.inf, np.nan
    clear_span(got, start, t_end)
    for name in RINGS:
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name
