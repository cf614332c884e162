"""The batch path's compiled loops equal the numpy expressions they stand for, bit for bit,
and the warm-up compiles exactly what a replay calls (so no replay compiles anything)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.features import kernels as kn
from csx_core.features.tick import _pct_rank_z
from csx_core.replay import replay_batches, without_shadowed_klines
from csx_core.sim import SimConfig, simulate_day


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def test_pairwise_sum_is_numpys_sum_to_the_bit() -> None:
    rng = np.random.default_rng(7)
    # every block shape up to and past the 128-value blocks and several halvings
    for n in [*range(300), 383, 384, 385, 1000, 4097, 20_000]:
        a = rng.standard_normal(n + 5) * 10.0 ** rng.uniform(-9, 9, n + 5)
        assert kn._pairwise_sum(a, 5, n) == np.add.reduce(a[5:]), n


finite_or_not = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, math.nan, math.inf, -math.inf]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)


def _check_rank_and_z(x: np.ndarray) -> None:
    k = x.shape[1]
    scratch = np.empty(k), np.empty(k, dtype=np.int64), np.empty(k), np.empty(k, dtype=np.int64)
    for row in x:
        rank, z = np.full(k, np.nan), np.full(k, np.nan)
        kn._rank_z(row, rank, z, *scratch)
        want_rank, want_z = np.full(k, np.nan), np.full(k, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            _pct_rank_z(row.copy(), want_rank, want_z)
        assert bits(rank) == bits(want_rank)
        assert bits(z) == bits(want_z)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=80).flatmap(  # the counting path, odd values
        lambda k: st.lists(st.lists(finite_or_not, min_size=k, max_size=k), min_size=1, max_size=6)
    )
)
def test_rank_and_z_equal_the_per_tick_ones(cells: list[list[float]]) -> None:
    _check_rank_and_z(np.array(cells, dtype=np.float64))


def test_rank_and_z_of_many_values_equal_the_per_tick_ones() -> None:
    """Past ``_COUNT_RANKS_UPTO`` values the ranks come from the heap sort: ties, signed
    zeros and values that are not finite among them."""
    rng = np.random.default_rng(3)
    for k in (kn._COUNT_RANKS_UPTO, kn._COUNT_RANKS_UPTO + 1, 700):
        x = rng.integers(-20, 20, (4, k)).astype(np.float64)  # many ties
        x[0] = rng.standard_normal(k)
        x.reshape(-1)[::17] = np.nan
        x.reshape(-1)[5::23] = -np.inf
        x.reshape(-1)[7::29] = -0.0
        _check_rank_and_z(x)


def test_canonical_copy_writes_every_nan_as_the_quiet_nan_and_the_rest_as_is() -> None:
    rng = np.random.default_rng(11)
    flat = rng.standard_normal(7 * 5 * 9)
    # NaNs of both signs and other payloads, and the values a canonicalisation might touch
    patterns = [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF]
    flat[::3] = np.array(patterns * len(flat), dtype=np.uint64)[: len(flat[::3])].view(np.float64)
    special = [-0.0, 0.0, math.inf, -math.inf, 5e-324, -5e-324, 1e308, -1e308]
    flat[1 : 3 * len(special) : 3] = special
    values = flat.reshape(7, 5, 9)
    # into a field at an unaligned offset, as in the digest's packed records
    record = np.dtype([("ts", "<i8"), ("pad", "u1", (3,)), ("values", "<f8", (5, 9))])
    out = np.zeros(7, record)
    kn.canonical_copy(values, out["values"])
    assert bits(out["values"]) == bits(np.where(np.isnan(values), np.nan, values))
    assert out["ts"].tolist() == [0] * 7  # nothing written outside the field
    assert out["pad"].tolist() == [[0, 0, 0]] * 7
    assert not out["values"].flags.aligned


def test_the_warm_up_compiles_every_signature_a_replay_calls() -> None:
    kernels = kn._DISPATCHERS  # every compiled function, the helpers too
    kn.warm_up()
    compiled = [list(f.signatures) for f in kernels]
    day = simulate_day(SimConfig(days=1, n_symbols=4), 0)
    end = day["trade"]["ts_event"][0].as_py() + 5 * 60 * 1_000_000_000
    tables = without_shadowed_klines(
        {kind: t.filter(pc.less(t["ts_event"], end)) for kind, t in day.items()}
    )
    assert replay_batches([tables]).rows > 0
    assert [list(f.signatures) for f in kernels] == compiled


_STALE_PROBE = """
import sys
import csx_core.features.buckets as bk
bk.KEEP_S += int(sys.argv[1])  # a layout change the kernels' own file does not show
from csx_core.features import kernels
print(kernels._compiled_layout_key() == kernels._LAYOUT_KEY)
"""


def test_a_changed_bucket_constant_recompiles_the_cached_kernels(tmp_path: Path) -> None:
    """numba freezes globals into its disk cache, keyed on ``kernels.py`` alone: a kernel
    cached under one ``buckets`` layout must not be served under another."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def probe(shift: int) -> str:
        argv = [sys.executable, "-c", _STALE_PROBE, str(shift)]
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout

    assert probe(0) == "True\n"  # compiles, and caches, under the current layout
    assert probe(1) == "True\n"  # the cache holds the old layout: dropped and recompiled
