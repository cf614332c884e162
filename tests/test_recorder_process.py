"""``csx record`` as a process against the fake exchange: SIGTERM commits the open batch;
SIGKILL at random points loses nothing committed and leaves a store that verifies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from csx_core.store import KIND_ORDER, EventStore
from csx_live.exchange import ExchangeConfig, FakeExchange, ListSource
from tests.test_recorder import market

SYMBOLS = ("BTCUSDT", "ETHUSDT")
ROOT = Path(__file__).resolve().parents[1]


def stored(store: EventStore) -> int:
    return sum(store.read(kind).num_rows for kind in KIND_ORDER)


async def eventually(condition: Callable[[], bool], within_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Recorder:
    """One ``csx record`` process; its JSON log lines are collected as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.logs: list[dict[str, object]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            with contextlib.suppress(json.JSONDecodeError):
                self.logs.append(json.loads(line))

    def committed(self) -> int:
        """Events the process reported committed (each log line follows its commit)."""
        done = [r["events_written"] for r in self.logs if r.get("msg") == "batch committed"]
        return int(done[-1]) if done else 0  # type: ignore[call-overload]

    def batches(self) -> int:
        return sum(r.get("msg") == "batch committed" for r in self.logs)


@contextlib.asynccontextmanager
async def recording(exchange: FakeExchange, store: Path, *args: str) -> AsyncIterator[Recorder]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csx_core.cli", "record",
        "--ws-url", exchange.ws_url, "--rest-url", exchange.rest_url, "--store", str(store),
        "--symbols", ",".join(SYMBOLS), "--channels", "bookTicker,aggTrade,kline_1m", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    rec = Recorder(proc)
    try:
        yield rec
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await rec.reader


async def test_sigterm_commits_the_open_batch(tmp_path: Path) -> None:
    events = market(300, SYMBOLS)
    config = ExchangeConfig(speed=None, await_clients=2)
    async with FakeExchange(ListSource(events), config) as exchange:
        store = EventStore(tmp_path, hash_on_read=False)
        full = len(events) // 1000 * 1000
        async with recording(
            exchange, tmp_path, "--batch-events", "1000", "--flush-s", "600"
        ) as rec:
            await eventually(lambda: exchange.counters.events_replayed == len(events), 30.0)
            await eventually(lambda: rec.committed() == full, 30.0)
            assert stored(store) == full  # the rest waits in the open batch
            rec.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(rec.proc.wait(), 30.0) == 0
            assert rec.proc.stdout is not None
            summary = json.loads((await rec.proc.stdout.read()).decode())
    assert summary["recorder"]["events_written"] == len(events)
    assert summary["malformed"] == 0
    assert stored(store) == len(events)
    assert store.verify() == []


@pytest.mark.parametrize("seed", [1, 2])
async def test_sigkill_mid_write_loses_at_most_the_open_batch(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    batch = 400
    config = ExchangeConfig(speed=200.0, loop=True)
    async with FakeExchange(ListSource(market(120, SYMBOLS)), config) as exchange:
        store = EventStore(tmp_path)
        before = 0
        for _ in range(2):
            args = ("--batch-events", str(batch), "--flush-s", "600")
            async with recording(exchange, tmp_path, *args) as rec:
                await eventually(lambda: rec.batches() >= 3, 60.0)
                await asyncio.sleep(rng.uniform(0.0, 0.3))
                rec.proc.kill()
                await rec.proc.wait()
                await rec.reader
            assert rec.proc.returncode == -signal.SIGKILL
            assert store.verify() == []
            now = stored(store)
            committed = before + rec.committed()
            assert committed <= now <= committed + batch
            before = now
        leftovers = store.orphans()
        assert set(store.clean_orphans()) == set(leftovers)
        assert store.verify() == []
        assert stored(store) == before
