"""SIGKILL ``csx record`` (fed by a ``csx exchange`` process) at seeded random points, six
times in a row on one store: after every kill the store verifies, nothing the recorder
logged as committed is lost, at most the open batch is unaccounted for, and the leftovers
of the crashed writes are orphans that readers ignore and ``clean_orphans`` removes.

(``tests/test_recorder_process.py`` covers SIGTERM and two kills against an in-process
exchange; this one runs both sides as real processes, as in production.)
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from csx_core.sim import SimConfig, write_to_store
from csx_core.store import KIND_ORDER, EventStore
from csx_live.soak.processes import CSX, Managed, start_exchange

BATCH = 300
KILLS = 6


def committed(log: Path) -> tuple[int, int]:
    """(batches, events written) the recorder logged as committed so far."""
    done = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("msg") == "batch committed":
            done.append(int(record["events_written"]))
    return len(done), (done[-1] if done else 0)


def stored(store: EventStore) -> int:
    return sum(store.read(kind).num_rows for kind in KIND_ORDER)


@pytest.fixture(scope="module")
def exchange_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("exchange")
    market = EventStore(root / "store")
    write_to_store(SimConfig(seed=5, start=date(2026, 1, 1), days=1, n_symbols=3), market)
    # as fast as it can send: the recorder spends most of its time writing batches
    exchange, url = start_exchange(
        root / "store", root / "exchange.log", speed="max", max_lifetime_s=86_400, seed=0
    )
    try:
        yield url
    finally:
        exchange.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_the_recorder_process_repeatedly(exchange_url: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    store_dir = tmp_path / "recorded"
    store = EventStore(store_dir)
    before = 0
    for n in range(KILLS):
        log = tmp_path / f"record-{n}.log"
        argv = [
            *CSX, "record", "--store", str(store_dir), "--ws-url",
            exchange_url.replace("http://", "ws://", 1), "--rest-url", exchange_url,
            "--channels", "bookTicker,aggTrade,markPrice@1s", "--batch-events", str(BATCH),
            "--flush-s", "600",
        ]  # fmt: skip
        recorder = Managed(argv, log)
        deadline = time.monotonic() + 60
        while committed(log)[0] < 2:
            assert recorder.exited() is None, recorder.tail()
            assert time.monotonic() < deadline, f"no commits:\n{recorder.tail()}"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        recorder.proc.send_signal(signal.SIGKILL)
        assert recorder.stop() == -signal.SIGKILL

        assert store.verify() == []
        now = stored(store)
        logged = committed(log)[1]
        assert before + logged <= now <= before + logged + BATCH, (before, logged, now)
        before = now
    leftovers = store.orphans()
    print(f"{KILLS} kills survived; {before} events stored; {len(leftovers)} orphans cleaned")
    assert set(store.clean_orphans()) == set(leftovers)
    assert store.verify() == []
    assert stored(store) == before
