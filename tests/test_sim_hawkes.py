"""Hawkes arrivals: the cluster construction has the right mean rate and clusters."""

from __future__ import annotations

import numpy as np
import pytest

from csx_core.sim.hawkes import hawkes_times

SECONDS = 20_000


def _counts(branching: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(1))
    baseline = np.full((2, SECONDS), 0.5)
    row, t = hawkes_times(
        rng, baseline, branching=branching, decay_s=2.0, horizon_ms=SECONDS * 1000
    )
    counts = np.bincount(row * SECONDS + t // 1000, minlength=2 * SECONDS)
    return row, t, counts


@pytest.mark.parametrize("branching", [0.0, 0.3, 0.6])
def test_mean_rate_is_baseline_over_one_minus_branching(branching: float) -> None:
    _, _, counts = _counts(branching)
    assert counts.mean() == pytest.approx(0.5 / (1 - branching), rel=0.05)


def test_self_excitation_makes_arrivals_overdispersed() -> None:
    _, _, poisson = _counts(0.0)
    _, _, hawkes = _counts(0.6)
    window = 10
    fano = [
        np.var(c.reshape(-1, window).sum(1)) / np.mean(c.reshape(-1, window).sum(1))
        for c in (poisson, hawkes)
    ]
    assert fano[0] == pytest.approx(1.0, abs=0.15)
    assert fano[1] > 2.0


def test_events_are_sorted_by_row_then_time_and_inside_the_horizon() -> None:
    row, t, _ = _counts(0.5)
    assert np.all(np.diff(row) >= 0)
    same = row[1:] == row[:-1]
    assert np.all(np.diff(t)[same] >= 0)
    assert t.min() >= 0
    assert t.max() < SECONDS * 1000
