"""The simulator generates a large market one symbol block at a time, around one market.

A market of more than ``BLOCK_SYMBOLS`` symbols is built block by block (memory holds one
block of one day); the blocks share the market regime and the BTC factor; the merged day
is the same whichever way it is produced; and the first block is the market of its own
symbols alone, so a market of at most one block is what it was before blocks existed.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from csx_core.sim import SimConfig, episodes, simulate, simulate_day, write_to_store
from csx_core.sim.market import simulate_blocks, simulate_day_blocks
from csx_core.sim.path import BLOCK_SYMBOLS, blocks, day_path
from csx_core.store import EventStore

# Sparse enough to be quick: the point is the blocks, not the market's texture.
TWO_BLOCKS = SimConfig(
    seed=5,
    n_symbols=BLOCK_SYMBOLS + 6,
    days=2,
    start=date(2026, 2, 1),
    trade_rate=0.05,
    book_rate=0.0,
    episodes_per_day=2.0,
    surprise_moves_per_day=1.0,
)


@pytest.fixture(scope="module")
def day1() -> dict[str, object]:
    return simulate_day(TWO_BLOCKS, 1)


def test_blocks_cover_the_symbols_in_order() -> None:
    parts = blocks(TWO_BLOCKS)
    assert [(p.start, p.stop) for p in parts] == [(0, BLOCK_SYMBOLS), (BLOCK_SYMBOLS, 38)]
    assert blocks(SimConfig(n_symbols=3)) == [slice(0, 3)]


def test_the_merged_day_is_the_blocks_together_and_days_stay_independent(day1: dict) -> None:
    by_block = [t for d, _, t in simulate_blocks(TWO_BLOCKS) if d == date(2026, 2, 2)]
    assert len(by_block) == 2
    for kind, table in day1.items():
        assert table.num_rows == sum(t[kind].num_rows for t in by_block)
        assert set(pc.unique(by_block[1][kind]["symbol"]).to_pylist()) <= set(
            TWO_BLOCKS.symbol_names[BLOCK_SYMBOLS:]
        )
        ts = table["ts_event"].to_numpy()
        assert bool(np.all(np.diff(ts) >= 0)), kind
    alone = list(simulate_day_blocks(TWO_BLOCKS, 1))  # the day drawn on its own
    assert all(a[k].equals(b[k]) for a, b in zip(alone, by_block, strict=True) for k in a)
    in_sequence = dict(simulate(TWO_BLOCKS))[date(2026, 2, 2)]
    assert all(in_sequence[k].equals(day1[k]) for k in day1)


def test_the_first_block_is_the_market_of_its_own_symbols(day1: dict) -> None:
    alone = dataclasses.replace(TWO_BLOCKS, n_symbols=BLOCK_SYMBOLS)
    own = simulate_day(alone, 1)
    first = set(alone.symbol_names)
    for kind, table in day1.items():
        mine = table.filter(pc.is_in(table["symbol"], value_set=pa.array(sorted(first))))
        assert mine.equals(own[kind]), kind


def test_every_block_moves_with_the_one_btc_factor() -> None:
    btc = day_path(TWO_BLOCKS, 0, 0).returns[0]
    other = day_path(TWO_BLOCKS, 0, 1).returns
    per_minute = btc.reshape(-1, 60).sum(axis=1)
    corr = [np.corrcoef(per_minute, r.reshape(-1, 60).sum(axis=1))[0, 1] for r in other]
    # betas 0.6-1.5 against vol multipliers 1.5-3: correlations ~0.2-0.7, never ~0
    assert min(corr) > 0.1, corr
    # and the blocks are not copies of each other: block 1 draws its own idiosyncratic noise
    block0 = day_path(TWO_BLOCKS, 0, 0).returns
    assert not np.allclose(block0[-6:], other)


def test_episodes_name_symbols_of_every_block() -> None:
    truth = episodes(TWO_BLOCKS, 0)
    named = set(truth["symbol"].to_pylist())
    assert named & set(TWO_BLOCKS.symbol_names[BLOCK_SYMBOLS:])
    assert named & set(TWO_BLOCKS.symbol_names[:BLOCK_SYMBOLS])
    assert truth.num_rows > 38


def test_write_to_store_writes_block_by_block_and_reads_back_the_day(
    tmp_path: Path, day1: dict
) -> None:
    store = EventStore(tmp_path / "events")
    summary = write_to_store(TWO_BLOCKS, store)
    assert summary.total_events == sum(
        t.num_rows for d in range(2) for t in simulate_day(TWO_BLOCKS, d).values()
    )
    for kind, table in day1.items():
        assert store.read(kind, start=date(2026, 2, 2), end=date(2026, 2, 2)).equals(table)
