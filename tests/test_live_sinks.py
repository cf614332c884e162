"""Sinks: JSONL per UTC day; webhooks in Slack/Discord format with bounded retries and a
bounded pending queue, against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from csx_live.sinks import JsonlSink, WebhookSink, alert_text, webhook_payload
from csx_live.state import NS_PER_S, TickCounters

DAY = 86_400 * NS_PER_S
T0 = 1_700_000_000 * NS_PER_S


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_jsonl_rotates_per_utc_day(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path, prefix="ranks")
    try:
        sink.write("rank", T0, {"symbol": "BTCUSDT", "rank": 1})
        sink.write("alert", T0 + DAY, {"symbol": "ETHUSDT"})
        sink.flush()
    finally:
        sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ranks-2023-11-14.jsonl", "ranks-2023-11-15.jsonl"]
    first = json.loads((tmp_path / files[0]).read_text())
    assert first == {"type": "rank", "symbol": "BTCUSDT", "rank": 1}


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://hooks.slack.com/services/T/B/x", "text"),
        ("https://discord.com/api/webhooks/1/tok", "content"),
    ],
)
def test_payload_format_follows_the_receiver(url: str, key: str) -> None:
    assert list(webhook_payload(url, "hello")) == [key]


def test_alert_text_is_readable() -> None:
    text = alert_text(
        {
            "symbol": "BTCUSDT",
            "p_inplay": 0.8123,
            "direction": "UP",
            "reason_codes": ["VOL"],
            "backtest_net_edge_bps": -3.25,
        }
    )
    assert text == "BTCUSDT in play: p=0.81 UP (VOL); backtest net edge -3.2 bps/trade"
    either = alert_text({"symbol": "ETHUSDT", "p_inplay": 0.7, "direction": "EITHER"})
    assert either == ("ETHUSDT in play: p=0.70 either way (no reasons); backtest net edge unknown")


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)
    bodies: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hold: bool = False


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Receiver]]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        if rec.hold:
            await rec.release.wait()
        rec.bodies.append((request.path, await request.json()))
        status = rec.statuses.pop(0) if rec.statuses else 200
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", rec
    rec.release.set()
    await runner.cleanup()


async def test_posts_to_slack_and_discord_retrying_5xx(receiver: tuple[str, Receiver]) -> None:
    base, rec = receiver
    rec.statuses = [503, 200, 200]
    counters = TickCounters()
    async with aiohttp.ClientSession() as session:
        sink = WebhookSink(
            session,
            [f"{base}/services/T/B/x", f"{base}/api/webhooks/1/tok"],
            counters,
            retry_base_s=0.01,
        )
        worker = asyncio.create_task(sink.run())
        sink.offer("BTCUSDT in play")
        await eventually(lambda: counters.webhook_sent == 2)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert rec.bodies == [
        ("/services/T/B/x", {"text": "BTCUSDT in play"}),
        ("/services/T/B/x", {"text": "BTCUSDT in play"}),
        ("/api/webhooks/1/tok", {"content": "BTCUSDT in play"}),
    ]
    assert counters.webhook_failed == 0


async def test_retries_are_capped_and_4xx_is_not_retried(receiver: tuple[str, Receiver]) -> None:
    base, rec = receiver
    rec.statuses = [500, 500, 500, 404]
    counters = TickCounters()
    async with aiohttp.ClientSession() as session:
        sink = WebhookSink(session, [f"{base}/services/x"], counters, retry_base_s=0.01)
        worker = asyncio.create_task(sink.run())
        sink.offer("first")
        sink.offer("second")
        await eventually(lambda: counters.webhook_failed == 2)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert [b["text"] for _, b in rec.bodies] == ["first"] * 3 + ["second"]


async def test_pending_posts_are_bounded_and_drops_counted(
    receiver: tuple[str, Receiver],
) -> None:
    base, rec = receiver
    rec.hold = True
    counters = TickCounters()
    async with aiohttp.ClientSession() as session:
        sink = WebhookSink(session, [f"{base}/services/x"], counters, max_pending=2)
        worker = asyncio.create_task(sink.run())
        sink.offer("a")
        await eventually(lambda: sink.pending == 0)  # "a" is in flight, held by the receiver
        for text in ("b", "c", "d", "e"):
            sink.offer(text)
        assert (sink.pending, counters.webhook_dropped) == (2, 2)
        rec.release.set()
        await eventually(lambda: counters.webhook_sent == 3)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert [b["text"] for _, b in rec.bodies] == ["a", "b", "c"]


async def test_no_urls_means_nothing_is_queued() -> None:
    counters = TickCounters()
    async with aiohttp.ClientSession() as session:
        sink = WebhookSink(session, [], counters)
        sink.offer("x")
        assert not sink.enabled
        assert sink.pending == 0
