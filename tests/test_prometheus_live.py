"""A real Prometheus (Debian's ``prometheus``) scrapes the live runner and evaluates the real
alert rules: while the fake exchange streams, CsxFeedStale stays quiet; when the feed is
stalled it goes pending, then firing, visible in Prometheus' ``/api/v1/alerts``.

The runner is ``csx live``'s composition root (``build_live``) with the real wire decoder,
connected to ``FakeExchange`` (what ``csx exchange`` serves) over loopback; Prometheus runs as
a subprocess on an ephemeral port with a temporary TSDB. The rules file is the real one with
only the ``for:`` durations shortened (expressions untouched) so the test takes ~30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.servers import free_port, server_process
from tests.test_metrics_labels import label_violations, running_live
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "monitoring" / "alert_rules.yml"
FOR_IN_TEST = "3s"


def shortened_rules(text: str) -> str:
    """The rules with every ``for:`` set to :data:`FOR_IN_TEST`; expressions unchanged."""
    out = re.sub(r"(?m)^(\s+for:)\s*\S+$", rf"\1 {FOR_IN_TEST}", text)
    before = yaml.safe_load(text)["groups"]
    after = yaml.safe_load(out)["groups"]
    assert [r["expr"] for g in before for r in g["rules"]] == [
        r["expr"] for g in after for r in g["rules"]
    ]
    return out


def test_shortened_rules_change_only_durations() -> None:
    text = shortened_rules(RULES.read_text())
    rules = [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    assert {r["for"] for r in rules} == {FOR_IN_TEST}


def prometheus_config(target: str, rules: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "csx-live", "static_configs": [{"targets": [target]}]}],
    }


class Prom:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/query?query={urllib.parse.quote(promql)}"
        async with self.http.get(url) as r:
            body = await r.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    async def alerts(self, name: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.base}/api/v1/alerts") as r:
            body = await r.json()
        return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] == name]


async def poll(what: str, probe: Any, within_s: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        got = await probe()
        if got:
            return got
        assert loop.time() < deadline, f"{what} not seen within {within_s} s"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def prometheus_scraping(target: str, tmp_path: Path) -> AsyncIterator[Prom]:
    """A real Prometheus on an ephemeral loopback port, temp TSDB, the real rules (``for:``
    shortened), scraping ``target`` every second."""
    prometheus = require_tool("prometheus", "prometheus")
    rules = tmp_path / "alert_rules.yml"
    rules.write_text(shortened_rules(RULES.read_text()))
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(prometheus_config(target, rules)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with contextlib.ExitStack() as stack:
        # entered in a thread: an in-process runner keeps serving while Prometheus boots
        await asyncio.to_thread(
            stack.enter_context,
            server_process(argv, ready_url=f"{base}/-/ready", log=tmp_path / "prom.log"),
        )
        async with aiohttp.ClientSession() as http:
            yield Prom(http, base)
        await asyncio.to_thread(stack.close)


async def check_feed_stale_fires(
    prom: Prom, target: str, stall: Callable[[], Awaitable[None]]
) -> None:
    """Quiet while frames flow; after ``stall()``: pending, then firing, on ``target``."""
    flowing = 'rate(csx_ws_frames_received_total{job="csx-live"}[5s]) > 0'
    await poll("frames scraped", lambda: prom.query(flowing), 60)
    fresh = 'csx_feature_staleness_seconds{job="csx-live"} < 5'
    await poll("fresh data scraped", lambda: prom.query(fresh), 30)
    assert await prom.alerts("CsxFeedStale") == []
    await stall()
    states: list[str] = []

    async def firing() -> bool:
        found = await prom.alerts("CsxFeedStale")
        states.extend(a["state"] for a in found if a["state"] not in states)
        return "firing" in states

    await poll("CsxFeedStale firing", firing, 45)
    assert states == ["pending", "firing"]
    (alert,) = await prom.alerts("CsxFeedStale")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["instance"] == target
    assert alert["annotations"]["runbook_url"].startswith("docs/runbooks/feed-stale.md")
    assert float(alert["value"]) > 15
    assert await prom.query('csx_ready{job="csx-live"} == 0'), "readiness should drop too"


@pytest.mark.slow
async def test_feed_stale_alert_fires_for_the_in_process_runner(tmp_path: Path) -> None:
    """``build_live`` + ``FakeExchange`` in this process (baseline model: the runner is ready
    before the stall); the stall is the exchange's own fault switch."""
    # The feed here is 30 s of synthetic events, too short for any symbol to warm up (an
    # hour of event time); readiness that waits for warm symbols has its own test
    # (test_live_runner), this one is about the stale-feed alert, so it does not wait.
    async with running_live(tmp_path, data_fresh_s=5.0, min_warm_share=0.0) as live:
        target = f"127.0.0.1:{live.port}"
        async with prometheus_scraping(target, tmp_path) as prom:
            await poll("runner ready", lambda: prom.query("csx_ready == 1"), 30)

            async def stall() -> None:
                assert live.exchange.control is not None
                live.exchange.control.stall(120.0)

            await check_feed_stale_fires(prom, target, stall)


@pytest.mark.slow
async def test_feed_stale_alert_fires_for_csx_live_against_csx_exchange(tmp_path: Path) -> None:
    """The real processes: ``csx simulate`` writes a small store, ``csx exchange`` replays it,
    ``csx live`` (DEV, no model configured) streams from it, Prometheus scrapes ``csx live``;
    the feed is stalled through the exchange's ``POST /_admin/faults``."""
    csx = str(Path(sys.executable).parent / "csx")
    store = tmp_path / "events"
    done = await asyncio.to_thread(
        subprocess.run,
        [csx, "simulate", "--days", "1", "--symbols", "3", "--out", str(store)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ex_port, live_port = free_port(), free_port()
    exchange = f"http://127.0.0.1:{ex_port}"
    live_argv = [
        csx, "live", "--port", str(live_port), "--profile", "DEV",
        "--rest-url", exchange, "--ws-url", f"ws://127.0.0.1:{ex_port}",
        "--sink-dir", str(tmp_path / "live"),
    ]  # fmt: skip
    env = {"CSX_DATA_FRESH_S": "5", "CSX_CHANNELS": "bookTicker,aggTrade"}
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            server_process(
                [csx, "exchange", "--store", str(store), "--port", str(ex_port), "--loop"],
                ready_url=f"{exchange}/_admin/stats",
                log=tmp_path / "exchange.log",
            )
        )
        stack.enter_context(
            server_process(
                live_argv,
                ready_url=f"http://127.0.0.1:{live_port}/healthz",
                log=tmp_path / "live.log",
                env=env,
            )
        )
        target = f"127.0.0.1:{live_port}"
        async with prometheus_scraping(target, tmp_path) as prom:
            async with prom.http.get(f"http://{target}/metrics") as r:
                assert label_violations(await r.text()) == []

            async def stall() -> None:
                async with prom.http.post(f"{exchange}/_admin/faults", json={"stall_s": 120}) as r:
                    assert r.status == 200, await r.text()

            await check_feed_stale_fires(prom, target, stall)
