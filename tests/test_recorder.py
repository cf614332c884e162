"""The recorder's batching and gap journal, the route merge, and the runner's recording and
digest hooks (including the kline rule shared with offline replay)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from csx_core.contracts import BookTop, Kline, MarketEvent, Trade
from csx_core.features import FeatureEngine
from csx_core.replay import replay_store
from csx_core.store import EventStore, WriteReport
from csx_live.connectors.gaps import GapLedger
from csx_live.queue import DropOldestQueue
from csx_live.recorder import GAPS_FILE, BatchRecorder, GapJournal, read_gaps, replay_gaps
from csx_live.route_merge import RouteMerge
from csx_live.runner import Runner, RunnerConfig
from csx_live.state import LiveState

SEC = 1_000_000_000
T0 = 1_767_225_600 * SEC + 3600 * SEC  # 2026-01-01T01:00Z


def trade(symbol: str, ts: int, n: int, price: float = 100.0, recv: int | None = None) -> Trade:
    return Trade(symbol=symbol, ts_event=ts, ts_recv=recv or ts, trade_id=n, price=price,
                 qty=0.5 + n % 3, buyer_is_maker=n % 2 == 0)  # fmt: skip


def book(symbol: str, ts: int, n: int, price: float = 100.0, recv: int | None = None) -> BookTop:
    return BookTop(symbol=symbol, ts_event=ts, ts_recv=recv or ts, update_id=n,
                   bid_price=price - 0.1, bid_qty=2.0, ask_price=price + 0.1,
                   ask_qty=3.0)  # fmt: skip


def kline(symbol: str, close_ns: int) -> Kline:
    return Kline(symbol=symbol, ts_event=close_ns, ts_recv=close_ns, interval="1m",
                 open_time=close_ns - 60 * SEC, close_time=close_ns - 1, open=99.0, high=101.0,
                 low=98.0, close=100.0, volume=7.0, quote_volume=700.0, trades=9,
                 taker_buy_volume=3.0, taker_buy_quote_volume=300.0, closed=True)  # fmt: skip


def market(seconds: int, symbols: Sequence[str] = ("AAAUSDT", "BBBUSDT")) -> list[MarketEvent]:
    """Trades and book tops every 250 ms per symbol, a closed 1m kline at each minute."""
    out: list[MarketEvent] = []
    n = 0
    for q in range(seconds * 4):
        ts = T0 + q * SEC // 4 + 1_000_000
        for k, s in enumerate(symbols):
            n += 1
            px = 100.0 * (k + 1) + (q % 7) * 0.1
            out += [trade(s, ts, n, px), book(s, ts + 1, n, px)]
            if q % 240 == 239:
                out.append(kline(s, ts + 2))
    return out


class Wall:
    def __init__(self) -> None:
        self.ns = T0

    def __call__(self) -> int:
        return self.ns


# -- BatchRecorder ---------------------------------------------------------------------------
def test_batches_rotate_by_count_and_by_age(tmp_path: Path) -> None:
    wall = Wall()
    store = EventStore(tmp_path)
    rec = BatchRecorder(store, batch_events=10, flush_s=2.0, background=False, wall_ns=wall)
    events = market(5)
    rec.add(events[:6])
    assert (rec.pending, rec.stats.batches, store.kinds()) == (6, 0, [])
    rec.add(events[6:12])
    assert (rec.pending, rec.stats.batches, rec.stats.events_written) == (0, 1, 12)
    rec.add(events[12:13])
    wall.ns += 2 * SEC
    rec.poll()
    assert (rec.stats.batches, rec.stats.events_written) == (2, 13)
    assert store.read("trade").num_rows + store.read("book_top").num_rows == 13


def test_close_commits_the_open_batch_and_duplicates_are_counted(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    rec = BatchRecorder(store, batch_events=1000, flush_s=60.0)
    events = market(3)
    rec.add(events)
    rec.add(events[:5])
    rec.close()
    assert rec.stats.events_in == len(events) + 5
    assert (rec.stats.events_written, rec.stats.duplicates) == (len(events), 5)
    assert store.verify() == []


class FailingStore(EventStore):
    def write_events(self, events: object) -> list[WriteReport]:
        raise OSError("disk full")


def test_a_failed_write_is_counted_not_raised(tmp_path: Path) -> None:
    rec = BatchRecorder(FailingStore(tmp_path), batch_events=4, background=False)
    rec.add(market(1))
    assert (rec.stats.write_errors, rec.stats.events_rejected, rec.stats.batches) == (1, 16, 0)


def test_bad_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_events"):
        BatchRecorder(EventStore(tmp_path), batch_events=0)
    with pytest.raises(ValueError, match="flush_s"):
        BatchRecorder(EventStore(tmp_path), flush_s=0)


# -- GapJournal ------------------------------------------------------------------------------
def test_closed_gaps_are_journalled_and_read_back_for_replay(tmp_path: Path) -> None:
    ledger = GapLedger()
    position = iter([1_000, None])
    journal = GapJournal(tmp_path / GAPS_FILE, position=lambda: next(position))
    ledger.on_close.append(journal.append)
    ledger.open("public-0", ("aaausdt@bookTicker", "bbbusdt@bookTicker"), 10, "closed")
    ledger.open("market-0", ("!markPrice@arr@1s",), 12, "stale")
    ledger.close("public-0", 20)
    ledger.close("market-0", 30)
    ledger.open("public-0", ("aaausdt@bookTicker",), 40, "closed")  # still open: not written
    with (tmp_path / GAPS_FILE).open("a") as f:
        f.write('{"shard_id": "torn", "start_ns": 5')  # a crash mid-append
    records = read_gaps(tmp_path / GAPS_FILE)
    assert [r["shard_id"] for r in records] == ["public-0", "market-0"]
    assert [r["declared_at_ns"] for r in records] == [1_000, None]
    assert replay_gaps(tmp_path) == [("AAAUSDT", 10, 20), ("BBBUSDT", 10, 20), (None, 12, 30)]
    assert replay_gaps(tmp_path / "elsewhere") == []


# -- RouteMerge ------------------------------------------------------------------------------
def test_merge_releases_both_routes_in_event_time_order() -> None:
    merge = RouteMerge(idle_s=1.0, quiet_s=1.0)
    books = [book("AAAUSDT", T0 + i * SEC, i, recv=T0) for i in range(6)]
    trades = [trade("AAAUSDT", T0 + i * SEC + 1, i, recv=T0) for i in range(6)]
    assert merge.push(trades[:4], T0) == []  # /market first: /public may be behind it
    out = merge.push(books[:2], T0)
    assert out == [books[0], trades[0], books[1]]  # up to the watermark, /public's 1 s
    assert merge.push(trades[4:], T0) == []
    out = merge.push(books[2:5], T0)
    assert [e.ts_event - T0 for e in out] == [SEC + 1, 2 * SEC, 2 * SEC + 1, 3 * SEC,
                                              3 * SEC + 1, 4 * SEC]  # fmt: skip
    assert merge.held == 2
    assert merge.push([], T0 + 5 * SEC) == []  # a slow runner does not make a route idle
    assert merge.release(T0 + SEC // 2) == []  # quiet, but not for idle_s yet
    idle = merge.release(T0 + SEC)  # nothing received for idle_s: nothing holds the rest
    assert [e.ts_event - T0 for e in idle] == [4 * SEC + 1, 5 * SEC + 1]


def test_a_stalled_route_stops_holding_once_the_other_kept_receiving() -> None:
    merge = RouteMerge(idle_s=1.0, quiet_s=1.0)
    top = book("AAAUSDT", T0, 0, recv=T0)
    assert merge.push([top], T0) == []
    first = [trade("AAAUSDT", T0 + i * SEC, i, recv=T0 + SEC // 2) for i in range(1, 3)]
    assert merge.push(first, T0) == [top]  # trades held for /public (0.5 s since its frame)
    later = [trade("AAAUSDT", T0 + 3 * SEC, 3, recv=T0 + SEC)]
    out = merge.push(later, T0 + 9 * SEC)
    assert out == [*first, *later]  # /market received for 1 s after /public's last frame


def test_a_route_never_heard_from_holds_only_for_the_idle_time() -> None:
    merge = RouteMerge(idle_s=1.0, quiet_s=1.0)
    trades = [trade("AAAUSDT", T0 + i * SEC, i, recv=T0) for i in range(3)]
    assert merge.push(trades, T0) == []
    assert merge.release(T0 + SEC - 1) == []
    assert merge.release(T0 + SEC) == trades
    late = trade("AAAUSDT", T0 + 5 * SEC, 5, recv=T0 + SEC)
    assert merge.push([late], T0 + SEC) == [late]


def test_merge_orders_a_lagging_route_before_the_leading_one() -> None:
    merge = RouteMerge(idle_s=1.0, quiet_s=1.0)
    merge.push([book("AAAUSDT", T0, 0, recv=T0)], T0)
    merge.push([trade("AAAUSDT", T0 + i * SEC, i, recv=T0) for i in range(1, 5)], T0)
    books = [book("AAAUSDT", T0 + i * SEC // 2, i, recv=T0) for i in range(1, 9)]
    out = merge.push(books, T0)
    times = [e.ts_event for e in out]
    assert times == sorted(times)
    assert merge.held == 0  # the book lane reached 4 s, the trades' last time


# -- Runner hooks ------------------------------------------------------------------------------
def make_runner(**config: object) -> Runner:
    return Runner(
        state=LiveState(),
        queue=DropOldestQueue(10_000),
        decode=lambda frame, recv_ns: (),
        engine=FeatureEngine(),
        config=RunnerConfig(**config),  # type: ignore[arg-type]
    )


def test_the_recorder_sees_every_event_in_consumption_order() -> None:
    runner = make_runner()
    seen: list[MarketEvent] = []
    runner.recorder = seen.extend
    events = market(130)
    runner.process(events[:100])
    runner.process(events[100:])
    assert seen == events  # klines included, even those the engine skips


def test_runner_digest_equals_offline_replay_of_the_same_events(tmp_path: Path) -> None:
    events = market(130)
    assert sum(type(e) is Kline for e in events) == 4
    EventStore(tmp_path).write_events(events)
    offline = replay_store(tmp_path, None)
    shadowing, doubled = make_runner(), make_runner(shadow_klines=False)
    for runner in (shadowing, doubled):
        runner.process(events)
    assert shadowing.digest.ticks == offline.ticks == 129
    assert shadowing.digest.hexdigest() == offline.digest
    assert doubled.digest.hexdigest() != offline.digest  # klines counted on top of trades


def test_a_recorder_failure_never_stops_the_runner() -> None:
    runner = make_runner()

    def broken(events: Sequence[MarketEvent]) -> None:
        raise OSError("disk full")

    runner.recorder = broken
    runner.process(market(3))
    assert runner.record_errors == 1
    assert runner.state.counters.ticks == 2


@pytest.mark.parametrize("merge_idle_s", [0.05, None])
async def test_the_run_loop_merges_routes_that_arrive_out_of_step(
    tmp_path: Path, merge_idle_s: float | None
) -> None:
    events = market(20)
    EventStore(tmp_path).write_events(events)
    offline = replay_store(tmp_path, None)
    runner = make_runner(merge_idle_s=merge_idle_s, tick_fallback_s=3600.0)
    # /market delivers 10 s of trades before /public's book tops for the same time arrive
    trades = [e for e in events if type(e) is not BookTop]
    books = [e for e in events if type(e) is BookTop]
    for lo in range(0, 20 * SEC, 10 * SEC):
        runner.queue.put_many([e for e in trades if lo <= e.ts_event - T0 < lo + 10 * SEC])
        runner.queue.put_many([e for e in books if lo <= e.ts_event - T0 < lo + 10 * SEC])
    task = asyncio.create_task(runner.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while runner.digest.ticks < 19 or (runner.merge is not None and runner.merge.held):
            assert loop.time() < deadline, "events not consumed in time"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if merge_idle_s is None:
        assert runner.engine.late_events > 0
        assert runner.digest.hexdigest() != offline.digest
    else:
        assert runner.engine.late_events == 0
        assert runner.digest.hexdigest() == offline.digest
