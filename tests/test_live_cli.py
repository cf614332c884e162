"""``csx live`` as a real process: --dry-run, bad settings, serving against a tiny exchange,
JSON logs without the canary secret, and a graceful exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.servers import free_port
from tests.test_live_app import Exchange, exchange  # noqa: F401 - the fixture is reused

CANARY = "https://hooks.slack.com/services/T0/B0/CANARYcli123"
CSX = [sys.executable, "-m", "csx_core.cli", "live"]


def test_dry_run_prints_resolved_settings_with_secrets_redacted() -> None:
    out = subprocess.run(
        [*CSX, "--dry-run", "--port", "9123", "--symbols", "btcusdt", "--shard", "1/4"],
        capture_output=True,
        text=True,
        check=True,
        env={"CSX_WEBHOOK_URLS": CANARY, "CSX_TOP_K": "7", "PATH": ""},
    )
    resolved = json.loads(out.stdout)
    assert (resolved["port"], resolved["top_k"], resolved["symbols"]) == (9123, 7, ["BTCUSDT"])
    assert (resolved["shard_index"], resolved["shard_count"]) == (1, 4)
    assert resolved["webhook_urls"] == ["***"]
    assert "CANARY" not in out.stdout + out.stderr


def test_a_bad_setting_fails_at_start_naming_the_field() -> None:
    out = subprocess.run(
        [*CSX, "--dry-run"], capture_output=True, text=True, env={"CSX_QUEUE_BOUND": "-1"}
    )
    assert out.returncode == 2
    assert "queue_bound" in out.stderr


@pytest.fixture
async def live_process(
    exchange: tuple[str, str, Exchange],  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, Path]]:
    rest, ws, _ = exchange
    port = free_port()
    log = tmp_path / "live.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *CSX,
            "--port", str(port), "--rest-url", rest, "--ws-url", ws,
            "--sink-dir", str(tmp_path / "sink"), "--graceful-timeout-s", "5",
            stdout=out, stderr=subprocess.STDOUT,
            env={"CSX_WEBHOOK_URLS": CANARY, "CSX_CHANNELS": "bookTicker,aggTrade",
                 "CSX_DATA_FRESH_S": "2"},
        )  # fmt: skip
        try:
            yield proc, f"http://127.0.0.1:{port}", log
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.slow
async def test_serves_then_exits_gracefully_on_sigterm(
    live_process: tuple[asyncio.subprocess.Process, str, Path],
) -> None:
    proc, base, log = live_process
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.returncode is None, log.read_text()
            assert loop.time() < deadline, "csx live did not report connected in time"
            try:
                async with http.get(f"{base}/readyz") as r:
                    body = await r.json()
                if "not_connected" not in body["reasons"] and "no_data_yet" not in body["reasons"]:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        assert body["reasons"][0].startswith("model_not_loaded")
        async with http.get(f"{base}/metrics") as r:
            assert "csx_ws_frames_received_total" in await r.text()
    started = loop.time()
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        code = await proc.wait()
    assert code == 0
    assert loop.time() - started < 6
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line["msg"] == "stopped" for line in lines)
    assert "CANARY" not in log.read_text()
