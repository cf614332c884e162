"""A day's starting prices come from the earlier days' returns, each generated once.

Market-day runs simulate one day at a time in one process; day ``d`` starts where day
``d - 1`` ended. The starting prices must be those of regenerating every earlier day, but
a day already generated in this process (as a day of its own, or on the way to a later
one) is not generated again, whichever ``days`` the config that asks carries.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from csx_core.sim import SimConfig
from csx_core.sim import path as sim_path
from csx_core.sim.path import day_path, start_log_prices

CONFIG = SimConfig(seed=11, n_symbols=3, days=3)


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The (seed, day, block) of every day path generated, from an empty memory."""
    monkeypatch.setattr(sim_path, "_DAY_RETURNS", type(sim_path._DAY_RETURNS)())
    calls: list[tuple[int, int, int]] = []
    real = sim_path.day_path

    def counting(config: SimConfig, day: int, block: int = 0) -> sim_path.DayPath:
        calls.append((config.seed, day, block))
        return real(config, day, block)

    monkeypatch.setattr(sim_path, "day_path", counting)
    return calls


def _regenerated(config: SimConfig, day: int) -> np.ndarray:
    level = np.log(np.array([s.price for s in config.specs], dtype=np.float64))
    for earlier in range(day):
        level = level + day_path(config, earlier).returns.sum(axis=1)
    return level


def test_starting_prices_equal_regenerating_the_earlier_days(
    generated: list[tuple[int, int, int]],
) -> None:
    first = start_log_prices(CONFIG, 2)
    assert generated == [(11, 0, 0), (11, 1, 0)]
    again = start_log_prices(dataclasses.replace(CONFIG, days=5), 2)
    assert generated == [(11, 0, 0), (11, 1, 0)]  # remembered, whatever ``days`` says
    reference = _regenerated(CONFIG, 2)
    assert first.tobytes() == reference.tobytes()
    assert again.tobytes() == reference.tobytes()


def test_a_day_generated_for_itself_serves_the_next_days_start(
    generated: list[tuple[int, int, int]],
) -> None:
    sim_path.day_path(dataclasses.replace(CONFIG, days=1), 0)
    start_log_prices(dataclasses.replace(CONFIG, days=2), 1)
    assert generated == [(11, 0, 0)]
    other_seed = dataclasses.replace(CONFIG, seed=12)
    start_log_prices(other_seed, 1)
    assert generated == [(11, 0, 0), (12, 0, 0)]  # another market is its own


def test_the_remembered_sums_cannot_be_written_through() -> None:
    day_path(CONFIG, 0)
    sums = sim_path._DAY_RETURNS[sim_path._day_key(CONFIG, 0, 0)]
    with pytest.raises(ValueError, match="read-only"):
        sums[0] = 0.0
