"""Replay: events -> wide Parquet + digest; same input and config => same digest, anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csx_core.contracts import EVENT_KINDS, BookTop, Kline, MarketEvent, Trade, event_kind
from csx_core.features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    PRICE_COLUMNS,
    WIDE_SCHEMA,
    EngineConfig,
    SnapshotDigest,
    TickBatch,
    digest_table,
)
from csx_core.features.buckets import MAX_AHEAD_S
from csx_core.features.shadow import ShadowKlines
from csx_core.replay import replay_batches, replay_store, without_shadowed_klines
from tests.conftest import REPO_ROOT

S = 1_000_000_000
DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z (s)


def tables_of(events: list[MarketEvent]) -> dict[str, pa.Table]:
    groups: dict[str, list[MarketEvent]] = {}
    for event in events:
        groups.setdefault(event_kind(event), []).append(event)
    return {k: EVENT_KINDS[k].to_arrow(v) for k, v in groups.items()}  # type: ignore[arg-type]


def market(start_s: int, seconds: int) -> list[MarketEvent]:
    events: list[MarketEvent] = []
    for k in range(seconds * 4):
        ts = start_s * S + k * S // 4
        sym = ("BTCUSDT", "ETHUSDT")[k % 2]
        base = 60_000.0 if sym == "BTCUSDT" else 3_000.0
        if k % 3:
            events.append(
                Trade(
                    symbol=sym,
                    ts_event=ts,
                    ts_recv=ts,
                    trade_id=k,
                    price=base + (k * 7919) % 13,
                    qty=0.001 * (1 + k % 5),
                    buyer_is_maker=k % 4 == 0,
                )
            )
        else:
            events.append(
                BookTop(
                    symbol=sym,
                    ts_event=ts,
                    ts_recv=ts,
                    update_id=k,
                    bid_price=base,
                    bid_qty=1.0 + k % 3,
                    ask_price=base + 0.1,
                    ask_qty=2.0,
                )
            )
    return events


def test_replay_writes_the_wide_table_and_its_digest(tmp_path: Path) -> None:
    events = market(DAY0 - 30, 90)  # crosses midnight: two daily files
    result = replay_batches([tables_of(events)], out=tmp_path)
    assert result.files == ("date=2025-12-31/features.parquet", "date=2026-01-01/features.parquet")
    table = pa.concat_tables([pq.read_table(tmp_path / f) for f in result.files])
    assert table.schema.names == ["symbol", "ts", "warm", "gap", *PRICE_COLUMNS, *FEATURE_NAMES]
    assert table.schema.equals(WIDE_SCHEMA)
    meta = table.schema.metadata
    assert meta[b"csx.feature_version"] == FEATURE_VERSION.encode()
    assert json.loads(meta[b"csx.feature_names"]) == list(FEATURE_NAMES)
    assert table.num_rows == result.rows == 2 * result.ticks
    assert digest_table(table) == result.digest
    assert result.events == len(events)
    summary = json.loads((tmp_path / "replay.json").read_text())
    assert summary["digest"] == result.digest
    assert summary["config"]["cadence_s"] == 1


def test_small_flushes_write_the_same_files_as_one(tmp_path: Path) -> None:
    from tests.test_replay_batch import same_tables

    # Each flush is encoded in the writer's thread while the next ticks are computed. Each
    # day spans a few fills of the bucket ring, so a day is several batches of ticks.
    events = tables_of(market(DAY0 - 3 * MAX_AHEAD_S, 6 * MAX_AHEAD_S))
    one = replay_batches([events], out=tmp_path / "one")
    many = replay_batches([events], out=tmp_path / "many", flush_rows=7)
    assert (
        one.files
        == many.files
        == (
            "date=2025-12-31/features.parquet",
            "date=2026-01-01/features.parquet",
        )
    )
    for name in one.files:
        whole, parts = (
            pq.ParquetFile(tmp_path / "one" / name),
            pq.ParquetFile(tmp_path / "many" / name),
        )
        assert parts.metadata.num_row_groups > whole.metadata.num_row_groups
        assert same_tables(parts.read(), whole.read())


def test_a_failed_parquet_write_is_raised_and_leaves_no_day_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 0

    def fail_second(self: pq.ParquetWriter, table: pa.Table, **kw: object) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_second)
    with pytest.raises(OSError, match="disk full"):
        replay_batches([tables_of(market(DAY0, 900))], out=tmp_path, flush_rows=20)
    assert writes == 2  # the error stopped the replay at the next flush
    assert not list(tmp_path.rglob("features.parquet"))
    assert not (tmp_path / "replay.json").exists()


def test_a_failed_digest_in_its_thread_is_raised_by_the_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashed = 0
    real = SnapshotDigest.update_batch

    def fail_second(self: SnapshotDigest, batch: TickBatch) -> None:
        nonlocal hashed
        hashed += 1
        if hashed == 2:
            raise MemoryError("no room to hash")
        real(self, batch)

    monkeypatch.setattr(SnapshotDigest, "update_batch", fail_second)
    # one batch of events per minute: a run of ticks each, so several runs reach the hasher
    events = market(DAY0, 600)
    minutes = [[e for e in events if (e.ts_event // S - DAY0) // 60 == m] for m in range(10)]
    with pytest.raises(MemoryError, match="no room to hash"):
        replay_batches([tables_of(chunk) for chunk in minutes if chunk])
    assert hashed == 2


def test_same_events_same_digest_whatever_the_batches() -> None:
    events = market(DAY0, 200)
    whole = replay_batches([tables_of(events)])
    split = replay_batches([tables_of(events[:301]), tables_of(events[301:])])
    assert whole.digest == split.digest
    other = replay_batches([tables_of(events)], config=EngineConfig(cadence_s=2))
    assert other.digest != whole.digest


def test_declared_gaps_change_the_digest() -> None:
    events = market(DAY0, 100)
    plain = replay_batches([tables_of(events)])
    gapped = replay_batches(
        [tables_of(events)], gaps=[("ETHUSDT", (DAY0 + 40) * S, (DAY0 + 45) * S)]
    )
    assert plain.digest != gapped.digest


def test_klines_of_traded_symbols_are_dropped_not_double_counted() -> None:
    ts = DAY0 * S
    bar = Kline(
        symbol="BTCUSDT",
        ts_event=ts,
        ts_recv=ts,
        interval="1m",
        open_time=ts - 60 * S,
        close_time=ts,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=1.0,
        quote_volume=1.0,
        trades=1,
        taker_buy_volume=0.0,
        taker_buy_quote_volume=0.0,
        closed=True,
    )
    bar_only = Kline(**{**_fields(bar), "symbol": "SOLUSDT"})
    later = (DAY0 + 1) * S  # after BTCUSDT's first trades of the day
    after_trades = Kline(**{**_fields(bar), "ts_event": later, "close_time": later})
    events = [*market(DAY0, 2), bar, bar_only, after_trades]
    kept = without_shadowed_klines(tables_of(events))["kline"]
    # the bar closing before the day's first trade is the only record of it: fed
    assert kept.column("symbol").to_pylist() == ["BTCUSDT", "SOLUSDT"]
    assert kept.column("ts_event").to_pylist() == [DAY0 * S, DAY0 * S]
    # the per-event rule the live runner applies agrees, in time order
    shadow = ShadowKlines()
    fed = [e for e in sorted(events, key=lambda e: e.ts_event) if shadow.keep(e)]
    assert sorted((e.symbol, e.ts_event) for e in fed if isinstance(e, Kline)) == [
        ("BTCUSDT", DAY0 * S),
        ("SOLUSDT", DAY0 * S),
    ]


def _fields(event: Kline) -> dict[str, object]:
    return {f: getattr(event, f) for f in event.__struct_fields__}


def _csx(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "csx_core.cli", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=600,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_csx_replay_twice_in_fresh_processes_gives_one_digest(tmp_path: Path) -> None:
    from csx_core.store import EventStore

    store = EventStore(tmp_path / "events")
    for kind, table in tables_of(market(DAY0, 120)).items():
        store.write(kind, table)
    first = _csx("replay", "--store", str(tmp_path / "events"), "--out", str(tmp_path / "a"))
    second = _csx("replay", "--store", str(tmp_path / "events"), "--out", str(tmp_path / "b"))
    assert first["digest"] == second["digest"]
    assert first["rows"] == 2 * 119
    in_process = replay_store(tmp_path / "events", None)
    assert in_process.digest == first["digest"]
    windowed = _csx(
        "replay",
        "--store",
        str(tmp_path / "events"),
        "--out",
        str(tmp_path / "c"),
        "--start",
        "2026-01-02",
    )
    assert windowed["events"] == 0


@pytest.mark.slow
def test_simulated_market_replays_to_the_same_digest_twice(tmp_path: Path) -> None:
    sim = pytest.importorskip("csx_core.sim")
    from csx_core.store import EventStore

    config = sim.SimConfig(days=1, n_symbols=3, start=date(2026, 1, 1))
    sim.write_to_store(config, EventStore(tmp_path / "events"))
    args = ["replay", "--store", str(tmp_path / "events"), "--cadence", "30"]
    first = _csx(*args, "--out", str(tmp_path / "a"))
    second = _csx(*args, "--out", str(tmp_path / "b"))
    assert first["digest"] == second["digest"]
    assert first["ticks"] == 86_400 // 30 - 1
    assert first["late_events"] == 0
    table = pq.read_table(tmp_path / "a" / "date=2026-01-01" / "features.parquet")
    assert table.num_rows == first["rows"]
    warm = table.filter(table.column("warm"))
    assert warm.num_rows > 0
    assert pa.compute.all(pa.compute.is_finite(warm.column("spread_bps"))).as_py()
