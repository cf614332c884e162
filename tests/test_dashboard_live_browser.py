"""The dashboard in a real browser against real processes: ``csx exchange`` replays a
simulated store into ``csx live`` serving a LightGBM package. The table fills, ranks change
without a reload and the health strip shows live values. (Markup injection is covered in
test_dashboard_browser.py: a contract-valid symbol cannot carry it through the exchange.)"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import chromium_page
from tests.conftest import REPO_ROOT
from tests.servers import free_port, server_process
from tests.test_live_model import engine_package

pytestmark = pytest.mark.slow

P_ORDER = (
    "Array.from(document.querySelectorAll('#ranks tbody td.p')).map(e => parseFloat(e.textContent))"
)
RANK_ORDER = "Array.from(document.querySelectorAll('#ranks tbody td.sym')).map(e => e.textContent)"


def test_dashboard_against_csx_live_and_csx_exchange(tmp_path: Path) -> None:
    csx = str(Path(sys.executable).parent / "csx")
    store = tmp_path / "events"
    subprocess.run(
        [csx, "simulate", "--days", "1", "--symbols", "8", "--out", str(store)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    package = engine_package(tmp_path / "package")
    ex_port, live_port = free_port(), free_port()
    exchange = f"http://127.0.0.1:{ex_port}"
    live = f"http://127.0.0.1:{live_port}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            server_process(
                [
                    csx,
                    "exchange",
                    "--store",
                    str(store),
                    "--port",
                    str(ex_port),
                    "--speed",
                    # symbols rank only once warm (an hour of event time): ~30 s here
                    "120",
                    "--rebase-time",
                    "--loop",
                ],
                ready_url=f"{exchange}/_admin/stats",
                log=tmp_path / "exchange.log",
            )
        )
        stack.enter_context(
            server_process(
                [
                    csx,
                    "live",
                    "--port",
                    str(live_port),
                    "--profile",
                    "DEV",
                    "--top-k",
                    "5",
                    "--rest-url",
                    exchange,
                    "--ws-url",
                    f"ws://127.0.0.1:{ex_port}",
                    "--model-source",
                    str(package),
                    "--sink-dir",
                    str(tmp_path / "live"),
                ],
                ready_url=f"{live}/healthz",
                log=tmp_path / "live.log",
            )
        )
        with chromium_page() as page:
            page.goto(live + "/")
            page.wait_for_selector("#ranks tbody tr", timeout=120_000)
            page.evaluate("window.__marker = 'same page'")
            first = page.evaluate(RANK_ORDER)
            assert first
            assert all(s.endswith("USDT") for s in first)
            # some rank changes while the page stays loaded (pushed over SSE)
            page.wait_for_function(
                f"JSON.stringify({RANK_ORDER}) !== '{_json(first)}'", timeout=120_000
            )
            assert page.evaluate("window.__marker") == "same page", "the page reloaded"
            assert int(page.text_content('[data-h="connections"]') or "0") >= 1
            assert float(page.text_content('[data-h="frames_per_s"]') or "0") > 0
            assert page.text_content('[data-h="model"]') != "none"
            # sort by p: highest first, as the page shows it
            page.click("#ranks th[data-sort=p]")
            shown = page.evaluate(P_ORDER)
            assert shown == sorted(shown, reverse=True)
            # drill-down: candles from the engine's buckets in a lightweight-charts canvas
            page.click("#ranks tbody tr:first-child .symlink")
            page.wait_for_function(
                "Number(document.getElementById('chart-price').dataset.candles) > 0",
                timeout=60_000,
            )
            assert page.locator("#chart-price canvas").count() > 0
            (REPO_ROOT / "artifacts").mkdir(exist_ok=True)
            page.screenshot(path=str(REPO_ROOT / "artifacts" / "dashboard-live.png"))
        # the browser closed its stream: a normal disconnect, not an error in the live log
        errors = [
            line
            for line in (tmp_path / "live.log").read_text(errors="replace").splitlines()
            if '"level": "ERROR"' in line or "Traceback" in line or "ConnectionResetError" in line
        ]
        assert errors == []


def _json(symbols: list[str]) -> str:
    import json

    return json.dumps(symbols, separators=(",", ":"))
