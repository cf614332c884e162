"""The dashboard in a real browser against a scripted view source: the table fills, ranks
move without a reload, the health strip shows values, and markup in untrusted strings is
rendered as text."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from csx_live.dashboard import (
    AlertRow,
    DashboardView,
    ExplanationFor,
    HealthStrip,
    Promise,
    RankRow,
    Realised,
    ReasonTag,
    add_dashboard_routes,
)
from tests.browser import chromium_page
from tests.conftest import REPO_ROOT
from tests.servers import free_port

ARTIFACTS = REPO_ROOT / "artifacts"
EVIL = "<script>window.__pwned=1</script>"
SURGE = ReasonTag("VOLUME_SURGE", "Volume surge")


def row(
    rank: int, symbol: str, p: float, explanation: str | None = None, **extra: object
) -> RankRow:
    fields: dict[str, object] = {
        "rank": rank,
        "symbol": symbol,
        "p_inplay": p,
        "direction": "UP" if rank % 2 else "DOWN",
        "direction_confidence": 0.7,
        "backtest_net_edge_bps": 12.5 - rank,
        "reasons": (SURGE,),
        "explanation": explanation,
        "explanation_source": "TEMPLATE",
        "time_in_top_s": 30.0 * rank,
        "spark_p": (0.1, 0.2, p),
        "spark_px": (100.0, 101.0, 100.5),
    }
    fields.update(extra)
    return RankRow(**fields)  # type: ignore[arg-type]


def view(ranks: tuple[RankRow, ...], ts_ms: int) -> DashboardView:
    health = HealthStrip(
        ready=True,
        connections=2,
        frames_per_s=1234.0,
        dropped_total=0,
        malformed_total=3,
        tick_p99_ms=4.2,
        model_version="7",
        model_alias="champion",
        data_age_s=0.4,
    )
    alert = AlertRow(
        ts_ms=ts_ms,
        symbol=ranks[0].symbol,
        p_inplay=ranks[0].p_inplay,
        direction="UP",
        reasons=(SURGE,),
    )
    return DashboardView(ts_ms=ts_ms, ranks=ranks, alerts=(alert,), health=health, universe_size=40)


class ViewHolder:
    def __init__(self) -> None:
        self.current: DashboardView | None = None

    def __call__(self) -> DashboardView | None:
        return self.current


@pytest.fixture
def served() -> Iterator[tuple[str, ViewHolder]]:
    holder = ViewHolder()
    app = web.Application()
    add_dashboard_routes(app, holder, push_interval_s=0.1)
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
        yield f"http://127.0.0.1:{port}", holder
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_dashboard_updates_in_place_and_escapes_text(served: tuple[str, ViewHolder]) -> None:
    url, holder = served
    with chromium_page() as page:
        page.goto(url)
        page.wait_for_selector("#empty", state="visible")
        holder.current = view(
            (row(1, "BTCUSDT", 0.8), row(2, EVIL, 0.6, explanation=EVIL), row(3, "SOLUSDT", 0.4)),
            ts_ms=1_700_000_000_000,
        )
        page.wait_for_selector("#ranks tbody tr:nth-child(3)")
        symbols = page.locator("#ranks tbody td.sym").all_text_contents()
        assert symbols == ["BTCUSDT", EVIL, "SOLUSDT"]
        # the injected markup is text, not a script that ran or an element that exists
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#ranks tbody script").count() == 0
        assert EVIL in page.locator("#ranks tbody td.expl").all_text_contents()
        assert page.text_content('[data-h="connections"]') == "2"
        assert page.text_content('[data-h="model"]') == "v7 @champion"
        assert page.text_content('[data-h="ready"]') == "READY"

        page.evaluate("window.__marker = 'same page'")
        holder.current = view(
            (row(1, "SOLUSDT", 0.9), row(2, "BTCUSDT", 0.7)), ts_ms=1_700_000_001_000
        )
        page.wait_for_function(
            "document.querySelector('#ranks tbody td.sym').textContent === 'SOLUSDT'"
        )
        assert page.evaluate("window.__marker") == "same page", "the page reloaded"
        assert page.locator("#ranks tbody tr").count() == 2

        page.fill("#filter", "btc")
        page.wait_for_function("document.querySelectorAll('#ranks tbody tr').length === 1")
        ARTIFACTS.mkdir(exist_ok=True)
        page.fill("#filter", "")
        page.screenshot(path=str(Path(ARTIFACTS / "dashboard-scripted.png")))


def test_empty_and_stale_states(served: tuple[str, ViewHolder]) -> None:
    url, holder = served
    stale = view((row(1, "BTCUSDT", 0.5),), ts_ms=1)
    holder.current = DashboardView(
        ts_ms=1,
        ranks=(),
        alerts=(),
        universe_size=10,
        health=HealthStrip(
            **{
                **_fields(stale.health),
                "ready": False,
                "feed_stale": True,
                "not_ready_reasons": ("feed stale",),
            }
        ),
    )
    with chromium_page() as page:
        page.goto(url)
        page.wait_for_selector("#banner:not([hidden])")
        assert "Feed stale" in page.text_content("#banner")
        assert page.text_content('[data-h="ready"]') == "NOT READY"
        assert page.is_visible("#empty")


def _fields(health: HealthStrip) -> dict[str, object]:
    return {name: getattr(health, name) for name in health.__struct_fields__}


def test_unknown_edge_either_way_older_explanations_warmup_and_promise(
    served: tuple[str, ViewHolder],
) -> None:
    url, holder = served
    older = ExplanationFor(
        ts_ms=1_699_999_988_000,
        age_s=12.0,
        p_inplay=0.43,
        direction="DOWN",
        backtest_net_edge_bps=None,
        source="TEMPLATE",
        current=False,
    )
    base = view(
        (
            row(1, "AAAUSDT", 0.82, direction="EITHER", backtest_net_edge_bps=None),
            row(2, "BBBUSDT", 0.61, explanation_older="BBBUSDT has a 43% …", explanation_for=older),
        ),
        ts_ms=1_700_000_000_000,
    )
    health = HealthStrip(
        **{
            **_fields(base.health),
            "warm_symbols": 3,
            "scored_universe": 40,
            "promise": Promise(
                hit_rate=0.55, hit_rate_ci=(0.51, 0.59), net_bps=1.2, net_bps_ci=(-0.4, 2.8)
            ),
            "realised": Realised(n=37, hit_rate=0.41, net_bps=-2.5, diverged=True),
        }
    )
    holder.current = DashboardView(
        ts_ms=base.ts_ms, ranks=base.ranks, alerts=base.alerts, health=health, universe_size=40
    )
    with chromium_page() as page:
        page.goto(url)
        page.wait_for_selector("#ranks tbody tr:nth-child(2)")
        edges = page.locator("#ranks tbody td.edge").all_text_contents()
        assert edges == ["unknown", "+10.5 bps"], "null is unknown, never 0"
        dirs = page.locator("#ranks tbody td.dir").all_text_contents()
        assert dirs[0].endswith("either way")
        expl = page.locator("#ranks tbody td.expl").all_text_contents()
        assert expl[0] == ""
        assert expl[1].startswith("older (12s ago, written for 43.0%")
        assert "down, edge unknown): BBBUSDT has a 43%" in expl[1]
        assert page.get_attribute("#ranks tbody tr:nth-child(2) td.expl", "class") == "expl older"
        assert page.text_content('[data-h="warm"]') == "warming up: 3 of 40 symbols warm"
        promise = page.text_content('[data-h="promise"]')
        assert promise == "hit 55.0% [51.0%, 59.0%] · net +1.2 bps [\u22120.4 bps, +2.8 bps]"
        realised = page.text_content('[data-h="realised"]')
        assert realised == "n 37 · hit 41.0% · net \u22122.5 bps · DIVERGED from the promise"
        holder.current = DashboardView(
            ts_ms=base.ts_ms + 1000,
            ranks=base.ranks,
            alerts=base.alerts,
            health=HealthStrip(**{**_fields(health), "promise": None, "realised": None}),
            universe_size=40,
        )
        page.wait_for_function(
            "document.querySelector('[data-h=\"promise\"]').textContent === 'unknown'"
        )
        assert page.text_content('[data-h="realised"]') == "unknown"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-honest-numbers.png"))
