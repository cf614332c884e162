"""A recorder restart journals its own downtime: one store-wide gap from the last committed
event time to the first new event time (issue 22, item 5); a fresh store journals none."""

from __future__ import annotations

import asyncio
from pathlib import Path

from csx_core.contracts import Kline, MarketEvent
from csx_core.store import EventStore
from csx_live.config import load_settings
from csx_live.exchange import ExchangeConfig, FakeExchange, ListSource
from csx_live.recorder import (
    DOWNTIME_REASON,
    GAPS_FILE,
    BatchRecorder,
    DowntimeGap,
    GapJournal,
    RecordSummary,
    last_committed_ns,
    read_gaps,
    record,
    replay_gaps,
)
from tests.test_recorder import SEC, T0, book, market, trade

SYMBOLS = ("BTCUSDT", "ETHUSDT")
LATER = 3600 * SEC  # the second session's events start an hour after the first's


def later_market(seconds: int) -> list[MarketEvent]:
    """Trades and book tops like ``market``'s, every 250 ms, ``LATER`` after its start."""
    out: list[MarketEvent] = []
    for q in range(seconds * 4):
        ts = T0 + LATER + q * SEC // 4 + 1_000_000
        for k, s in enumerate(SYMBOLS):
            n = 1_000_000 + 2 * q + k
            out += [trade(s, ts, n, 100.0 * (k + 1)), book(s, ts + 1, n, 100.0 * (k + 1))]
    return out


def stored_times(root: Path) -> list[int]:
    store = EventStore(root)
    return [t for k in store.kinds() for t in store.read(k).column("ts_event").to_pylist()]


async def record_session(
    store: Path, events: list[MarketEvent], batch_events: int
) -> RecordSummary:
    """One in-process ``record`` session against the fake exchange, stopped once every event
    is committed."""
    config = ExchangeConfig(speed=None, await_clients=2)
    async with FakeExchange(ListSource(events), config) as exchange:
        settings = load_settings(
            env={},
            overrides={
                "ws_url": exchange.ws_url,
                "rest_url": exchange.rest_url,
                "symbols": ",".join(SYMBOLS),
                "channels": "bookTicker,aggTrade",
            },
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            record(settings, store, stop=stop, batch_events=batch_events, flush_s=0.2)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        target = len(stored_times(store)) + len(events)
        while len(stored_times(store)) < target:
            assert loop.time() < deadline, "events not committed in time"
            assert not task.done(), task
            await asyncio.sleep(0.05)
        stop.set()
        return await asyncio.wait_for(task, 30.0)


async def test_a_restart_journals_its_downtime_and_a_fresh_store_does_not(
    tmp_path: Path,
) -> None:
    first = [e for e in market(20, SYMBOLS) if type(e) is not Kline]
    summary = await record_session(tmp_path, first, batch_events=50)
    assert summary.gaps == 0  # a fresh store: no downtime entry
    assert read_gaps(tmp_path / GAPS_FILE) == []
    last = max(stored_times(tmp_path))  # the wire carries ms: not max(first)'s ns
    assert last_committed_ns(EventStore(tmp_path)) == last

    second = later_market(10)
    summary = await record_session(tmp_path, second, batch_events=50)
    assert summary.gaps == 1
    records = read_gaps(tmp_path / GAPS_FILE)
    assert len(records) == 1
    (entry,) = records
    first_new = min(t for t in stored_times(tmp_path) if t > last)
    assert entry["reason"] == DOWNTIME_REASON
    assert (entry["start_ns"], entry["end_ns"]) == (last, first_new)
    assert replay_gaps(tmp_path) == [(None, last, first_new)]


def test_downtime_is_taken_from_the_manifests_after_an_unclean_stop(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    events = market(30)
    rec = BatchRecorder(store, batch_events=40, background=False)
    for lo in range(0, 45, 5):  # never closed: the open batch dies with the "killed" process
        rec.add(events[lo : lo + 5])
    committed = events[:40]
    assert (rec.stats.events_written, rec.pending) == (40, 5)
    since = last_committed_ns(EventStore(tmp_path))
    assert since == max(e.ts_event for e in committed)

    journal = GapJournal(tmp_path / GAPS_FILE)
    downtime = DowntimeGap(journal, since)
    later = later_market(2)
    downtime.on_events(later[4:8])
    downtime.on_events(later[:4])  # only the first events after the restart count
    start = min(e.ts_event for e in later[4:8])
    assert journal.written == 1
    assert replay_gaps(tmp_path) == [(None, since, start)]
    assert read_gaps(tmp_path / GAPS_FILE)[0]["reason"] == DOWNTIME_REASON


def test_no_downtime_entry_for_a_fresh_store_or_events_not_later(tmp_path: Path) -> None:
    assert last_committed_ns(EventStore(tmp_path)) is None
    journal = GapJournal(tmp_path / GAPS_FILE)
    DowntimeGap(journal, None).on_events(market(1))
    DowntimeGap(journal, T0 + 10 * SEC).on_events(market(1))  # a replay of older data
    assert journal.written == 0
    assert replay_gaps(tmp_path) == []
