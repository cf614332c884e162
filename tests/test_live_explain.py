"""Explanations in the live runner, off the hot path (``csx_live.explain_wiring``): the
evidence packet comes from the tick that ranked the symbol (reason codes with the values of
their features, the model's cost breakdown), explanations attach to ``/api/ranks`` and the
dashboard once ready and pass the guardrails, and a slow LLM never holds up a tick.
The end-to-end test runs ``build_live`` against the fake exchange with a real LightGBM
champion and a shadow challenger, and checks ranks, /metrics and /api/outcomes together."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import msgspec
import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from csx_core.contracts import LLMExplainInput, LLMExplainOutput, MarketEvent, ReasonCode
from csx_core.explain import check_explanation
from csx_core.explain.mapping import feature_for_codes
from csx_core.features import FEATURE_NAMES, PRICE_COLUMNS
from csx_core.ml.package import PackagedScorer, load_package
from csx_core.ml.scorer import Scores
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.reasons import DEFAULT_RULES, ReasonMapper, match_rule
from csx_core.ranking.tick import TickPipeline
from csx_live.app import build_live
from csx_live.config import LiveSettings, load_settings
from csx_live.dashboard import HealthStrip
from csx_live.dashboard.tracker import DashboardTracker
from csx_live.explain_wiring import LiveExplain
from csx_live.llm import ExplainService, MockExplainer
from csx_live.model import LoadedModel
from csx_live.runner import Runner, TickReport
from csx_live.state import ModelInfo
from tests.test_live_outcomes import scoring_runner, stream, tiny_package
from tests.test_metrics_labels import market_events


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> PackagedScorer:
    return load_package(
        tiny_package(tmp_path_factory.mktemp("explain") / "pkg", seed=4, horizon_s=2)
    )


async def eventually(condition: Callable[[], bool], within_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Recording:
    """The mock explainer, remembering every packet it answered."""

    def __init__(self) -> None:
        self.inner = MockExplainer()
        self.seen: list[tuple[LLMExplainInput, LLMExplainOutput]] = []

    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        out = await self.inner.explain(evidence)
        self.seen.append((evidence, out))
        return out

    async def aclose(self) -> None:
        return None


class Stuck:
    """An LLM that never answers within the test (its calls hang until cancelled)."""

    def __init__(self) -> None:
        self.started = 0

    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        self.started += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


# -- the mapping ---------------------------------------------------------------------------------


def test_each_code_is_shown_with_a_feature_that_can_produce_it() -> None:
    mapping = feature_for_codes(FEATURE_NAMES)
    mapper = ReasonMapper(FEATURE_NAMES)
    for code, name in mapping.items():
        j = FEATURE_NAMES.index(name)
        assert code in {mapper.code_for(j, 1.0), mapper.code_for(j, -1.0)}, (code, name)
    producible = {
        c
        for n in FEATURE_NAMES
        if (rule := match_rule(n)) is not None
        for c in (rule.positive, rule.negative)
        if c is not None
    }
    assert set(mapping) == producible
    assert len(mapping) >= 8, "the engine's features cover most reason codes"


def test_the_first_listed_feature_wins_so_the_models_own_names_come_first() -> None:
    rule = DEFAULT_RULES[-2]  # volatility
    assert feature_for_codes(["rv_60s", "rv_10s"])[rule.positive] == "rv_60s"
    assert feature_for_codes(["rv_10s", "rv_60s"])[rule.positive] == "rv_10s"
    assert feature_for_codes(["no_rule_here"]) == {}


# -- the listener on a scoring runner ------------------------------------------------------------


async def process_tick_by_tick(
    runner: Runner, explain: LiveExplain, events: list[MarketEvent], reports: list[TickReport]
) -> None:
    """Feed events one by one and, after each tick, let the explainer answer (a mock answers
    within the tick interval, as it would live)."""
    for event in events:
        before = len(reports)
        runner.process([event])
        if len(reports) != before:
            await eventually(lambda: explain.service.pending == 0)
            await asyncio.sleep(0)


def explained_runner(
    champion: PackagedScorer, explainer: Recording | Stuck
) -> tuple[Runner, LiveExplain, list[TickReport]]:
    runner, state = scoring_runner(champion)
    service = ExplainService(explainer, registry=CollectorRegistry())
    explain = LiveExplain(service, state=state)
    explain.use_model(champion.cost, champion.feature_names)
    reports: list[TickReport] = []
    runner.tick_listeners.extend([explain.on_tick, reports.append])
    return runner, explain, reports


async def test_packets_come_from_the_ranking_tick_and_answers_reach_the_ranks(
    champion: PackagedScorer,
) -> None:
    recording = Recording()
    runner, explain, reports = explained_runner(champion, recording)
    async with explain.service:
        await process_tick_by_tick(runner, explain, stream(12), reports)
    assert explain.counts.requested >= len(recording.seen) >= 2, "the rest were cache hits"
    entered = {p.symbol for r in reports for p in (*r.ranked, *r.alerts)}
    entered_codes = {
        s: {
            c
            for r in reports
            for p in (*r.ranked, *r.alerts)
            if p.symbol == s
            for c in p.reason_codes
        }
        for s in entered
    }
    assert {e.symbol for e, _ in recording.seen} <= entered
    for evidence, output in recording.seen:
        assert check_explanation(evidence, output.status.value, output.text).ok
        assert all(r.code in entered_codes[evidence.symbol] for r in evidence.reasons)
        assert math.isclose(
            evidence.costs.total_bps,
            sum(
                (
                    evidence.costs.fee_bps,
                    evidence.costs.half_spread_bps,
                    evidence.costs.slippage_bps,
                    evidence.costs.funding_bps,
                )
            ),
        )
    rows = runner.state.ranks
    assert rows
    assert all(r["explanation"] for r in rows), "this model's rows do not move: all current"
    assert {r["explanation_source"] for r in rows} == {"TEMPLATE"}
    assert all(r["explanation_for"]["current"] for r in rows)


async def test_the_packet_carries_this_ticks_feature_values_and_book_costs(
    champion: PackagedScorer,
) -> None:
    runner, explain, reports = explained_runner(champion, Recording())
    runner.process(stream(8))
    last = runner.last_tick
    assert last is not None
    frame = last[0]
    prediction = reports[-1].ranked[0]
    i = frame.symbols.index(prediction.symbol)
    forced = prediction.__class__(
        **{
            **{f: getattr(prediction, f) for f in prediction.__struct_fields__},
            "reason_codes": (ReasonCode.VOLATILITY_EXPANSION, ReasonCode.TRADE_RATE_SURGE),
        }
    )
    evidence = explain.evidence(forced, frame, champion.cost)
    assert evidence is not None
    mapping = feature_for_codes(champion.feature_names)
    for reason in evidence.reasons:
        assert reason.feature == mapping[reason.code]
        assert reason.value == frame.values[i, FEATURE_NAMES.index(reason.feature)]
    bid = frame.prices[i, PRICE_COLUMNS.index("px_bid")]
    ask = frame.prices[i, PRICE_COLUMNS.index("px_ask")]
    assert evidence.costs == champion.cost.breakdown(float(bid), float(ask))
    assert evidence.backtest_net_edge_bps == prediction.backtest_net_edge_bps
    assert evidence.direction_confidence == prediction.direction_confidence
    assert evidence.direction is prediction.direction
    stale = forced.__class__(
        **{**{f: getattr(forced, f) for f in forced.__struct_fields__}, "ts": 0}
    )
    assert explain.evidence(stale, frame, champion.cost) is None, "only the ranking tick's row"


async def test_a_stuck_llm_never_holds_up_a_tick(champion: PackagedScorer) -> None:
    stuck = Stuck()
    runner, explain, reports = explained_runner(champion, stuck)
    timed: list[float] = []
    listener = runner.tick_listeners[0]

    def timed_listener(report: TickReport) -> None:
        start = time.perf_counter()
        listener(report)
        timed.append(time.perf_counter() - start)

    runner.tick_listeners[0] = timed_listener
    events = stream(18)
    chunk = len(events) // 18
    async with explain.service:
        for k in range(15):
            runner.process(events[k * chunk : (k + 1) * chunk])
            await asyncio.sleep(0)  # let the service's workers start their calls
        await eventually(lambda: stuck.started >= 2)
        ticks = runner.state.counters.ticks
        runner.process(events[15 * chunk :])
        assert runner.state.counters.ticks >= ticks + 2, "ticks go on while the LLM hangs"
        assert len(reports) >= 12
        assert explain.counts.requested >= 2
        assert all(r.get("explanation") is None for r in runner.state.ranks)
    assert max(timed) < 0.05, f"listener took {max(timed) * 1e3:.1f} ms with a stuck LLM"


# -- end to end: build_live against the fake exchange --------------------------------------------


@pytest.fixture
async def live(
    champion: PackagedScorer, tmp_path: Path
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    from csx_live.exchange import ExchangeConfig, FakeExchange, ListSource

    challenger = load_package(tiny_package(tmp_path / "chal", seed=5, horizon_s=2))

    def loader(model: PackagedScorer, alias: str) -> Callable[[LiveSettings], LoadedModel]:
        def load(_: LiveSettings) -> LoadedModel:
            info = ModelInfo(model_id=model.model_id, alias=alias, verified=True)
            return LoadedModel(model, info, model.cost)

        return load

    # Symbols are ranked only once warm (an hour of event time): replay the hour of history
    # fast, so warm-up takes ~13 s and each later pass keeps them warm.
    exchange = FakeExchange(
        ListSource(market_events(seconds=40)),
        ExchangeConfig(host="127.0.0.1", port=0, speed=300.0, loop=True),
    )
    async with exchange:
        settings = load_settings(
            env={},
            overrides={
                "rest_url": exchange.rest_url,
                "ws_url": exchange.ws_url,
                "channels": "bookTicker,aggTrade",
                "tick_fallback_s": 1.0,
                "top_k": 2,
                "sink_dir": str(tmp_path / "live"),
                "challenger_source": str(tmp_path / "chal"),
                "outcome_refresh_s": 0.2,
                "graceful_timeout_s": 5.0,
            },
        )
        parts = build_live(
            settings,
            model_loader=loader(champion, "champion"),
            challenger_loader=loader(challenger, "challenger"),
        )
        runner = web.AppRunner(parts.app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield f"http://127.0.0.1:{runner.addresses[0][1]}", http
        finally:
            async with asyncio.timeout(20):
                await runner.cleanup()


@pytest.mark.slow
async def test_live_ranks_explanations_and_outcomes_end_to_end(
    live: tuple[str, aiohttp.ClientSession],
) -> None:
    base, http = live

    async def get(path: str) -> object:
        async with http.get(base + path) as r:
            return await (r.json() if r.content_type == "application/json" else r.text())

    got: dict[str, object] = {}

    async def poll(path: str, ok: Callable[[object], bool], within_s: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            got[path] = await get(path)
            if ok(got[path]):
                return
            assert loop.time() < deadline, got[path]
            await asyncio.sleep(0.1)

    def explained(body: object) -> bool:
        """Every row explained (current, or marked older) and none misstated by its text."""
        ranks = body["ranks"] if isinstance(body, dict) else []
        for r in ranks:
            if r.get("explanation"):
                edge = r.get("backtest_net_edge_bps")
                assert contradiction(r["explanation"], r["p_inplay"], r["direction"], edge) is None
        return bool(ranks) and all(
            r.get("explanation") or (r.get("explanation_older") and r["explanation_for"])
            for r in ranks
        )

    await poll("/api/ranks", explained)
    await poll("/api/dashboard", explained)

    def both_resolved(body: object) -> bool:
        roles = body.get("roles", {}) if isinstance(body, dict) else {}
        return all(
            roles.get(r, {}).get("resolved_total", 0) > 0 for r in ("champion", "challenger")
        )

    await poll("/api/outcomes", both_resolved)

    def strip_shows_both(body: object) -> bool:
        rows = body["health"]["live_outcomes"] if isinstance(body, dict) else []
        return [r["role"] for r in rows] == ["champion", "challenger"] and all(
            r["resolved_total"] > 0 and r["brier"] is not None for r in rows
        )

    await poll("/api/dashboard", strip_shows_both)
    text = await get("/metrics")
    assert isinstance(text, str)
    assert 'csx_llm_requests_total{path="live"}' in text
    assert 'csx_live_resolved_total{role="champion"}' in text
    assert 'csx_live_brier{role="challenger"}' in text
    ranks = got["/api/ranks"]
    assert isinstance(ranks, dict)
    assert {r["symbol"] for r in ranks["ranks"]} <= {"AAAUSDT", "BBBUSDT", "CCCUSDT"}


@pytest.mark.parametrize("field", ["outcome_window_s", "outcome_refresh_s", "explain_timeout_s"])
def test_new_settings_are_validated(field: str) -> None:
    from csx_live.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load_settings(env={}, overrides={field: 0})
    assert err.value.field == field


@pytest.mark.parametrize("explain", [True, False])
def test_explanations_can_be_switched_off(explain: bool, tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    settings = load_settings(
        env={"CSX_EXPLAIN": str(explain).lower()}, overrides={"sink_dir": str(tmp_path)}
    )
    parts = build_live(settings)
    assert (parts.explain is not None) is explain
    text = generate_latest(parts.registry).decode()
    assert ("csx_llm_requests_total" in text) is explain
    assert "# TYPE csx_live_ece gauge" in text
    if parts.explain is not None:
        assert isinstance(parts.explain.service._explainer, MockExplainer), "no key: the mock"


async def test_an_api_key_in_the_environment_selects_the_anthropic_explainer(
    tmp_path: Path,
) -> None:
    from csx_live.app import make_explain_service
    from csx_live.llm import AnthropicExplainer

    with_key = load_settings(
        env={"ANTHROPIC_API_KEY": "sk-ant-test-canary"}, overrides={"sink_dir": str(tmp_path)}
    )
    service = make_explain_service(with_key, CollectorRegistry())
    assert isinstance(service._explainer, AnthropicExplainer)
    await service.aclose()
    without = load_settings(env={}, overrides={"sink_dir": str(tmp_path)})
    assert isinstance(make_explain_service(without, CollectorRegistry())._explainer, MockExplainer)


# -- explanations bound to their tick --------------------------------------------------------------

_STATED_P = re.compile(r"has a (\d+)% in-play probability")
_STATED_DIR = re.compile(r"direction (upward|downward|either way)")
_STATED_EDGE = re.compile(r"backtest net edge (?:of ([+\u2212]\d+\.\d) bps|unknown)")
_WORD_OF = {"UP": "upward", "DOWN": "downward", "EITHER": "either way"}


def contradiction(text: str, p: float, direction: str, edge: float | None) -> str | None:
    """Independently of the binding rule: what the template text states that the row does
    not (its whole-percent probability, its direction word, its edge at 0.1 bps)."""
    stated_p, stated_dir, stated_edge = (
        _STATED_P.search(text),
        _STATED_DIR.search(text),
        _STATED_EDGE.search(text),
    )
    assert stated_p, text
    assert stated_dir, text
    assert stated_edge, text
    if abs(100 * p - int(stated_p[1])) > 0.5 + 1e-9:
        return f"text {stated_p[1]}% vs row {100 * p:.2f}%"
    if stated_dir[1] != _WORD_OF[direction]:
        return f"text {stated_dir[1]} vs row {direction}"
    if (stated_edge[1] is None) != (edge is None):
        return f"text edge {stated_edge[0]} vs row {edge}"
    if edge is not None and abs(edge - float(stated_edge[1].replace("\u2212", "-"))) > 0.05 + 1e-9:
        return f"text edge {stated_edge[1]} vs row {edge}"
    return None


class Drifting:
    """The champion, with its rows' probability, direction and edge moved every third tick
    (the tiny noise model's own scores hardly move): a row changes materially while its
    explanation is in flight, as a real one does."""

    def __init__(self, inner: PackagedScorer) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.inner.feature_names

    def reasons(self, x: np.ndarray) -> list[tuple[ReasonCode, ...]]:
        return self.inner.reasons(x)

    def score(self, x: np.ndarray, *, reason_rows: np.ndarray | None = None) -> Scores:
        base = self.inner.score(x, reason_rows=reason_rows)
        phase = self.calls // 3
        self.calls += 1
        rows = np.arange(len(x))
        direction = np.array([(1, -1, 0)[(phase + i) % 3] for i in rows], dtype=np.int8)
        edge = np.where(direction != 0, ((phase + rows) % 7) - 3.15, np.nan)
        return dataclasses.replace(
            base,
            p=0.2 + 0.6 * (((phase * 7 + rows * 3) % 10) / 10.0),
            direction=direction,
            edge_bps=edge,
        )


async def test_no_served_explanation_states_other_numbers_than_its_row_at_that_tick(
    champion: PackagedScorer,
) -> None:
    """Over a live run (runner, scorer, explainer, API rows, dashboard), at every tick: an
    explanation served as the row's states the row's probability, direction and edge; one
    that no longer does is served only as older, with the numbers it was written for."""
    drifting = Drifting(champion)
    runner, state = scoring_runner(champion)
    runner.use_pipeline(
        TickPipeline(
            drifting,  # type: ignore[arg-type]
            Ranker(RankerConfig(k=2)),
            Alerter(AlertConfig(threshold=0.01, cooldown_s=1)),
        ),
        champion.cost,
    )
    service = ExplainService(Recording(), registry=CollectorRegistry())
    explain = LiveExplain(service, state=state)
    explain.use_model(champion.cost, champion.feature_names)
    tracker = DashboardTracker()
    health = HealthStrip(
        ready=True, connections=1, frames_per_s=1, dropped_total=0, malformed_total=0,
        tick_p99_ms=1,
    )  # fmt: skip
    served: list[tuple[str, dict[str, object]]] = []

    def serve(report: TickReport) -> None:
        served.extend(("api", dict(row)) for row in state.ranks)
        view = tracker.update(
            report.ts,
            report.ranked,
            prices=report.prices,
            explanations=explain.explanations(p.symbol for p in report.ranked),
            health=health,
        )
        served.extend(("dashboard", msgspec.to_builtins(row)) for row in view.ranks)

    reports: list[TickReport] = []
    runner.tick_listeners.extend([explain.on_tick, serve, reports.append])
    async with service:
        await process_tick_by_tick(runner, explain, stream(12), reports)
    current = [(where, r) for where, r in served if r["explanation"]]
    older = [(where, r) for where, r in served if r["explanation_older"]]
    for where, row in current:
        why = contradiction(
            str(row["explanation"]),
            float(row["p_inplay"]),  # type: ignore[arg-type]
            str(row["direction"]),
            row["backtest_net_edge_bps"],  # type: ignore[arg-type]
        )
        assert why is None, (where, why, row)
        written = row["explanation_for"]
        assert isinstance(written, dict)
        assert written["current"] is True
    for where, row in older:
        written = row["explanation_for"]
        assert isinstance(written, dict)
        assert written["current"] is False, (where, row)
        assert row["explanation"] is None
        assert row["explanation_source"] is None
        assert written["age_s"] > 0, "an older explanation is from an earlier tick"
        why = contradiction(
            str(row["explanation_older"]),
            float(row["p_inplay"]),  # type: ignore[arg-type]
            str(row["direction"]),
            row["backtest_net_edge_bps"],  # type: ignore[arg-type]
        )
        assert why is not None, ("an older explanation that still holds", where, row)
        assert (
            contradiction(
                str(row["explanation_older"]),
                float(written["p_inplay"]),
                str(written["direction"]),
                written["backtest_net_edge_bps"],
            )
            is None
        ), "its own numbers are the ones it states"
    moved = {(p.symbol, round(p.p_inplay, 3)) for r in reports for p in r.ranked}
    assert len(moved) >= 6, "the rows changed materially during the run"
    # one event can release several ticks before the explainer runs, and a new request
    # waits refresh_min_s: a row is current on part of its ticks, never misstated on any
    assert len(current) >= 10, (len(current), len(served))
    assert older, "a row that moved was shown with its older explanation, marked"
    assert explain.counts.requested > len({s for s, _ in moved}), "re-asked on material change"
    print(
        f"\nserved rows {len(served)}: current {len(current)}, older {len(older)}, "
        f"none {len(served) - len(current) - len(older)}; requests {explain.counts.requested}"
    )
