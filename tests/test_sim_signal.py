"""The simulated market carries learnable but noisy in-play signal, seen through its events.

Everything is measured on the emitted events (what the model sees), with the injected
episodes only used to know where to look. Fixed seed, so the statistics are reproducible.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from csx_core.sim import SimConfig, episodes, simulate_day

CONFIG = SimConfig(seed=3, n_symbols=4, days=1, start=date(2026, 2, 1), episodes_per_day=16)
HORIZON_S = 300
Arr = np.ndarray[Any, Any]


@pytest.fixture(scope="module")
def market() -> tuple[dict[str, pa.Table], pa.Table]:
    return simulate_day(CONFIG, 0), episodes(CONFIG, 0)


def _seconds(table: pa.Table, day_start_ns: int) -> tuple[Arr, Arr]:
    idx = pc.index_in(table.column("symbol"), value_set=pa.array(CONFIG.symbol_names))
    sec = (table.column("ts_event").to_numpy() - day_start_ns) // 1_000_000_000
    return idx.to_numpy(), sec


def _last_price_per_second(trades: pa.Table, start: int) -> Arr:
    row, sec = _seconds(trades, start)
    out = np.full((len(CONFIG.symbol_names), 86_400), np.nan)
    out[row, sec] = trades.column("price").to_numpy()
    for r in range(out.shape[0]):
        valid = np.where(~np.isnan(out[r]), np.arange(86_400), 0)
        out[r] = out[r][np.maximum.accumulate(valid)]
    return np.log(out)


def _forward_abs_bps(logp: Arr, row: Arr, sec: Arr) -> Arr:
    ok = sec + HORIZON_S < 86_400
    moved = np.abs(logp[row[ok], sec[ok] + HORIZON_S] - logp[row[ok], sec[ok]]) * 1e4
    return moved[~np.isnan(moved)]


def _precursor_ends(truth: pa.Table, start: int) -> tuple[Arr, Arr, Arr]:
    pre = truth.filter(truth.column("has_precursor"))
    row = pc.index_in(pre.column("symbol"), value_set=pa.array(CONFIG.symbol_names)).to_numpy()
    begin = (pre.column("precursor_start").to_numpy() - start) // 1_000_000_000
    move = (pre.column("move_start").to_numpy() - start) // 1_000_000_000
    end = np.minimum(move, begin + 120)
    return row, end, pre.column("false_alarm").to_numpy()


def _day_start() -> int:
    return (CONFIG.start - date(1970, 1, 1)).days * 86_400 * 1_000_000_000


def test_moves_after_precursor_bursts_are_larger_than_unconditional(
    market: tuple[dict[str, pa.Table], pa.Table],
) -> None:
    tables, truth = market
    start = _day_start()
    logp = _last_price_per_second(tables["trade"], start)
    row, end, _ = _precursor_ends(truth, start)
    after = _forward_abs_bps(logp, row, end)
    rng = np.random.default_rng(0)
    base = _forward_abs_bps(
        logp, rng.integers(0, 4, 4_000), rng.integers(600, 86_400 - HORIZON_S, 4_000)
    )
    test = stats.mannwhitneyu(after, base, alternative="greater")
    assert test.pvalue < 1e-6
    assert np.median(after) > 2 * np.median(base)


def test_false_alarms_look_alike_before_but_do_not_move(
    market: tuple[dict[str, pa.Table], pa.Table],
) -> None:
    tables, truth = market
    start = _day_start()
    logp = _last_price_per_second(tables["trade"], start)
    row, end, false_alarm = _precursor_ends(truth, start)
    assert 0.15 < false_alarm.mean() < 0.6
    real = _forward_abs_bps(logp, row[~false_alarm], end[~false_alarm])
    fake = _forward_abs_bps(logp, row[false_alarm], end[false_alarm])
    assert np.median(fake) < 0.5 * np.median(real)


def test_precursors_show_in_trade_rate_and_taker_imbalance(
    market: tuple[dict[str, pa.Table], pa.Table],
) -> None:
    tables, truth = market
    start = _day_start()
    trades = tables["trade"]
    t_row, t_sec = _seconds(trades, start)
    buy = ~trades.column("buyer_is_maker").to_numpy()
    counts = np.zeros((4, 86_400))
    signed = np.zeros((4, 86_400))
    np.add.at(counts, (t_row, t_sec), 1)
    np.add.at(signed, (t_row, t_sec), np.where(buy, 1, -1))
    pre = truth.filter(truth.column("has_precursor"))
    row = pc.index_in(pre.column("symbol"), value_set=pa.array(CONFIG.symbol_names)).to_numpy()
    begin = (pre.column("precursor_start").to_numpy() - start) // 1_000_000_000
    direction = pre.column("direction").to_numpy()
    inside, before, agree = [], [], []
    for r, b, d in zip(row, begin, direction, strict=True):
        if b < 700:
            continue
        inside.append(counts[r, b : b + 30].sum())
        before.append(counts[r, b - 600 : b - 570].sum())
        agree.append(np.sign(signed[r, b : b + 30].sum()) == d)
    assert stats.wilcoxon(inside, before, alternative="greater").pvalue < 1e-4
    assert 0.6 < np.mean(agree) < 1.0


def test_some_moves_come_without_precursor(
    market: tuple[dict[str, pa.Table], pa.Table],
) -> None:
    _, truth = market
    surprise = truth.filter(pc.invert(truth.column("has_precursor")))
    assert surprise.num_rows > 0
    assert not pc.any(surprise.column("false_alarm")).as_py()
