"""Train/serve parity seen through the CLI only (issue 17 item 5), on real captures: a capture
``csx import``-ed into a store, ``csx replay``-ed twice (same digest), served by
``csx exchange --speed max`` to ``csx live --record``; the digest ``csx live`` serves at
``/api/parity`` and logs at shutdown equals the one ``csx replay`` prints for the recording
(and for the imported store). Every step is a separate process, as an operator runs it.

Settings follow ``tests/test_parity_live.py``: a 60 s merge idle rule (at max speed a route can
be silent for seconds while the exchange drains the other socket) and no wall-clock fallback
ticks (``tick_fallback_s`` = 1 h: the feed ends, and replay has no such ticks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from csx_core.contracts import BookTop
from csx_core.replay import replay_store
from csx_core.store import KIND_ORDER, EventStore
from csx_live.app import build_live
from csx_live.config import load_settings
from csx_live.server import LiveViews, create_app
from tests.conftest import REPO_ROOT, eventually
from tests.servers import free_port, server_process
from tests.test_metrics_labels import market_events

CSX = [sys.executable, "-m", "csx_core.cli"]

CAPTURES = [
    pytest.param(
        ["hftbacktest_usdm_2024-08-08/btcusdt_20240808.gz"], "bookTicker,aggTrade", id="hft-btc"
    ),
    pytest.param(
        ["hftbacktest_usdm_2024-08-08/ethusdt_20240808.gz"], "bookTicker,aggTrade", id="hft-eth"
    ),
    pytest.param(["cryptofeed_usdm_2021-07-22"], "bookTicker,aggTrade,kline_1m", id="cryptofeed"),
]


def csx(*args: str | Path, timeout: float = 300.0) -> str:
    """Run one ``csx`` command to completion; its stdout (it must exit 0)."""
    done = subprocess.run(
        [*CSX, *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def replay(store: Path, out: Path) -> dict[str, Any]:
    """``csx replay``'s printed result (its last stdout line is the JSON summary)."""
    printed = csx("replay", "--store", store, "--out", out).splitlines()[-1]
    result: dict[str, Any] = json.loads(printed)
    return result


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def log_records(log: Path, msg: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``log`` with message ``msg`` (other output is skipped)."""
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == msg:
                out.append(record)
    return out


def stored(store: Path) -> tuple[int, list[str]]:
    """Events in the store and its symbols."""
    s = EventStore(store)
    tables = [s.read(kind) for kind in KIND_ORDER if s.dates(kind)]
    symbols = {sym for t in tables for sym in t.column("symbol").to_pylist()}
    return sum(t.num_rows for t in tables), sorted(symbols)


@pytest.mark.slow
@pytest.mark.parametrize(("capture", "channels"), CAPTURES)
def test_live_digest_equals_replay_of_its_recording_through_the_cli(
    realdata: Path, tmp_path: Path, capture: list[str], channels: str
) -> None:
    source, recorded = tmp_path / "source", tmp_path / "recorded"
    csx("import", "--quiet", "--strict", "--store", source, *(realdata / c for c in capture))
    n_events, symbols = stored(source)
    assert n_events > 0

    first = replay(source, tmp_path / "features-1")
    second = replay(source, tmp_path / "features-2")
    assert first["digest"] == second["digest"]
    assert first["ticks"] == second["ticks"] > 20
    assert first["late_events"] == 0

    exchange_port, live_port = free_port(), free_port()
    exchange = f"http://127.0.0.1:{exchange_port}"
    live = f"http://127.0.0.1:{live_port}"
    exchange_log, live_log = tmp_path / "exchange.log", tmp_path / "live.log"
    exchange_argv = [
        *CSX, "exchange", "--store", str(source), "--speed", "max",
        "--port", str(exchange_port), "--await-clients", "2",
    ]  # fmt: skip
    live_argv = [
        *CSX, "live", "--port", str(live_port), "--rest-url", exchange,
        "--ws-url", f"ws://127.0.0.1:{exchange_port}", "--symbols", ",".join(symbols),
        "--sink-dir", str(tmp_path / "sink"), "--graceful-timeout-s", "20",
        "--record", str(recorded), "--merge-idle-s", "60",
    ]  # fmt: skip
    live_env = {
        "CSX_CHANNELS": channels,
        "CSX_TICK_FALLBACK_S": "3600",
        "CSX_DATA_FRESH_S": "3600",
        "CSX_EXPLAIN": "false",
    }
    with server_process(exchange_argv, ready_url=f"{exchange}/_admin/stats", log=exchange_log):
        with server_process(
            live_argv, ready_url=f"{live}/healthz", log=live_log, env=live_env
        ) as live_proc:

            def drained() -> bool:
                view = get_json(f"{live}/api/parity")
                return bool(view["events_received"] == n_events and not view["events_pending"])

            eventually(drained, timeout=180.0, interval=0.2)
            served = get_json(f"{live}/api/parity")
            replayed = get_json(f"{exchange}/_admin/stats")["counters"]["events_replayed"]
        assert live_proc.returncode == 0, live_log.read_text()
    assert replayed == n_events

    # what /api/parity served is what the shutdown log line reports: nothing came in after
    (logged,) = log_records(live_log, "feature digest")
    assert {k: logged[k] for k in served} == served
    assert served["breaks"] == dict.fromkeys(served["breaks"], 0), served["breaks"]
    (closed,) = log_records(live_log, "recording closed")
    assert closed["events_written"] == n_events
    assert closed["write_errors"] == 0
    assert not (recorded / "gaps.jsonl").exists()

    offline = replay(recorded, tmp_path / "features-recorded")
    print(
        f"\n{capture[0]}: {n_events} events, {served['ticks']} ticks, "
        f"digest {served['digest'][:16]} live = replay(recording) = replay(import)"
    )
    live_result = (served["digest"], served["ticks"], served["rows"])
    assert (offline["digest"], offline["ticks"], offline["rows"]) == live_result
    assert (first["digest"], first["ticks"], first["rows"]) == live_result
    assert served["first_tick_ns"] < served["last_tick_ns"]


async def test_parity_view_route_metric_and_recording_agree(tmp_path: Path) -> None:
    """Fast, in one process: ``build_live(record_to=...)`` records what the runner consumed;
    replaying that recording gives ``Runner.parity``'s digest, ``/api/parity`` serves the
    view, and a late event shows as a break in the view and in ``csx_parity_breaks_total``."""
    settings = load_settings(env={}, overrides={"sink_dir": str(tmp_path / "sink")})
    parts = build_live(settings, record_to=tmp_path / "recorded")
    assert parts.recorder is not None
    events = market_events(seconds=20, warmup_s=0)
    parts.runner.process(events)
    parts.recorder.close()
    view = parts.runner.parity()
    assert view is not None
    offline = replay_store(tmp_path / "recorded", None)
    assert (offline.digest, offline.ticks, offline.rows) == (
        view["digest"], view["ticks"], view["rows"]
    )  # fmt: skip
    assert view["ticks"] >= 19
    assert view["first_tick_ns"] < view["last_tick_ns"] <= events[-1].ts_event
    assert view["breaks"] == dict.fromkeys(view["breaks"], 0)

    # the route on an app of its own: parts.app would start the connectors
    views = LiveViews(parity=parts.runner.parity)
    app = create_app(state=parts.state, registry=CollectorRegistry(), data_fresh_s=1.0, views=views)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/parity"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
            assert await response.json() == view
    finally:
        await runner.cleanup()

    last = events[-1]
    late = BookTop(
        symbol=last.symbol, ts_event=view["last_tick_ns"] - 1, ts_recv=last.ts_recv,
        update_id=10**9, bid_price=99.0, bid_qty=1.0, ask_price=101.0, ask_qty=1.0,
    )  # fmt: skip
    parts.runner.process([late])
    after = parts.runner.parity()
    assert after is not None
    assert after["breaks"]["late_event"] == 1
    exposition = generate_latest(parts.registry).decode()
    assert 'csx_parity_breaks_total{cause="late_event"} 1.0' in exposition
