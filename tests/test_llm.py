"""The real Anthropic SDK against a fake Messages API on 127.0.0.1, behind the service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from csx_core.cli import main
from csx_core.contracts import (
    CostBreakdown,
    Direction,
    ExplainSource,
    ExplainStatus,
    LLMExplainInput,
    LLMExplainOutput,
    ReasonCode,
    ReasonEvidence,
)
from csx_core.explain import template_text
from csx_core.resilience import BreakerState
from csx_live.llm import (
    AnthropicExplainer,
    AnthropicSettings,
    ExplainService,
    Fallback,
    MockExplainer,
    RequestOutcome,
    ServiceSettings,
    SettingsError,
    make_explainer,
)

API_KEY = "sk-test-not-a-real-key"


def make_evidence(symbol: str = "SOLUSDT", ts: int = 1_000, **overrides: object) -> LLMExplainInput:
    fields: dict[str, object] = {
        "symbol": symbol,
        "ts": ts,
        "p_inplay": 0.72,
        "direction": Direction.UP,
        "backtest_net_edge_bps": 12.3,
        "reasons": (
            ReasonEvidence(code=ReasonCode.VOLUME_SURGE, feature="vol_z_5m", value=4.2),
            ReasonEvidence(code=ReasonCode.TAKER_BUY_PRESSURE, feature="taker_buy_1m", value=0.68),
        ),
        "costs": CostBreakdown(
            fee_bps=4.0, half_spread_bps=0.5, slippage_bps=1.5, funding_bps=0.0, total_bps=6.0
        ),
    }
    fields.update(overrides)
    return LLMExplainInput(**fields)  # type: ignore[arg-type]


GOOD = {"status": "IN_PLAY", "text": "SOLUSDT is 72% likely in play on a 4.2 volume z-score."}


# -- the fake Messages API -------------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    answer: dict[str, str] | str = field(default_factory=lambda: dict(GOOD))
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeAnthropic:
    """POST /v1/messages answering from a script (then the default); records every request."""

    url: str = ""
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[dict[str, object]] = field(default_factory=list)
    headers: list[Mapping[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    gate: asyncio.Event | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(request.headers.copy())
        reply = self.script.pop(0) if self.script else self.default
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if reply.delay_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.release.wait(), reply.delay_s)
        finally:
            self.in_flight -= 1
        if reply.status != 200:
            error = {"type": "error", "error": {"type": "api_error", "message": "scripted"}}
            return web.json_response(error, status=reply.status, headers=reply.headers)
        text = reply.answer if isinstance(reply.answer, str) else json.dumps(reply.answer)
        message = {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 50, "output_tokens": 20},
        }
        return web.json_response(message)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    app = web.Application()
    app.router.add_post("/v1/messages", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        if fake.gate is not None:
            fake.gate.set()
        await runner.cleanup()


class FakeClock:
    """Monotonic seconds stepped by hand (cache TTL and breaker timing)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    service: ExplainService
    registry: CollectorRegistry
    clock: FakeClock
    sleeps: list[float]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def harness(fake_api: FakeAnthropic) -> AsyncIterator[MakeHarness]:
    made: list[ExplainService] = []

    async def make(*, anthropic: dict[str, object] | None = None, **service: object) -> Harness:
        settings = AnthropicSettings.from_mapping(
            {"base_url": fake_api.url, "timeout_s": 5.0, **(anthropic or {})}
        )
        registry = CollectorRegistry()
        clock = FakeClock()
        sleeps: list[float] = []

        async def sleep(delay: float) -> None:
            sleeps.append(delay)
            await asyncio.sleep(0)

        svc = ExplainService(
            AnthropicExplainer(settings, api_key=API_KEY),
            registry=registry,
            settings=ServiceSettings.from_mapping(service),
            clock=clock,
            sleep=sleep,
            rand=lambda: 0.5,
        )
        made.append(svc)
        return Harness(svc, registry, clock, sleeps)

    yield make
    for svc in made:
        await svc.aclose()


async def eventually(condition: Callable[[], bool], *, within_s: float = 5.0) -> None:
    """Poll ``condition`` on the event loop until it holds or ``within_s`` seconds pass."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(0.005)


# -- tests -------------------------------------------------------------------------------------
async def test_good_answer_passes(fake_api: FakeAnthropic, harness: MakeHarness) -> None:
    h = await harness(anthropic={"model": "claude-test-1", "max_tokens": 123})
    out = await h.service.explain(make_evidence())
    assert (out.source, out.status, out.rejected) == (
        ExplainSource.LLM,
        ExplainStatus.IN_PLAY,
        None,
    )
    assert out.text == GOOD["text"]
    [body] = fake_api.requests
    assert (body["model"], body["max_tokens"]) == ("claude-test-1", 123)
    assert "temperature" not in body
    assert "IN_PLAY" in str(body["system"])
    user = body["messages"][0]["content"]  # type: ignore[index]
    assert json.loads(user.split("\n", 1)[1])["symbol"] == "SOLUSDT"
    sent = fake_api.headers[0]
    assert API_KEY in sent.get("x-api-key", sent.get("authorization", ""))
    assert h.metric("csx_llm_calls_total", outcome="ok") == 1
    assert h.metric("csx_llm_explanations_total", source="LLM") == 1
    assert h.metric("csx_llm_call_latency_seconds_count") == 1


async def test_temperature_is_sent_when_configured(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    h = await harness(anthropic={"temperature": 0.2})
    await h.service.explain(make_evidence())
    assert fake_api.requests[0]["temperature"] == 0.2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status": "IN_PLAY", "text": "SOLUSDT is 85% likely in play."}, "NEW_NUMBER"),
        ({"status": "MOON", "text": "SOLUSDT is in play."}, "BAD_STATUS"),
        ({"status": "IN_PLAY", "text": "SOLUSDT leads ETHUSDT higher."}, "OTHER_SYMBOL"),
        ({"status": "IN_PLAY", "text": "**SOLUSDT** is in play."}, "MARKUP"),
        ("Sure! SOLUSDT is in play.", "MALFORMED"),
    ],
)
async def test_bad_answers_are_rejected_and_fall_back(
    fake_api: FakeAnthropic, harness: MakeHarness, answer: dict[str, str] | str, reason: str
) -> None:
    fake_api.default = Reply(answer=answer)
    h = await harness()
    evidence = make_evidence()
    out = await h.service.explain(evidence)
    assert (out.source, out.rejected) == (ExplainSource.TEMPLATE, reason)
    assert out.text == template_text(evidence)
    assert h.metric("csx_llm_rejections_total", reason=reason) == 1
    assert h.metric("csx_llm_fallbacks_total", reason="REJECTED") == 1
    assert h.metric("csx_llm_calls_total", outcome="ok") == 1, "the API itself was healthy"


@pytest.mark.parametrize(
    ("sdk_timeout_s", "hard_timeout_s"), [(5.0, 0.3), (0.3, 5.0)], ids=["hard", "sdk"]
)
async def test_slow_answer_times_out(
    fake_api: FakeAnthropic, harness: MakeHarness, sdk_timeout_s: float, hard_timeout_s: float
) -> None:
    fake_api.default = Reply(delay_s=10.0)
    h = await harness(anthropic={"timeout_s": sdk_timeout_s}, call_timeout_s=hard_timeout_s)
    started = time.monotonic()
    out = await h.service.explain(make_evidence())
    assert time.monotonic() - started < 3.0
    assert (out.source, out.rejected) == (ExplainSource.TEMPLATE, Fallback.TIMEOUT.value)
    assert h.metric("csx_llm_timeouts_total") == 1
    assert h.metric("csx_llm_fallbacks_total", reason="TIMEOUT") == 1
    assert len(fake_api.requests) == 1, "a timeout is not retried"


@pytest.mark.parametrize("status", [429, 529, 500, 503])
async def test_retryable_status_then_success_retries(
    fake_api: FakeAnthropic, harness: MakeHarness, status: int
) -> None:
    fake_api.script = [Reply(status=status, headers={"retry-after": "0"})]
    h = await harness(backoff_base_s=0.2, backoff_cap_s=1.0)
    out = await h.service.explain(make_evidence())
    assert out.source is ExplainSource.LLM
    assert len(fake_api.requests) == 2
    assert h.sleeps == [pytest.approx(0.1)], "full jitter: rand 0.5 x base 0.2"
    assert h.metric("csx_llm_retries_total") == 1


async def test_retry_after_is_honoured_up_to_the_cap(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    fake_api.script = [
        Reply(status=429, headers={"retry-after": "0.7"}),
        Reply(status=429, headers={"retry-after": "60"}),
    ]
    h = await harness(backoff_base_s=0.1, backoff_cap_s=2.0)
    out = await h.service.explain(make_evidence())
    assert out.source is ExplainSource.LLM
    assert h.sleeps == [pytest.approx(0.7), pytest.approx(2.0)]


async def test_client_errors_are_not_retried(fake_api: FakeAnthropic, harness: MakeHarness) -> None:
    fake_api.default = Reply(status=400)
    h = await harness()
    out = await h.service.explain(make_evidence())
    assert out.rejected == Fallback.UPSTREAM_ERROR.value
    assert len(fake_api.requests) == 1
    assert h.metric("csx_llm_calls_total", outcome="client_error") == 1


async def test_persistent_5xx_opens_the_breaker_and_a_probe_closes_it(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    fake_api.default = Reply(status=500)
    h = await harness(max_retries=2, breaker_failure_threshold=3, breaker_open_s=30.0)
    out = await h.service.explain(make_evidence())
    assert out.rejected == Fallback.UPSTREAM_ERROR.value
    assert len(fake_api.requests) == 3, "one call and two bounded retries"
    assert h.service.breaker.state(h.clock()) is BreakerState.OPEN
    assert h.metric("csx_llm_breaker_state") == 1
    assert h.metric("csx_llm_breaker_opened_total") == 1

    out = await h.service.explain(make_evidence("XRPUSDT"))
    assert out.rejected == Fallback.BREAKER_OPEN.value
    assert len(fake_api.requests) == 3, "an open breaker makes no call"

    fake_api.default = Reply()
    h.clock.now += 30.0
    assert h.service.breaker.state(h.clock()) is BreakerState.HALF_OPEN
    out = await h.service.explain(make_evidence())  # failures were not cached
    assert out.source is ExplainSource.LLM
    assert len(fake_api.requests) == 4
    assert h.service.breaker.state(h.clock()) is BreakerState.CLOSED
    assert h.metric("csx_llm_breaker_state") == 0


async def test_cache_serves_the_same_symbol_and_reasons_while_the_answer_matches(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    h = await harness(cache_ttl_s=60.0)
    first = await h.service.explain(make_evidence(ts=1))
    second = await h.service.explain(make_evidence(ts=2, p_inplay=0.7249))
    assert second == first, "its '72%' still holds: cached answer, its ts and numbers kept"
    assert (second.ts, second.p_inplay) == (1, 0.72)
    assert len(fake_api.requests) == 1
    moved = await h.service.explain(make_evidence(ts=3, p_inplay=0.73))
    assert len(fake_api.requests) == 2, "the cached 72% would misstate a 73% packet"
    assert (moved.ts, moved.p_inplay) == (3, 0.73)
    await h.service.explain(make_evidence(ts=4, reasons=()))
    assert len(fake_api.requests) == 3, "a different reason set is a different key"
    h.clock.now += 60.0
    await h.service.explain(make_evidence(ts=5, p_inplay=0.73))
    assert len(fake_api.requests) == 4
    assert h.metric("csx_llm_cache_lookups_total", result="hit") == 1


async def test_a_cache_hit_answering_a_newer_request_replaces_a_newer_fallback(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    """The live latest is the answer to the newest request, even when that answer is a
    cached one written for an older tick."""
    h = await harness(cache_ttl_s=60.0)
    cached = await h.service.explain(make_evidence(ts=1))
    await h.service.start()
    fake_api.default = Reply(status=400)
    assert h.service.request(make_evidence(ts=5, p_inplay=0.9)) is RequestOutcome.QUEUED
    await eventually(lambda: h.service.latest("SOLUSDT") is not None)
    fallback = h.service.latest("SOLUSDT")
    assert fallback is not None
    assert (fallback.ts, fallback.source) == (5, ExplainSource.TEMPLATE)
    assert h.service.request(make_evidence(ts=9)) is RequestOutcome.CACHED
    assert h.service.latest("SOLUSDT") == cached, "ts 1, but it answers the ts-9 request"


async def test_concurrency_is_capped(fake_api: FakeAnthropic, harness: MakeHarness) -> None:
    fake_api.gate = asyncio.Event()
    h = await harness(concurrency=2)
    tasks = [asyncio.create_task(h.service.explain(make_evidence(f"S{i}USDT"))) for i in range(5)]
    await eventually(lambda: fake_api.in_flight == 2)
    assert h.metric("csx_llm_inflight") == 2
    fake_api.gate.set()
    outs = await asyncio.gather(*tasks)
    assert fake_api.max_in_flight == 2
    assert len(outs) == 5
    assert h.metric("csx_llm_inflight") == 0


async def test_live_request_is_non_blocking_and_latest_fills_in(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    fake_api.gate = asyncio.Event()
    h = await harness(concurrency=1)
    await h.service.start()
    assert h.service.request(make_evidence()) is RequestOutcome.QUEUED
    await eventually(lambda: fake_api.in_flight == 1)
    assert h.service.latest("SOLUSDT") is None, "the LLM is still thinking; nobody waited"
    fake_api.gate.set()
    await eventually(lambda: h.service.latest("SOLUSDT") is not None)
    latest = h.service.latest("SOLUSDT")
    assert latest is not None
    assert latest.source is ExplainSource.LLM
    assert h.service.request(make_evidence(ts=2_000)) is RequestOutcome.CACHED
    assert h.metric("csx_llm_requests_total", path="live") == 2


@pytest.mark.parametrize(
    ("overflow", "kept"),
    [("drop_oldest", ["BUSDT", "CUSDT"]), ("drop_new", ["AUSDT", "BUSDT"])],
)
async def test_queue_is_bounded_with_a_counted_overflow_policy(
    fake_api: FakeAnthropic, harness: MakeHarness, overflow: str, kept: list[str]
) -> None:
    h = await harness(queue_size=2, overflow=overflow, concurrency=1)
    svc = h.service
    assert svc.request(make_evidence("AUSDT")) is RequestOutcome.QUEUED
    assert svc.request(make_evidence("BUSDT")) is RequestOutcome.QUEUED
    assert svc.request(make_evidence("BUSDT", ts=5_000)) is RequestOutcome.REPLACED
    third = svc.request(make_evidence("CUSDT"))
    assert third is (RequestOutcome.DROPPED if overflow == "drop_new" else RequestOutcome.QUEUED)
    assert svc.pending == 2
    assert h.metric("csx_llm_queue_dropped_total") == 1
    await svc.start()
    await eventually(lambda: all(svc.latest(s) is not None for s in kept))
    await eventually(lambda: svc.pending == 0)
    dropped = ({"AUSDT", "BUSDT", "CUSDT"} - set(kept)).pop()
    assert svc.latest(dropped) is None
    b = svc.latest("BUSDT")
    assert b is not None
    assert b.ts == 5_000, "the newer packet replaced the queued one"
    assert len(fake_api.requests) == 2


async def test_mock_is_the_default_without_an_api_key() -> None:
    settings = AnthropicSettings()
    mock = make_explainer(settings, {})
    assert isinstance(mock, MockExplainer)
    assert isinstance(make_explainer(settings, {"ANTHROPIC_API_KEY": "  "}), MockExplainer)
    real = make_explainer(settings, {"ANTHROPIC_API_KEY": API_KEY})
    assert isinstance(real, AnthropicExplainer)
    await real.aclose()
    evidence = make_evidence()
    registry = CollectorRegistry()
    async with ExplainService(mock, registry=registry) as service:
        out = await service.explain(evidence)
        assert (out.source, out.rejected, out.text) == (
            ExplainSource.TEMPLATE,
            None,
            template_text(evidence),
        )
        assert out == await mock.explain(evidence), "deterministic"
    assert registry.get_sample_value("csx_llm_fallbacks_total", {"reason": "REJECTED"}) is None


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (AnthropicSettings, {"modle": "x"}),
        (AnthropicSettings, {"max_tokens": 1}),
        (AnthropicSettings, {"temperature": 2.0}),
        (AnthropicSettings, {"base_url": "ftp://x"}),
        (AnthropicSettings, {"timeout_s": 0}),
        (ServiceSettings, {"concurrency": 0}),
        (ServiceSettings, {"overflow": "drop_random"}),
        (ServiceSettings, {"backoff_base_s": 5.0, "backoff_cap_s": 1.0}),
        (ServiceSettings, {"api_key": "sk-should-not-be-here"}),
    ],
)
def test_settings_are_validated_and_unknown_keys_rejected(
    cls: type[AnthropicSettings] | type[ServiceSettings], data: dict[str, object]
) -> None:
    with pytest.raises(SettingsError):
        cls.from_mapping(data)


class BrokenExplainer:
    """An explainer with a bug: the service must still answer (with the template)."""

    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        raise RuntimeError("bug")

    async def aclose(self) -> None:
        return None


async def test_an_explainer_bug_falls_back_and_does_not_trip_the_breaker() -> None:
    registry = CollectorRegistry()
    async with ExplainService(BrokenExplainer(), registry=registry) as service:
        out = await service.explain(make_evidence())
        assert out.rejected == Fallback.ERROR.value
        assert service.breaker.state(0.0) is BreakerState.CLOSED


async def test_explain_all_keeps_order_for_the_report(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    fake_api.script = [Reply(), Reply(answer={"status": "WATCH", "text": "Nothing new."})]
    h = await harness(concurrency=1)
    symbols = ["AUSDT", "BUSDT", "CUSDT"]
    outs = await h.service.explain_all([make_evidence(s) for s in symbols])
    assert [o.symbol for o in outs] == symbols
    assert len(fake_api.requests) == 3


def test_csx_explain_command_uses_the_template_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    evidence = [make_evidence("AUSDT"), make_evidence("BUSDT", p_inplay=0.1)]
    path = tmp_path / "evidence.jsonl"
    path.write_text("\n".join(e.to_json().decode() for e in evidence) + "\n")
    assert main(["explain", str(path)]) == 0
    outs = [LLMExplainOutput.from_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o.symbol, o.status, o.source) for o in outs] == [
        ("AUSDT", ExplainStatus.IN_PLAY, ExplainSource.TEMPLATE),
        ("BUSDT", ExplainStatus.FADING, ExplainSource.TEMPLATE),
    ]
    path.write_text('{"symbol": "bad"}\n')
    assert main(["explain", str(path)]) == 2


async def test_aclose_cancels_in_flight_work_promptly(
    fake_api: FakeAnthropic, harness: MakeHarness
) -> None:
    fake_api.gate = asyncio.Event()
    h = await harness(concurrency=1)
    await h.service.start()
    h.service.request(make_evidence())
    await eventually(lambda: fake_api.in_flight == 1)
    async with asyncio.timeout(2.0):
        await h.service.aclose()
    assert h.metric("csx_llm_inflight") == 0
    assert h.service.breaker.state(h.clock()) is BreakerState.CLOSED, "cancelling is no failure"
