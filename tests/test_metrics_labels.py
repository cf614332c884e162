"""Label policy of the runner's /metrics: no high-cardinality labels (symbol, connection id,
URL, stream, host, …), no label value that looks like one, and a small bounded number of
series per family. The checker is a plain function tested on sample exposition text, then
applied to the real /metrics of ``csx live``'s composition root streaming from the fake
exchange (``csx exchange``'s ``FakeExchange``) over loopback.

Also home of the helpers the alert-rule and dashboard tests share: the metric names the code
really exports (``exported_series_names``) and a running runner (``running_live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.tooling import require_tool

if TYPE_CHECKING:
    from csx_core.contracts import MarketEvent
    from csx_core.ml.baseline import BaselineScorer
    from csx_live.app import LiveComponents
    from csx_live.exchange import FakeExchange

FORBIDDEN_LABELS = frozenset(
    {
        "symbol", "symbols", "pair", "ticker", "instrument", "asset",
        "stream", "streams", "channel_name", "topic",
        "url", "uri", "endpoint", "webhook", "host", "hostname", "ip", "addr", "address",
        "port", "connection", "connection_id", "conn", "conn_id", "socket", "session",
        "session_id", "request_id", "client_id", "trace_id", "user", "order_id", "trade_id",
    }
)  # fmt: skip
"""Label names whose values grow with the universe, the connections or the traffic."""

MAX_SERIES_PER_FAMILY = 16
"""Per family, excluding histogram buckets: enum-like labels only (status, reason, outcome)."""

_VALUE_PATTERNS = {
    "a symbol": re.compile(r"^[A-Z0-9]{2,}(USDT|USDC|BUSD|BTC|ETH)$"),
    "a lowercase stream name": re.compile(r"^[a-z0-9]+@[a-zA-Z0-9_]+$"),
    "a URL": re.compile(r"^[a-z][a-z0-9+.-]*://"),
    "an IP address": re.compile(r"^\d{1,3}(\.\d{1,3}){3}(:\d+)?$"),
}


def label_violations(exposition: str) -> list[str]:
    """Every breach of the label policy in Prometheus text exposition ``exposition``."""
    problems: list[str] = []
    for family in text_string_to_metric_families(exposition):
        series: set[tuple[tuple[str, str], ...]] = set()
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k not in {"le", "quantile"}}
            series.add(tuple(sorted(labels.items())))
            for name, value in labels.items():
                if name.lower() in FORBIDDEN_LABELS:
                    problems.append(f"{sample.name}: forbidden label {name}={value!r}")
                for what, pattern in _VALUE_PATTERNS.items():
                    if pattern.match(value):
                        problems.append(f"{sample.name}: label {name}={value!r} looks like {what}")
        if len(series) > MAX_SERIES_PER_FAMILY:
            problems.append(
                f"{family.name}: {len(series)} series > {MAX_SERIES_PER_FAMILY} (unbounded label?)"
            )
    return problems


# -- names the code exports ------------------------------------------------------------------


def _series_suffixes(kind: str) -> tuple[str, ...]:
    return {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "info": ("_info",),
        "summary": ("", "_sum", "_count", "_created"),
    }.get(kind, ("",))


def exported_series_names() -> frozenset[str]:
    """Series names (as Prometheus stores them) of the runner's metrics and the LLM metrics,
    read from the code by building both on a fresh registry with every source wired."""
    from csx_core.resilience.breaker import BreakerPolicy, CircuitBreaker
    from csx_core.resilience.governor import RestGovernor
    from csx_live.connectors.gaps import GapLedger
    from csx_live.connectors.stream import LinkStats
    from csx_live.llm.metrics import ExplainMetrics
    from csx_live.metrics import LiveMetrics, MetricSources
    from csx_live.queue import DropOldestQueue
    from csx_live.server import HttpCollector, HttpGuard, HttpLimits
    from csx_live.state import LiveState

    @dataclass
    class Shards:
        shard_count: int = 2
        connected_count: int = 2

    registry = CollectorRegistry()
    LiveMetrics(
        registry,
        MetricSources(
            state=LiveState(prod_requires_verified=False),
            fresh_s=10.0,
            link=LinkStats(),
            ledger=GapLedger(),
            shards=Shards(),
            queue=DropOldestQueue(8),
            governor=RestGovernor(weight_budget_1m=100, max_concurrency=1, max_queue=1),
            breaker=CircuitBreaker(BreakerPolicy(failure_threshold=1, open_s=1.0)),
        ),
    )
    ExplainMetrics(registry)
    registry.register(HttpCollector(HttpGuard(HttpLimits())))
    names = {"up"}
    for family in registry.collect():
        names.update(family.name + s for s in _series_suffixes(family.type))
    return frozenset(names)


METRIC_NAME = re.compile(r"\bcsx_[a-z0-9_]+\b|(?<![\w.])up(?=\s*[{)=<>!]|\s*$)")


def metric_names_in(promql: str) -> set[str]:
    """The ``csx_*`` series names (and Prometheus' own ``up``) a PromQL expression selects."""
    return set(METRIC_NAME.findall(promql))


# -- a running runner against the fake exchange ------------------------------------------------

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")


# Event time the feature engine needs before a symbol is warm (its 60-minute baselines,
# whole minutes): only warm symbols are ranked, alerted and explained.
WARMUP_S = 63 * 60
WARMUP_STEP_MS = 10_000


def market_events(
    seconds: int = 30, step_ms: int = 20, *, warmup_s: int = WARMUP_S
) -> list[MarketEvent]:
    """A small synthetic two-sided market: a trade and a book top per symbol every step,
    after ``warmup_s`` of coarser history (one every 10 s) that ends now, so the symbols
    are warm when the fine part starts."""
    from csx_core.contracts import BookTop, Trade

    now = time.time_ns() // 1_000_000 * 1_000_000
    t0 = now - warmup_s * 1_000_000_000
    steps = [t0 + i * WARMUP_STEP_MS * 1_000_000 for i in range(warmup_s * 1000 // WARMUP_STEP_MS)]
    steps += [now + i * step_ms * 1_000_000 for i in range(seconds * 1000 // step_ms)]
    out: list[MarketEvent] = []
    for i, ts in enumerate(steps):
        for k, sym in enumerate(SYMBOLS):
            px = 100.0 * (k + 1) + (i % 40) * 0.01
            out.append(Trade(symbol=sym, ts_event=ts, ts_recv=ts, trade_id=i + 1, price=px,
                             qty=1.0 + (i % 3), buyer_is_maker=i % 2 == 0))  # fmt: skip
            out.append(BookTop(symbol=sym, ts_event=ts, ts_recv=ts, update_id=i + 1,
                               bid_price=round(px - 0.01, 2), bid_qty=3.0,
                               ask_price=round(px + 0.01, 2), ask_qty=4.0))  # fmt: skip
    return out


def baseline_scorer() -> BaselineScorer:
    """A fixed, untrained baseline: scores every symbol, so the runner gets ready and ranks."""
    import numpy as np

    from csx_core.features import FEATURE_NAMES
    from csx_core.ml.baseline import BaselineScorer
    from csx_core.ml.calibration import Calibrator

    return BaselineScorer(
        names=FEATURE_NAMES,
        calibrator=Calibrator("platt", a=1.0, b=-1.0),
        term_means=np.zeros(3),
    )


@dataclass
class Running:
    parts: LiveComponents
    exchange: FakeExchange
    base: str
    port: int


async def eventually(condition: Callable[[], bool], within_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_live(tmp_path: Path, **settings: object) -> AsyncIterator[Running]:
    """``build_live`` (the real composition root, real wire decoder, the baseline scorer as
    model) connected to a ``FakeExchange`` replaying :func:`market_events` in a loop."""
    from csx_live.app import build_live
    from csx_live.config import load_settings
    from csx_live.exchange import ExchangeConfig, FakeExchange, ListSource
    from csx_live.model import LoadedModel
    from csx_live.state import ModelInfo

    def loader(_: object) -> LoadedModel:
        info = ModelInfo(model_id="baseline-v1", alias="champion", verified=True)
        return LoadedModel(baseline_scorer(), info, None)

    exchange = FakeExchange(
        ListSource(market_events(warmup_s=0)),  # metrics need ticks, not warm ranks
        ExchangeConfig(host="127.0.0.1", port=0, speed=1.0, loop=True),
    )
    async with exchange:
        overrides: dict[str, object] = {
            "rest_url": exchange.rest_url,
            "ws_url": exchange.ws_url,
            "channels": "bookTicker,aggTrade",
            "data_fresh_s": 3.0,
            "tick_fallback_s": 1.0,
            "top_k": 2,
            "sink_dir": str(tmp_path / "live"),
            "graceful_timeout_s": 5.0,
            **settings,
        }
        parts = build_live(load_settings(env={}, overrides=overrides), model_loader=loader)
        runner = web.AppRunner(parts.app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Running(parts, exchange, f"http://127.0.0.1:{port}", port)
        finally:
            async with asyncio.timeout(10):
                await runner.cleanup()


# -- tests -------------------------------------------------------------------------------------

CLEAN = """\
# HELP csx_rest_rate_limited_total 429/418 responses
# TYPE csx_rest_rate_limited_total counter
csx_rest_rate_limited_total{status="429"} 3.0
csx_rest_rate_limited_total{status="418"} 0.0
# HELP csx_tick_duration_seconds Tick time
# TYPE csx_tick_duration_seconds histogram
csx_tick_duration_seconds_bucket{le="0.01"} 4.0
csx_tick_duration_seconds_bucket{le="+Inf"} 5.0
csx_tick_duration_seconds_count 5.0
csx_tick_duration_seconds_sum 0.02
# HELP csx_model_info The scorer
# TYPE csx_model_info gauge
csx_model_info{alias="champion",model_id="m-1",version="3"} 1.0
"""


def test_clean_exposition_passes() -> None:
    assert label_violations(CLEAN) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('csx_frames_total{symbol="BTCUSDT"} 1', "forbidden label symbol"),
        ('csx_frames_total{connection_id="7"} 1', "forbidden label connection_id"),
        ('csx_frames_total{url="wss://x"} 1', "forbidden label url"),
        ('csx_frames_total{stream="btcusdt@aggTrade"} 1', "forbidden label stream"),
        ('csx_frames_total{host="a"} 1', "forbidden label host"),
        ('csx_frames_total{kind="ETHUSDT"} 1', "looks like a symbol"),
        ('csx_frames_total{kind="btcusdt@bookTicker"} 1', "looks like a lowercase stream"),
        ('csx_frames_total{target="http://10.0.0.1"} 1', "looks like a URL"),
        ('csx_frames_total{peer="10.1.2.3:443"} 1', "looks like an IP"),
    ],
)
def test_high_cardinality_labels_are_reported(line: str, expected: str) -> None:
    text = f"# TYPE csx_frames_total counter\n{line}\n"
    problems = label_violations(text)
    assert len(problems) >= 1
    assert any(expected in p for p in problems), problems


def test_too_many_series_in_a_family_is_reported() -> None:
    rows = "".join(f'csx_x_total{{reason="r{i}"}} 1\n' for i in range(MAX_SERIES_PER_FAMILY + 1))
    problems = label_violations("# TYPE csx_x_total counter\n" + rows)
    assert problems == [f"csx_x: {MAX_SERIES_PER_FAMILY + 1} series > 16 (unbounded label?)"]
    rows = "".join(f'csx_x_total{{reason="r{i}"}} 1\n' for i in range(MAX_SERIES_PER_FAMILY))
    assert label_violations("# TYPE csx_x_total counter\n" + rows) == []


def test_code_exports_the_documented_metrics() -> None:
    """The docstring table of csx_live/metrics.py and the registry agree (both directions)."""
    import csx_live.metrics

    documented = set(re.findall(r"``(csx_[a-z0-9_]+)", csx_live.metrics.__doc__ or ""))
    documented = {n + "_bucket" if n.endswith("_duration_seconds") else n for n in documented}
    exported = {n for n in exported_series_names() if not n.startswith("csx_llm_")}
    exported -= {n for n in exported if n.endswith(("_created", "_sum", "_count"))}
    exported.discard("up")
    assert documented == exported


@pytest.fixture
async def real_exposition(tmp_path: Path) -> str:
    """The /metrics text of a runner that has streamed and ticked."""
    async with running_live(tmp_path) as live:
        parts = live.parts
        await eventually(lambda: parts.state.counters.ticks >= 1)
        await eventually(lambda: parts.link.frames_in > 100)
        async with aiohttp.ClientSession() as http, http.get(live.base + "/metrics") as r:
            assert r.status == 200
            return await r.text()


def test_real_runner_metrics_obey_the_label_policy(real_exposition: str) -> None:
    families = {f.name for f in text_string_to_metric_families(real_exposition)}
    assert {"csx_ws_frames_received", "csx_feature_staleness_seconds", "csx_ready"} <= families
    assert len(families) >= 18
    assert "AAAUSDT" not in real_exposition
    assert label_violations(real_exposition) == []


def test_real_runner_metrics_pass_promtool_lint(real_exposition: str) -> None:
    """``promtool check metrics``: Prometheus' own naming/type/help conventions."""
    tool = require_tool("promtool", "prometheus")
    done = subprocess.run(
        [tool, "check", "metrics"],
        input=real_exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""
