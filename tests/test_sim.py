"""Simulator: determinism, contract conformance, grids, rates and config validation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from csx_core.cli import main
from csx_core.contracts import EVENT_KINDS
from csx_core.sim import (
    SimConfig,
    SimConfigError,
    episodes,
    simulate,
    simulate_day,
    tables_digest,
    write_to_store,
)
from csx_core.store import EventStore

SMALL = SimConfig(seed=11, n_symbols=3, days=2, start=date(2026, 3, 1))
NS_PER_DAY = 86_400 * 1_000_000_000


@pytest.fixture(scope="module")
def day0() -> dict[str, pa.Table]:
    return simulate_day(SMALL, 0)


def _per_row(table: pa.Table, config: SimConfig, attr: str) -> np.ndarray[Any, Any]:
    """``attr`` of each row's symbol spec, looked up without Python-level row loops."""
    names = pa.array(config.symbol_names)
    idx = pc.index_in(table.column("symbol"), value_set=names).to_numpy()
    return np.array([getattr(s, attr) for s in config.specs])[idx]


def test_same_seed_gives_the_same_digest_and_days_are_independent(
    day0: dict[str, pa.Table],
) -> None:
    again = simulate_day(SMALL, 0)
    assert tables_digest(again) == tables_digest(day0)
    sequential = [tables for _, tables in simulate(SMALL)]
    assert tables_digest(sequential[0]) == tables_digest(day0)
    alone = simulate_day(SMALL, 1)
    assert tables_digest(sequential[1]) == tables_digest(alone)


def test_a_different_seed_gives_a_different_market(day0: dict[str, pa.Table]) -> None:
    other = simulate_day(replace(SMALL, seed=12), 0)
    assert tables_digest(other) != tables_digest(day0)


@pytest.mark.parametrize("kind", list(EVENT_KINDS))
def test_tables_match_the_contract_schema_and_decode(day0: dict[str, pa.Table], kind: str) -> None:
    table = day0[kind]
    contract = EVENT_KINDS[kind]
    assert table.schema.equals(contract.arrow_schema(), check_metadata=True)
    assert table.num_rows > 0
    step = max(1, table.num_rows // 500)
    sample = table.take(pa.array(np.arange(0, table.num_rows, step)))
    records = contract.from_arrow(sample)
    assert len(records) == sample.num_rows


@pytest.mark.parametrize("kind", list(EVENT_KINDS))
def test_times_are_whole_ms_sorted_within_the_day_and_received_later(
    day0: dict[str, pa.Table], kind: str
) -> None:
    ts = day0[kind].column("ts_event").to_numpy()
    recv = day0[kind].column("ts_recv").to_numpy()
    start = (SMALL.start - date(1970, 1, 1)).days * NS_PER_DAY
    assert np.all(ts % 1_000_000 == 0)
    assert np.all(np.diff(ts) >= 0)
    assert ts.min() >= start
    assert ts.max() < start + NS_PER_DAY
    lag = recv - ts
    assert lag.min() >= 1_000_000
    assert np.all(lag % 1_000_000 == 0)


def _on_grid(values: np.ndarray[Any, Any], unit: np.ndarray[Any, Any]) -> bool:
    k = values / unit
    return bool(np.all(np.abs(k - np.rint(k)) < 1e-6))


@pytest.mark.parametrize(
    ("kind", "price_cols", "qty_cols"),
    [
        ("trade", ["price"], ["qty"]),
        ("book_top", ["bid_price", "ask_price"], ["bid_qty", "ask_qty"]),
        ("kline", ["open", "high", "low", "close"], ["volume", "taker_buy_volume"]),
        ("mark_price", ["mark_price", "index_price"], []),
        ("liquidation", ["price", "avg_price"], ["qty"]),
    ],
)
def test_prices_sit_on_the_tick_grid_and_sizes_on_the_step_grid(
    day0: dict[str, pa.Table], kind: str, price_cols: list[str], qty_cols: list[str]
) -> None:
    table = day0[kind]
    ticks = _per_row(table, SMALL, "tick_size")
    steps = _per_row(table, SMALL, "step_size")
    for col in price_cols:
        assert _on_grid(table.column(col).to_numpy(), ticks), col
    for col in qty_cols:
        assert _on_grid(table.column(col).to_numpy(), steps), col


def test_book_is_never_crossed_and_spreads_widen_with_volatility(
    day0: dict[str, pa.Table],
) -> None:
    book = day0["book_top"]
    bid = book.column("bid_price").to_numpy()
    ask = book.column("ask_price").to_numpy()
    assert np.all(bid < ask)
    assert np.all(book.column("bid_qty").to_numpy() > 0)
    eth = pc.equal(book.column("symbol"), "ETHUSDT").to_numpy(zero_copy_only=False)
    rel = ((ask - bid) / bid)[eth]
    mid = ((ask + bid) / 2)[eth]
    ret = np.abs(np.diff(np.log(mid)))
    high = rel[1:][ret > np.quantile(ret, 0.95)].mean()
    low = rel[1:][ret < np.quantile(ret, 0.5)].mean()
    assert high > low


def test_klines_agree_with_the_trades(day0: dict[str, pa.Table]) -> None:
    kl = day0["kline"]
    assert pc.sum(kl.column("trades")).as_py() == day0["trade"].num_rows
    assert kl.num_rows == 3 * 1440
    low = kl.column("low").to_numpy()
    high = kl.column("high").to_numpy()
    assert np.all(low <= np.minimum(kl.column("open").to_numpy(), kl.column("close").to_numpy()))
    assert np.all(high >= np.maximum(kl.column("open").to_numpy(), kl.column("close").to_numpy()))


def test_event_rates_are_in_the_configured_range(day0: dict[str, pa.Table]) -> None:
    per_symbol_second = {k: t.num_rows / (3 * 86_400) for k, t in day0.items()}
    assert 0.2 < per_symbol_second["trade"] < 5.0
    assert 0.3 < per_symbol_second["book_top"] < 3.0
    assert per_symbol_second["mark_price"] == pytest.approx(1 / 3)
    assert 0 < per_symbol_second["liquidation"] < 0.05
    trades = day0["trade"]
    btc = pc.sum(pc.equal(trades.column("symbol"), "BTCUSDT")).as_py()
    sol = pc.sum(pc.equal(trades.column("symbol"), "SOLUSDT")).as_py()
    assert btc > sol


def test_ids_increase_with_time_per_symbol_and_across_days(day0: dict[str, pa.Table]) -> None:
    day1 = simulate_day(SMALL, 1)
    for kind, field in (("trade", "trade_id"), ("book_top", "update_id")):
        both = pa.concat_tables([day0[kind], day1[kind]])
        for symbol in SMALL.symbol_names:
            ids = both.filter(pc.equal(both.column("symbol"), symbol)).column(field).to_numpy()
            assert np.all(np.diff(ids) > 0), (kind, symbol)


def test_episode_truth_has_false_alarms_and_surprise_moves() -> None:
    truth = episodes(SMALL, 0)
    assert truth.num_rows > 10
    fa = truth.column("false_alarm").to_numpy()
    pre = truth.column("has_precursor").to_numpy()
    assert fa.any()
    assert (~pre).any()
    assert truth.column("precursor_start").null_count == int((~pre).sum())
    sizes = truth.column("size_bps").to_numpy()
    assert sizes.min() >= 30.0
    assert sizes.max() <= 150.0


class _FakeStore:
    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    def write(self, kind: str, table: pa.Table) -> None:
        self.rows[kind] = self.rows.get(kind, 0) + table.num_rows


def test_write_to_store_hands_every_kind_to_the_sink_and_counts() -> None:
    config = replace(SMALL, n_symbols=1, days=1, klines=False)
    sink = _FakeStore()
    summary = write_to_store(config, sink)
    assert sink.rows == summary.events
    assert set(summary.events) == {"trade", "book_top", "mark_price", "liquidation"}
    assert summary.episodes == episodes(config, 0).num_rows
    assert summary.symbols == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("days", 0),
        ("n_symbols", 0),
        ("trade_rate", -1.0),
        ("hawkes_branching", 1.0),
        ("mark_interval_s", 2),
        ("false_alarm_rate", 1.5),
        ("move_bps", (50.0, 10.0)),
        ("latency_ms", 0.5),
        ("seed", -3),
        ("symbols", ("btcusdt",)),
        ("symbols", ("BTCUSDT", "BTCUSDT")),
    ],
)
def test_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(SimConfigError) as info:
        SimConfig(**{field: value})
    assert info.value.field == field
    assert field in str(info.value)


def test_unknown_symbols_get_a_stable_synthetic_spec() -> None:
    config = SimConfig(symbols=("BTCUSDT", "ZZZUSDT"), days=1)
    assert config.symbol_names == ("BTCUSDT", "ZZZUSDT")
    assert SimConfig(symbols=("ZZZUSDT",)).specs == config.specs[1:]
    assert SimConfig(n_symbols=30).symbol_names[-1].startswith("SIM")


def test_csx_simulate_writes_the_store_and_reads_back_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events"
    truth_file = tmp_path / "episodes.parquet"
    argv = ["simulate", "--days", "1", "--symbols", "1", "--seed", "9", "--start", "2026-05-01"]
    code = main([*argv, "--out", str(out), "--episodes", str(truth_file)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    config = SimConfig(seed=9, n_symbols=1, days=1, start=date(2026, 5, 1))
    expected = simulate_day(config, 0)
    assert summary["events"] == {k: t.num_rows for k, t in expected.items()}
    assert summary["episodes"] == pq.read_table(truth_file).num_rows
    store = EventStore(out)
    stored = {kind: store.read(kind) for kind in expected}
    assert tables_digest(stored) == tables_digest(expected)


def test_csx_simulate_reports_a_bad_setting_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--days", "0", "--out", str(tmp_path)]) == 2
    assert "SimConfig.days" in capsys.readouterr().out
