"""The dashboard in a real browser against real processes: ``csx exchange`` replays a
simulated store into ``csx live`` serving a LightGBM package trained on it. The table fills,
ranks change without a reload, the health strip shows live values, a column sorts, an
alerted symbol's drill-down draws candles with its alert markers, the alert history pages, a
390 px phone viewport cuts nothing key off, the console stays clean and closing the page
leaves no ERROR in the live log. Screenshots go to a temporary folder whose path is printed.
(Markup injection is covered in test_dashboard_browser.py: a contract-valid symbol cannot
carry it through the exchange.)"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.browser import chromium_page
from tests.servers import free_port, server_process
from tests.test_dashboard_trader import watch_console

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
    package = trained_package(store, tmp_path)
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
                # the model's p spans ~0.1-0.8 on this store: alerts fire and re-arm often
                env={"CSX_ALERT_THRESHOLD": "0.5", "CSX_ALERT_COOLDOWN_S": "60"},
            )
        )
        shots = Path(tempfile.mkdtemp(prefix="csx-dashboard-live-"))
        print(f"\ndashboard screenshots: {shots}")
        with chromium_page() as page:
            problems = watch_console(page)
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
            page.click("#d-close")  # the panel covers the alert history
            # the alert history pages once more than a page (15) of alerts has fired
            page.wait_for_function(
                "parseInt(document.getElementById('alert-count').textContent) > 15",
                timeout=120_000,
            )
            first = page.locator("#alerts li").all_text_contents()
            page.click("#alert-next")
            assert (page.text_content("#alert-page") or "").startswith("page 2 of")
            assert page.locator("#alerts li").all_text_contents() != first
            page.click("#alert-prev")
            # the newest alert's symbol: its chart carries the alert's marker
            page.click("#alerts li:first-child .symlink")
            page.wait_for_function(
                "Number(document.getElementById('chart-price').dataset.markers) > 0",
                timeout=60_000,
            )
            page.screenshot(path=str(shots / "drill-down.png"))
            # a phone: the key columns stay inside 390 px
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(live + "/")
            page.wait_for_selector("#ranks tbody tr", timeout=60_000)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            for cell in ("td.rank", "td.sym", "td.p", "td.dir", "td.edge"):
                box = page.locator(f"#ranks tbody tr:first-child {cell}").bounding_box()
                assert box is not None, cell
                assert box["x"] >= 0, cell
                assert box["x"] + box["width"] <= 390, cell
            page.screenshot(path=str(shots / "phone-390.png"), full_page=True)
            assert problems == [], problems
        # the browser closed its stream: a normal disconnect, not an error in the live log
        errors = [
            line
            for line in (tmp_path / "live.log").read_text(errors="replace").splitlines()
            if '"level": "ERROR"' in line or "Traceback" in line or "ConnectionResetError" in line
        ]
        assert errors == []


def trained_package(store: Path, tmp_path: Path) -> Path:
    """A LightGBM package trained on the store it will be served on (one fold): its p moves
    with the market's regimes, so alerts fire, re-arm and fire again (~20 s)."""
    from csx_core.ml.dataset import feature_files, labelled_sample
    from csx_core.ml.train import dataset_from_labelled, evaluate_folds, fit_fold, package_fold
    from csx_core.replay import replay_store
    from csx_pipelines.stages import train_config

    replay_store(store, tmp_path / "features")
    cfg = train_config(
        tmp_path, horizon_s=300, threshold_bps=10.0, n_folds=1, embargo_s=60, calibration="platt"
    )
    labelled = labelled_sample(
        feature_files(tmp_path / "features"), cfg.cost, cfg.labels, stride_s=10
    )
    ds = dataset_from_labelled(labelled, cfg)
    x = ds.x
    fitted = [fit_fold(ds, fold, cfg, x) for fold in ds.folds]
    report = evaluate_folds(ds, fitted, cfg, x)
    package_fold(ds, fitted[-1], report, cfg, tmp_path / "package")
    return tmp_path / "package"


def _json(symbols: list[str]) -> str:
    import json

    return json.dumps(symbols, separators=(",", ":"))
