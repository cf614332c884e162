"""The tick function's lean helpers equal the plain numpy forms they replace, bit for bit.

``_pct_rank_z`` spells out ``np.mean``/``np.std`` and ``_safe_div`` drops a second
``np.where``; a changed bit would change every replay digest, so these compare raw bytes
against the straightforward formulations (the ones the digest was first recorded with).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.features.tick import _pct_rank_z, _safe_div

CELL = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf]),
)


def _reference_rank(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    vals = np.sort(x[finite])
    out = np.full(x.shape, np.nan)
    if len(vals) >= 2:
        left = np.searchsorted(vals, x[finite], side="left")
        right = np.searchsorted(vals, x[finite], side="right")
        out[finite] = (left + right - 1) / 2.0 / (len(vals) - 1)
    return out


def _reference_z(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    out = np.full(x.shape, np.nan)
    if finite.sum() >= 2:
        sd = x[finite].std()
        if sd > 0:
            out[finite] = (x[finite] - x[finite].mean()) / sd
    return out


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(CELL, min_size=0, max_size=600))
def test_rank_and_z_equal_numpy_mean_std_bit_for_bit(cells: list[float]) -> None:
    x = np.array(cells, dtype=np.float64)
    rank, z = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        _pct_rank_z(x, rank, z)
        assert _same_bits(rank, _reference_rank(x))
        assert _same_bits(z, _reference_z(x))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(CELL, CELL), min_size=1, max_size=64))
def test_safe_div_equals_the_double_where_form(pairs: list[tuple[float, float]]) -> None:
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        expected = np.where(y != 0, x / np.where(y != 0, y, 1.0), np.nan)
        assert _same_bits(_safe_div(x, y), expected)
