"""What the drill-down and the alert history are built from: bounded 1 s / 1 m candles from
the engine's buckets, per-alert outcomes from the AlertBook joined to the tracker's alerts,
the history endpoints, and an SSE stream whose client leaves mid-write ending quietly."""

from __future__ import annotations

import asyncio
import logging
import math

import msgspec
import pytest
from aiohttp import ClientConnectionResetError, web
from aiohttp.test_utils import TestClient, TestServer

from csx_core.contracts import Direction
from csx_live.dashboard import add_dashboard_routes
from csx_live.dashboard.candles import Bucket, CandleBook
from csx_live.dashboard.model import AlertOutcome
from csx_live.dashboard.tracker import DashboardTracker
from csx_live.dashboard_feed import realised_view
from tests.test_dashboard_tracker import HEALTH, S, pred
from tests.test_promise import H, alert, book, resolved


def test_candles_open_at_the_previous_close_and_fold_into_minutes() -> None:
    candles = CandleBook(max_1s=100)
    candles.add(60 * S, "A", Bucket(last=10.0, high=10.5, low=9.8))
    candles.add(61 * S, "A", Bucket(last=10.2))  # no trade this second: NaN high/low
    candles.add(61 * S, "A", Bucket(last=99.0))  # a repeated second is ignored
    candles.add(62 * S, "A", Bucket(last=9.5, high=10.1, low=9.4, gap=True))
    candles.add(120 * S, "A", Bucket(last=11.0, spread_bps=float("nan"), qvol_10s=5.0))
    s1 = candles.candles("A", "1s")
    assert [(c.t, c.o, c.h, c.low, c.c) for c in s1] == [
        (60, 10.0, 10.5, 9.8, 10.0),
        (61, 10.0, 10.2, 10.0, 10.2),
        (62, 10.2, 10.2, 9.4, 9.5),
        (120, 9.5, 11.0, 9.5, 11.0),
    ]
    m1 = candles.candles("A", "1m")
    assert [(c.t, c.o, c.h, c.low, c.c, c.gap) for c in m1] == [
        (60, 10.0, 10.5, 9.4, 9.5, True),
        (120, 9.5, 11.0, 9.5, 11.0, False),
    ]
    assert m1[-1].spread_bps is None
    assert m1[-1].qvol_10s == 5.0
    assert b'"l":9.4' in msgspec.json.encode(m1[0]), "the chart reads OHLC as o/h/l/c"
    assert candles.candles("A", "5m") == ()
    assert candles.candles("B", "1s") == ()


def test_candles_are_bounded_per_symbol_and_in_symbols() -> None:
    candles = CandleBook(max_1s=5, max_1m=2, max_symbols=2)
    for t in range(400):
        for symbol in ("A", "B", "C"):
            candles.add(t * S, symbol, Bucket(last=1.0 + t))
    assert len(candles.candles("A", "1s")) == 5
    assert len(candles.candles("A", "1m")) == 2
    assert "C" not in candles
    candles.add(500 * S, "A", Bucket(last=math.nan))  # no price: nothing to draw
    assert candles.candles("A", "1s")[-1].t == 399


def test_alert_book_keeps_each_alerts_outcome() -> None:
    b = book(history=2)
    b.on_alerts([alert("A", 0, Direction.UP), alert("B", 0, Direction.DOWN)])
    b.on_resolved(H, [resolved(H, ["A", "B"], [50.0, 10.0], [5.0, 10.0])])
    got = {(r.symbol, r.ts, r.direction, r.hit) for r in b.resolved_alerts()}
    assert got == {("A", 0, "UP", True), ("B", 0, "DOWN", False)}
    summary = b.summary()
    assert summary["horizon_s"] == H / 1e9
    assert [a["symbol"] for a in summary["resolved_alerts"]] == ["A", "B"]
    realised = realised_view(summary)
    assert realised is not None
    assert realised.n == 2
    b.on_alerts([alert("C", H, Direction.UP)])
    b.on_resolved(2 * H, [resolved(2 * H, ["C"], [50.0], [5.0])])
    assert [r.symbol for r in b.resolved_alerts()] == ["B", "C"], "bounded to history"


def test_tracker_joins_outcomes_and_serves_symbol_history() -> None:
    tracker = DashboardTracker(max_alerts=2, alert_history=10)
    for t in range(5):
        tracker.update(
            t * S,
            [pred("AAAUSDT", 0.5, t * S)],
            prices={"AAAUSDT": 1.0},
            new_alerts=[pred("AAAUSDT" if t % 2 else "BBBUSDT", 0.9, t * S)],
            health=HEALTH,
            buckets={"AAAUSDT": Bucket(last=1.0 + t, p=0.5)},
            outcomes={("BBBUSDT", 2000): AlertOutcome(hit=False, net_bps=-3.0)} if t > 2 else {},
        )
    history = tracker.alert_history().alerts
    assert [a.ts_ms for a in history] == [4000, 3000, 2000, 1000, 0], "newest first, all kept"
    assert history[2].outcome == AlertOutcome(hit=False, net_bps=-3.0)
    assert history[0].outcome is None
    view = tracker.latest
    assert view is not None
    assert [a.ts_ms for a in view.alerts] == [3000, 4000]
    detail = tracker.symbol_detail("AAAUSDT", "1s")
    assert detail is not None
    assert detail.row is not None
    assert detail.row.rank == 1
    assert [c.c for c in detail.candles] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [a.ts_ms for a in detail.alerts] == [3000, 1000]
    only_alerted = tracker.symbol_detail("BBBUSDT", "1s")
    assert only_alerted is not None
    assert only_alerted.row is None
    assert only_alerted.candles == ()
    assert tracker.symbol_detail("ZZZUSDT", "1s") is None


async def _client(tracker: DashboardTracker | None) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    add_dashboard_routes(
        app, lambda: tracker.latest if tracker else None, push_interval_s=0.01, history=tracker
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def test_history_endpoints() -> None:
    async def go() -> None:
        tracker = DashboardTracker()
        tracker.update(
            S,
            [pred("AAAUSDT", 0.5, S)],
            prices={},
            new_alerts=[pred("AAAUSDT", 0.5, S)],
            health=HEALTH,
            buckets={"AAAUSDT": Bucket(last=2.0)},
        )
        client = await _client(tracker)
        try:
            body = await (await client.get("/api/dashboard/symbol/aaausdt?tf=1m")).json()
            assert body["symbol"] == "AAAUSDT"
            assert body["candles"][0]["c"] == 2.0
            assert (await client.get("/api/dashboard/symbol/AAAUSDT?tf=3m")).status == 400
            assert (await client.get("/api/dashboard/symbol/NOPEUSDT")).status == 404
            alerts = await (await client.get("/api/dashboard/alerts")).json()
            assert [a["symbol"] for a in alerts["alerts"]] == ["AAAUSDT"]
            icon = await client.get("/favicon.ico")
            assert icon.status == 200
            assert icon.content_type == "image/svg+xml"
        finally:
            await client.close()
        bare = await _client(None)
        try:
            assert (await bare.get("/api/dashboard/alerts")).status == 404
        finally:
            await bare.close()

    asyncio.run(go())


def test_stream_client_leaving_mid_write_is_not_an_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 0
    real_write = web.StreamResponse.write

    async def flaky_write(self: web.StreamResponse, data: bytes) -> None:
        nonlocal writes
        writes += 1
        if writes > 2:
            raise ClientConnectionResetError("Cannot write to closing transport")
        await real_write(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", flaky_write)

    async def go() -> None:
        tracker = DashboardTracker()
        client = await _client(tracker)
        try:
            response = await client.get("/api/stream")
            for t in range(1, 6):
                tracker.update(t * S, [pred("AAAUSDT", 0.5, t * S)], prices={}, health=HEALTH)
                await asyncio.sleep(0.03)
            await response.read()  # the server ended the stream
            response.close()
        finally:
            await client.close()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(go())
    assert writes > 2, "the failing write was reached"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert any("went away" in r.getMessage() for r in caplog.records)


def test_vendored_chart_library_matches_its_pin() -> None:
    import hashlib
    import re

    from csx_live.dashboard.routes import STATIC_DIR

    vendor = STATIC_DIR / "vendor"
    readme = (vendor / "README.md").read_text()
    row = re.search(
        r"lightweight-charts\.standalone\.production\.js.*?\| ([\d.]+) \|.*?`([0-9a-f]{64})`",
        readme,
    )
    assert row is not None, "the README pins the version and SHA-256"
    bundle = (vendor / "lightweight-charts.standalone.production.js").read_bytes()
    assert hashlib.sha256(bundle).hexdigest() == row.group(2)
    assert f"Lightweight Charts\u2122 v{row.group(1)}".encode() in bundle[:300]
    assert "Apache License" in (vendor / "LICENSE.lightweight-charts").read_text()
