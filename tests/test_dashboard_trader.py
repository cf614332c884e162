"""The trader's dashboard in real Chromium against a real ``DashboardTracker`` fed scripted
ticks: sort by a column (stable across live updates), filter by direction / reason / minimum
probability, a reload keeps both, the drill-down draws candles with alert markers
(lightweight-charts), the alert history pages, searches, shows outcomes and keeps
acknowledgements, a 390 px phone viewport cuts nothing key off, and no console errors."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from csx_core.contracts import Direction, PredictionSnapshot, ReasonCode
from csx_live.dashboard import DashboardView, HealthStrip, add_dashboard_routes
from csx_live.dashboard.candles import Bucket
from csx_live.dashboard.model import AlertOutcome
from csx_live.dashboard.tracker import DashboardTracker
from tests.browser import chromium_page
from tests.servers import free_port

S = 1_000_000_000
T0 = 1_700_000_000 * S
HEALTH = HealthStrip(
    ready=True, connections=1, frames_per_s=10.0, dropped_total=0, malformed_total=0, tick_p99_ms=1
)
# symbol: (p, direction, reason, edge)
BOOK: dict[str, tuple[float, Direction, ReasonCode, float | None]] = {
    "BTCUSDT": (0.81, Direction.UP, ReasonCode.VOLUME_SURGE, 6.0),
    "ETHUSDT": (0.64, Direction.DOWN, ReasonCode.VOLUME_SURGE, None),
    "SOLUSDT": (0.72, Direction.DOWN, ReasonCode.TIGHT_SPREAD, 3.5),
    "ADAUSDT": (0.33, Direction.EITHER, ReasonCode.TIGHT_SPREAD, -1.0),
    "XRPUSDT": (0.45, Direction.UP, ReasonCode.VOLUME_SURGE, 1.0),
}
RANKED = sorted(BOOK, key=lambda s: -BOOK[s][0])
ORDER = "Array.from(document.querySelectorAll('#ranks tbody td.sym')).map(e => e.textContent)"


def pred(symbol: str, ts: int, bump: float = 0.0) -> PredictionSnapshot:
    p, direction, reason, edge = BOOK[symbol]
    return PredictionSnapshot(
        symbol=symbol,
        ts=ts,
        p_inplay=min(0.99, p + bump),
        raw_score=p,
        direction=direction,
        backtest_net_edge_bps=edge,
        model_id="m1",
        reason_codes=(reason,),
    )


class Scripted:
    """A real tracker driven tick by tick; serves as the view source and the history."""

    def __init__(self) -> None:
        self.tracker = DashboardTracker(max_alerts=20)
        self.current: DashboardView | None = None
        self.t = 0

    def __call__(self) -> DashboardView | None:
        return self.current

    def tick(self, *, alerts: tuple[str, ...] = (), bump: float = 0.0) -> None:
        ts = T0 + self.t * S
        ranked = [pred(s, ts, bump if s == "XRPUSDT" else 0.0) for s in RANKED]
        ranked.sort(key=lambda p: -p.p_inplay)
        px = {s: 100.0 + i * 10 + (self.t % 7) * 0.1 for i, s in enumerate(RANKED)}
        buckets = {
            s: Bucket(
                last=v,
                high=v + 0.3,
                low=v - 0.2,
                gap=self.t == 50,
                p=BOOK[s][0],
                spread_bps=1.5,
                qvol_10s=1000.0 + self.t,
            )
            for s, v in px.items()
        }
        # each alert resolves H = 30 s later: even ticks hit, odd ticks miss
        made = self.t - 30
        outcomes = {
            (s, (T0 + made * S) // 1_000_000): AlertOutcome(
                hit=made % 2 == 0, net_bps=4.0 if made % 2 == 0 else -2.5
            )
            for s in RANKED
            if made >= 0
        }
        self.current = self.tracker.update(
            ts,
            ranked,
            prices=px,
            new_alerts=[pred(s, ts) for s in alerts],
            health=HEALTH,
            universe_size=40,
            buckets=buckets,
            outcomes=outcomes,
        )
        self.tracker.horizon_s = 30.0
        self.t += 1


@pytest.fixture
def served() -> Iterator[tuple[str, Scripted]]:
    scripted = Scripted()
    for t in range(120):
        scripted.tick(alerts=(RANKED[(t // 3) % 3],) if t % 3 == 0 else ())  # 40 alerts
    app = web.Application()
    add_dashboard_routes(app, scripted, push_interval_s=0.1, history=scripted.tracker)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}", scripted
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="csx-dashboard-shots-"))
    print(f"\ndashboard screenshots: {folder}")
    return folder


def watch_console(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    return problems


def order(page: Any) -> list[str]:
    result: list[str] = page.evaluate(ORDER)
    return result


def test_sort_filter_and_reload_keep_state(served: tuple[str, Scripted], shots: Path) -> None:
    url, scripted = served
    with chromium_page() as page:
        problems = watch_console(page)
        page.goto(url)
        page.wait_for_selector("#ranks tbody tr:nth-child(5)")
        assert order(page) == RANKED
        page.click("#ranks th[data-sort=symbol]")
        assert order(page) == sorted(RANKED)
        page.click("#ranks th[data-sort=symbol]")
        assert order(page) == sorted(RANKED, reverse=True)
        page.click("#ranks th[data-sort=edge]")  # best edge first, unknown last
        assert order(page) == ["BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "ETHUSDT"]
        # a live update that changes the ranks keeps the chosen order
        scripted.tick(bump=0.5)
        page.wait_for_function(
            "document.querySelector('tr[data-symbol=XRPUSDT] td.rank').textContent === '1'"
        )
        assert order(page) == ["BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "ETHUSDT"]
        assert "sort=edge" in page.url
        assert "order=desc" in page.url

        page.select_option("#f-dir", "DOWN")
        page.wait_for_function("document.querySelectorAll('#ranks tbody tr').length === 2")
        assert order(page) == ["SOLUSDT", "ETHUSDT"]
        page.select_option("#f-reason", "TIGHT_SPREAD")
        assert order(page) == ["SOLUSDT"]
        page.select_option("#f-dir", "")
        page.fill("#f-pmin", "50")
        assert order(page) == ["SOLUSDT"]  # ADAUSDT is below 50 %
        page.select_option("#f-reason", "")
        assert sorted(order(page)) == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]

        page.reload()
        page.wait_for_selector("#ranks tbody tr")
        assert page.input_value("#f-pmin") == "50"
        assert order(page) == ["BTCUSDT", "SOLUSDT", "XRPUSDT", "ETHUSDT"]
        assert page.get_attribute("#ranks th[data-sort=edge]", "aria-sort") == "descending"
        page.select_option("#f-dir", "EITHER")
        page.fill("#f-pmin", "")
        assert order(page) == ["ADAUSDT"]
        assert page.text_content("#ranks tbody td.dir") == "\u2195 either way"
        page.screenshot(path=str(shots / "sorted-filtered.png"))
        assert problems == []


def test_drill_down_chart_has_candles_and_alert_markers(
    served: tuple[str, Scripted], shots: Path
) -> None:
    url, _ = served
    with chromium_page() as page:
        problems = watch_console(page)
        page.goto(url)
        page.wait_for_selector("#ranks tbody tr")
        page.click("#ranks tbody tr[data-symbol=BTCUSDT] .symlink")
        page.wait_for_selector("#detail:not([hidden])")
        page.wait_for_function("Number(document.getElementById('chart-price').dataset.candles) > 0")
        box = page.locator("#chart-price")
        assert int(box.get_attribute("data-candles") or 0) == 120
        assert int(box.get_attribute("data-markers") or 0) >= 1  # BTCUSDT alerted 14 times
        assert int(box.get_attribute("data-gaps") or 0) == 1
        assert page.locator("#chart-price canvas").count() > 0
        assert page.locator("#chart-p canvas").count() > 0
        stats = page.text_content("#d-stats") or ""
        assert "1.50 bps" in stats
        assert "USDT" in stats
        assert "hit +4.0 bps" in (page.text_content("#d-alerts") or "")
        assert "sym=BTCUSDT" in page.url
        page.click("#detail [data-tf='1m']")
        page.wait_for_function(
            "Number(document.getElementById('chart-price').dataset.candles) === 3"
        )  # 120 s starting at hh:mm:20: a partial minute, a whole one, a partial one
        page.screenshot(path=str(shots / "drill-down.png"))
        page.reload()
        page.wait_for_selector("#detail:not([hidden])")  # the open symbol survives a reload
        assert page.text_content("#d-symbol") == "BTCUSDT"
        page.click("#d-close")
        assert page.is_hidden("#detail")
        assert problems == []


def test_alert_history_pages_searches_and_acknowledges(
    served: tuple[str, Scripted], shots: Path
) -> None:
    url, _ = served
    with chromium_page() as page:
        problems = watch_console(page)
        page.goto(url)
        page.wait_for_function(
            "document.getElementById('alert-page').textContent === 'page 1 of 3'"
        )
        assert page.text_content("#alert-count") == "40"
        first = page.locator("#alerts li").all_text_contents()
        assert len(first) == 15
        page.click("#alert-next")
        second = page.locator("#alerts li").all_text_contents()
        assert page.text_content("#alert-page") == "page 2 of 3"
        assert second != first
        page.click("#alert-next")
        assert page.locator("#alerts li").count() == 10
        assert page.is_disabled("#alert-next")
        # outcomes: the newest alerts (< H old) are pending, older ones hit or missed
        assert "pending" in first[0]
        outcomes = page.locator("#alerts .outcome").all_text_contents()
        assert any(o.startswith("hit +4.0") for o in outcomes)
        assert any(o.startswith("miss \u22122.5") for o in outcomes)
        page.fill("#alert-q", "sol")
        assert page.text_content("#alert-count") == "13 of 40"
        assert all("SOLUSDT" in t for t in page.locator("#alerts li").all_text_contents())
        page.fill("#alert-q", "sol miss")
        assert all("miss" in t for t in page.locator("#alerts li").all_text_contents())
        page.fill("#alert-q", "")
        key = page.get_attribute("#alerts li:first-child", "data-key")
        page.click("#alerts li:first-child .ack")
        page.reload()
        page.wait_for_selector(f"#alerts li[data-key='{key}']")
        assert "acked" in (page.get_attribute(f"#alerts li[data-key='{key}']", "class") or "")
        assert not page.is_checked("#alert-notify")
        assert not page.is_checked("#alert-sound")
        page.screenshot(path=str(shots / "alert-history.png"))
        assert problems == []


def test_phone_width_keeps_key_columns_and_favicon(
    served: tuple[str, Scripted], shots: Path
) -> None:
    url, _ = served
    with chromium_page() as page:
        problems = watch_console(page)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url)
        page.wait_for_selector("#ranks tbody tr:nth-child(5)")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for cell in ("td.rank", "td.sym", "td.p", "td.dir", "td.edge"):
            box = page.locator(f"#ranks tbody tr:first-child {cell}").bounding_box()
            assert box is not None, cell
            assert box["x"] >= 0, cell
            assert box["x"] + box["width"] <= 390, cell
        page.screenshot(path=str(shots / "phone-390.png"), full_page=True)
        page.click("#ranks tbody tr:first-child .symlink")
        page.wait_for_function("Number(document.getElementById('chart-price').dataset.candles) > 0")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        chart = page.locator("#chart-price").bounding_box()
        assert chart is not None
        assert chart["x"] + chart["width"] <= 390
        page.screenshot(path=str(shots / "phone-390-detail.png"))
        assert page.request.get(url + "/favicon.ico").status == 200
        assert problems == []


def test_page_notices_stale_stream(served: tuple[str, Scripted]) -> None:
    url, _ = served
    with chromium_page() as page:
        page.goto(url)
        page.wait_for_selector("#ranks tbody tr")
        assert page.is_hidden("#stale")
        # no new view arrives: after STALE_MS the page says so (clock sped up in the page)
        page.evaluate(
            "() => { const now = performance.now.bind(performance);"
            " performance.now = () => now() + 60000; }"
        )
        page.wait_for_selector("#stale:not([hidden])", timeout=5000)
        assert (page.text_content("#stale") or "").startswith("stale: no update for")
