"""The batch tick path (many ticks at once, offline) equals the per-tick path bit for bit:
the same digests, the same wide tables (values, warm, gap, prices), the same engine state."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from csx_core.contracts import MarketEvent, Trade
from csx_core.contracts.events import EVENT_TYPES
from csx_core.features import (
    EngineConfig,
    FeatureEngine,
    SnapshotDigest,
    batches_to_table,
    digest_frames,
    drive_tables,
    drive_tables_batched,
    frames_to_table,
)
from csx_core.replay import ReplayResult, replay_batches, without_shadowed_klines
from csx_core.wire import decode_frame
from tests.test_features_realdata import read_capture
from tests.test_replay import DAY0, S, market, tables_of

STATE: tuple[str, ...] = ("isum", "fmax", "flast", "dsec", "cum", "mcum", "mfmax", "mdsec", "ff")
STATE += ("last_event", "last_trade", "last_book", "first")


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def same_tables(a: pa.Table, b: pa.Table) -> bool:
    """Equal schemas and every column equal bit for bit (NaN payloads included)."""
    if not a.schema.equals(b.schema, check_metadata=True) or a.num_rows != b.num_rows:
        return False
    for name in a.schema.names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):
            if bits(x.to_numpy()) != bits(y.to_numpy()):
                return False
        elif not x.equals(y):
            return False
    return True


def replay_both(
    tmp_path: Path, batches: list[dict[str, pa.Table]], **kwargs: object
) -> tuple[ReplayResult, pa.Table]:
    """Replay per tick and in batches; assert equal results and tables; return them."""
    ref = replay_batches(batches, out=tmp_path / "per_tick", per_tick=True, **kwargs)  # type: ignore[arg-type]
    got = replay_batches(batches, out=tmp_path / "batch", **kwargs)  # type: ignore[arg-type]
    assert got == ref
    assert got.files
    ref_table = pa.concat_tables([pq.read_table(tmp_path / "per_tick" / f) for f in ref.files])
    got_table = pa.concat_tables([pq.read_table(tmp_path / "batch" / f) for f in got.files])
    assert same_tables(got_table, ref_table)
    return got, got_table


@functools.cache
def sim_tables(seed: int, n_symbols: int, minutes: int) -> dict[str, pa.Table]:
    """The first ``minutes`` of a simulated day; the last symbol's trades are dropped so
    its klines stay (a kline-only symbol: bar closes, silences of up to a minute)."""
    sim = pytest.importorskip("csx_core.sim")
    day = sim.simulate_day(sim.SimConfig(days=1, n_symbols=n_symbols, seed=seed), 0)
    end = day["trade"]["ts_event"][0].as_py() + minutes * 60 * S
    tables = {k: t.filter(pc.less(t["ts_event"], end)) for k, t in day.items()}
    bar_only = sim.SimConfig(n_symbols=n_symbols).symbol_names[-1]
    trades = tables["trade"]
    tables["trade"] = trades.filter(pc.not_equal(trades["symbol"], bar_only))
    return without_shadowed_klines(tables)


SIM_CASES = {  # seed, minutes, config, declared gaps (symbol, from, to: s after the start)
    "default": (1, 65, EngineConfig(), ()),
    "silences-and-declared-gaps": (
        1,
        65,
        EngineConfig(gap_after_s=30, stale_after_s=3),
        (("BTCUSDT", 1_800, 1_830), (None, 2_500, 2_503)),
    ),
    "cadence-7": (3, 65, EngineConfig(cadence_s=7, beta_minutes=20, min_beta_points=5), ()),
    # the longest beta, past a full turn of the minute ring: a batch rolls 15 minutes past
    # its first tick, whose beta still reads minutes 122 back
    "beta-120-minutes": (2, 150, EngineConfig(beta_minutes=120, min_beta_points=5), ()),
}


@pytest.mark.parametrize(
    "case",
    [
        "default",
        pytest.param("silences-and-declared-gaps", marks=pytest.mark.slow),
        pytest.param("cadence-7", marks=pytest.mark.slow),
        pytest.param("beta-120-minutes", marks=pytest.mark.slow),
    ],
)
def test_simulated_market_replays_in_batches_to_the_per_tick_digest_and_table(
    tmp_path: Path, case: str
) -> None:
    seed, minutes, config, gaps_s = SIM_CASES[case]
    tables = sim_tables(seed, 3, minutes)
    t0 = int(pc.min(tables["book_top"]["ts_event"]).as_py()) // S * S
    gaps = [(sym, t0 + a * S, t0 + b * S) for sym, a, b in gaps_s]
    half = t0 + 2_000 * S  # two input batches: the split must not matter either
    batches = [
        {k: t.filter(pc.less(t["ts_event"], half)) for k, t in tables.items()},
        {k: t.filter(pc.greater_equal(t["ts_event"], half)) for k, t in tables.items()},
    ]
    result, table = replay_both(tmp_path, batches, config=config, gaps=gaps)
    assert result.ticks >= (minutes - 1) * 60 // config.cadence_s
    warm = table.column("warm").to_numpy(zero_copy_only=False)
    assert warm.any()  # the run reaches the warm-up horizon (baseline and beta minutes)
    assert np.isfinite(table.column("beta_btc").to_numpy()).any()
    assert np.isfinite(table.column("xs_ret_z_1m").to_numpy()).any()
    if gaps:
        assert table.column("gap").to_numpy(zero_copy_only=False).any()


def test_tick_many_leaves_the_engine_exactly_as_ticking_one_by_one() -> None:
    """Irregular tick times, a silence longer than the ring, and the two paths alternating
    on the same engines: every frame and every bucket array stays equal."""
    events = market(DAY0, 100) + market(DAY0 + 500, 100)
    first, second = tables_of(events[:400]), tables_of(events[400:])
    one, many = FeatureEngine(), FeatureEngine()
    assert many.tick_many([(DAY0 - 5) * S])[0].symbols == []  # before any event: empty
    one.tick((DAY0 - 5) * S)
    one.ingest(first)
    many.ingest(first)
    steps = [
        [DAY0 + 1, DAY0 + 2, DAY0 + 5, DAY0 + 61, DAY0 + 62, DAY0 + 100],
        [DAY0 + 101, DAY0 + 499],  # 400 s of silence
    ]
    for k, step in enumerate(steps):
        ticks = [s * S for s in step]
        ref = [one.tick(t) for t in ticks]
        got = [f for batch in many.tick_many(ticks) for f in batch.frames()]
        assert digest_frames(got) == digest_frames(ref)
        assert all(bits(a.prices) == bits(b.prices) for a, b in zip(got, ref, strict=True))
        one, many = (many, one) if k == 0 else (one, many)  # swap roles: mixed history
    for engine in (one, many):
        engine.ingest(second)
    ticks = [(DAY0 + 500 + s) * S for s in range(1, 100)]
    ref = [one.tick(t) for t in ticks]
    got = [f for batch in many.tick_many(ticks) for f in batch.frames()]
    assert digest_frames(got) == digest_frames(ref)
    for name in STATE:
        assert bits(getattr(one._b, name)) == bits(getattr(many._b, name)), name
    assert (one._b.closed, one._b.version, one._b.liq_seen) == (
        many._b.closed,
        many._b.version,
        many._b.liq_seen,
    )
    assert one.last_tick == many.last_tick


def test_batch_digest_and_table_equal_the_frames_ones() -> None:
    tables = tables_of(market(DAY0, 150))
    frames = list(drive_tables(FeatureEngine(), [tables]))
    batches = list(drive_tables_batched(FeatureEngine(), [tables]))
    digest = SnapshotDigest()
    for batch in batches:
        digest.update_batch(batch)
    assert digest.hexdigest() == digest_frames(frames)
    assert (digest.ticks, digest.rows) == (len(frames), sum(len(f) for f in frames))
    assert same_tables(batches_to_table(batches), frames_to_table(frames))


def test_a_value_that_would_be_infinite_is_nan_in_both_paths(tmp_path: Path) -> None:
    """A trade at the smallest positive price: ``high / low`` overflows, so the range
    ``log(high / low)`` of every window holding it would be infinite; both paths write NaN
    there (the batch one as it writes each value, the per-tick one after the tick)."""
    t_odd = (DAY0 + 100) * S + 3
    odd = Trade(
        symbol="ETHUSDT",
        ts_event=t_odd,
        ts_recv=t_odd,
        trade_id=10**6,
        price=5e-324,
        qty=0.5,
        buyer_is_maker=False,
    )
    events = sorted([*market(DAY0, 150), odd], key=lambda e: e.ts_event)
    _, table = replay_both(tmp_path, [tables_of(events)])
    floats = [c for c in table.column_names if pa.types.is_floating(table.schema.field(c).type)]
    assert not any(np.isinf(table.column(c).to_numpy()).any() for c in floats)
    eth = table.filter(pc.equal(table["symbol"], "ETHUSDT"))
    after = (eth["ts"].to_numpy() > t_odd) & (eth["ts"].to_numpy() <= t_odd + 10 * S)
    before = (eth["ts"].to_numpy() > t_odd - 20 * S) & (eth["ts"].to_numpy() < t_odd)
    for name in ("range_10s", "range_1m"):
        values = eth[name].to_numpy()
        assert np.isnan(values[after]).all(), name
        assert np.isfinite(values[before]).all(), name


def _cryptofeed_events(path: Path) -> list[MarketEvent]:
    """``<local unix s>: <combined json>`` lines (after a header line) -> market events."""
    events: list[MarketEvent] = []
    with path.open("rb") as f:
        next(f)
        for line in f:
            ts, _, frame = line.partition(b": ")
            decoded = decode_frame(frame.strip(), round(float(ts) * 1e9))
            if isinstance(decoded, EVENT_TYPES):
                events.append(decoded)
    return events


@pytest.mark.realdata
def test_real_captures_replay_in_batches_to_the_per_tick_digest(
    tmp_path: Path, realdata: Path
) -> None:
    hft = realdata / "hftbacktest_usdm_2024-08-08"
    feed = realdata / "cryptofeed_usdm_2021-07-22" / "BINANCE_FUTURES.ws.1.0"
    if not hft.is_dir() or not feed.is_file():
        pytest.skip(f"{hft} or {feed} is absent")
    btc_eth = read_capture(hft / "btcusdt_20240808.gz") + read_capture(hft / "ethusdt_20240808.gz")
    btc_eth.sort(key=lambda e: e.ts_event)
    half = len(btc_eth) // 2
    result, table = replay_both(
        tmp_path / "hft", [tables_of(btc_eth[:half]), tables_of(btc_eth[half:])]
    )
    assert result.events == len(btc_eth) > 100_000
    assert result.ticks > 300
    counts = table.column("count_1m").to_numpy()
    assert np.isfinite(counts).all()
    assert (counts[-2:] > 0).all()
    four = sorted(_cryptofeed_events(feed), key=lambda e: e.ts_event)
    result, table = replay_both(tmp_path / "feed", [tables_of(four)])
    assert set(table.column("symbol").to_pylist()) == {
        "SUSHIUSDT",
        "AKROUSDT",
        "KEEPUSDT",
        "CTKUSDT",
    }
    assert result.ticks > 25
