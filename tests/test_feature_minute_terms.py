"""``tick.minute_terms`` of many keys at once equals each key's own call, bit for bit (the
batch path computes a run's keys together, the per-tick path one at a time)."""

from __future__ import annotations

import numpy as np
import pytest

from csx_core.features import EngineConfig
from csx_core.features import buckets as bk
from csx_core.features.tick import minute_terms


def _market(n: int, seed: int) -> bk.Buckets:
    """Minute rings of ``n`` symbols filled with random sums, closes and a few gaps."""
    rng = np.random.default_rng(seed)
    b = bk.Buckets(gap_after_s=60)
    for k in range(n):
        b.symbol_index("BTCUSDT" if k == 0 else f"S{k:02d}USDT")
    steps = rng.integers(0, 10**9, size=(bk.RM, bk.NC, n))
    steps[:, bk.GAPC] = rng.random((bk.RM, n)) < 0.01
    b.mcum[:, :, :n] = np.cumsum(steps, axis=0)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, size=(bk.RM, n)), axis=0))
    closes[rng.random((bk.RM, n)) < 0.02] = np.nan
    b.mdsec[:, bk.CPX, :n] = closes
    return b


def bits(a: np.ndarray | None) -> bytes | None:
    return None if a is None else np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize("n", [1, 2, 3, 20, 129])
def test_many_keys_at_once_equal_one_key_at_a_time(n: int) -> None:
    b, cfg = _market(n, seed=n), EngineConfig(beta_minutes=90, min_beta_points=5)
    t = 60 * np.arange(10_000, 10_016, dtype=np.int64) + 7  # 16 minutes, as a batch holds
    together = minute_terms(b, cfg, t)
    for k in range(len(t)):
        alone = minute_terms(b, cfg, t[k : k + 1])
        for name in ("base_mu", "base_sd", "base_gap", "beta", "k_mu", "scale"):
            assert bits(getattr(together.take(slice(k, k + 1)), name)) == bits(
                getattr(alone, name)
            ), (name, k)
    assert together.beta is not None
    assert np.isfinite(together.beta).any()
