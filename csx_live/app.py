"""The composition root of ``csx live``: the only place that constructs the live I/O objects.

``build_live(settings)`` wires settings → REST client (governor + circuit breaker) →
universe → stream plans → ShardManager → Runner (decoder, queue, FeatureEngine, scorer,
ranker, alerter, sinks) → metrics → the aiohttp app. Network work starts in the app's
``cleanup_ctx`` (so ``/healthz`` answers at once) and stops, flushed, when the app cleans up.

Two tick listeners ride beside the dashboard feed: explanations (``explain_wiring``: the
evidence of new top-K entrants and alerts goes to the ExplainService's queue, never awaited;
Anthropic when ``ANTHROPIC_API_KEY`` was in the environment, the template explainer
otherwise) and live outcome resolution with the optional shadow challenger
(``outcomes_wiring``; ``/api/outcomes`` and the ``csx_live_*`` metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from csx_core.contracts import MarketEvent
from csx_core.features import EngineConfig, FeatureEngine
from csx_core.ml.package import PackagedScorer
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_core.resilience.backoff import Backoff, BackoffPolicy
from csx_core.resilience.breaker import BreakerPolicy, CircuitBreaker
from csx_core.resilience.governor import RestGovernor
from csx_core.store import EventStore
from csx_live.config import LiveSettings, Profile
from csx_live.connectors import (
    GapLedger,
    LinkStats,
    ShardManager,
    StreamTiming,
    plan_shards,
    streams_for,
)
from csx_live.dashboard.routes import add_dashboard_routes
from csx_live.dashboard_feed import DashboardFeed
from csx_live.explain_wiring import LiveExplain
from csx_live.llm import (
    API_KEY_ENV,
    AnthropicSettings,
    ExplainService,
    ServiceSettings,
    make_explainer,
)
from csx_live.metrics import LiveMetrics, MetricSources
from csx_live.model import (
    LoadedModel,
    ModelUnavailableError,
    champion_gate_record,
    load_model,
)
from csx_live.outcomes_wiring import LiveOutcomes, edge_table_of, labels_of
from csx_live.queue import DropOldestQueue
from csx_live.recorder import GAPS_FILE, BatchRecorder, DowntimeGap, GapJournal, last_committed_ns
from csx_live.rest import RestClient
from csx_live.runner import Decode, Runner, RunnerConfig, TickReport
from csx_live.server import GuardedAppRunner, HttpLimits, create_app
from csx_live.sinks import JsonlSink, WebhookSink
from csx_live.state import LiveState
from csx_live.universe import Universe, UniverseWatcher

log = logging.getLogger(__name__)

ModelLoader = Callable[[LiveSettings], LoadedModel]


class DecoderUnavailableError(RuntimeError):
    """The wire decoder (``csx_core.wire``) is not installed/importable."""


class MalformedFrameError(ValueError):
    """The wire decoder rejected a frame (its ``WireError`` kind is the message)."""


def default_decoder() -> Decode:
    """``csx_core.wire``'s counting FrameDecoder adapted to the runner's ``Decode``: market
    events pass, ``WireError`` raises :class:`MalformedFrameError` (counted as malformed),
    control replies, depth updates and unmodelled streams yield nothing (counted as ignored;
    the screener's features do not use depth)."""
    try:
        from csx_core.contracts import EVENT_TYPES
        from csx_core.wire.counters import FrameDecoder
        from csx_core.wire.depth import WireError
    except ImportError as exc:
        raise DecoderUnavailableError(
            "csx_core.wire (the Binance frame decoder) is not available; csx live cannot "
            "decode frames without it"
        ) from exc
    decoder = FrameDecoder()
    event_types = frozenset(EVENT_TYPES)
    none: tuple[MarketEvent, ...] = ()

    def decode(frame: bytes, recv_ns: int) -> tuple[MarketEvent, ...]:
        out = decoder.decode(frame, recv_ns)
        kind = type(out)
        if kind in event_types:
            return (out,)  # type: ignore[return-value]
        if kind is WireError:
            raise MalformedFrameError(str(out.kind))  # type: ignore[union-attr]
        return none

    return decode


def default_model_loader(settings: LiveSettings) -> LoadedModel:
    return load_model(
        settings.model_source,
        profile=settings.profile,
        tracking_uri=settings.mlflow_tracking_uri,
        cache_dir=Path(settings.sink_dir) / "models",
        expected_digest=settings.expected_package_digest,
    )


def default_challenger_loader(settings: LiveSettings) -> LoadedModel:
    """The shadow model (``challenger_source``); verified like the champion."""
    return load_model(
        settings.challenger_source,
        profile=settings.profile,
        tracking_uri=settings.mlflow_tracking_uri,
        cache_dir=Path(settings.sink_dir) / "models",
    )


def make_explain_service(settings: LiveSettings, registry: CollectorRegistry) -> ExplainService:
    """The explainer behind the service: Anthropic when the settings carry the API key (read
    from the environment by ``load_settings``), the deterministic template otherwise."""
    key = settings.anthropic_api_key
    environ = {API_KEY_ENV: key.reveal()} if key is not None else {}
    explainer = make_explainer(
        AnthropicSettings(model=settings.explain_model, timeout_s=settings.explain_timeout_s),
        environ,
    )
    return ExplainService(
        explainer,
        registry=registry,
        settings=ServiceSettings(call_timeout_s=settings.explain_timeout_s),
    )


@dataclass
class LiveComponents:
    """Everything ``build_live`` made, for tests and the soak harness to inspect."""

    settings: LiveSettings
    state: LiveState
    registry: CollectorRegistry
    metrics: LiveMetrics
    queue: DropOldestQueue[MarketEvent]
    runner: Runner
    governor: RestGovernor
    breaker: CircuitBreaker
    ledger: GapLedger
    link: LinkStats
    app: web.Application
    shards: ShardManager | None = None
    universe: UniverseWatcher | None = None
    webhooks: WebhookSink | None = None
    sink: JsonlSink | None = None
    explain: LiveExplain | None = None
    outcomes: LiveOutcomes | None = None
    recorder: BatchRecorder | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build_live(
    settings: LiveSettings,
    *,
    decode: Decode | None = None,
    model_loader: ModelLoader = default_model_loader,
    challenger_loader: ModelLoader = default_challenger_loader,
    explain_service: ExplainService | None = None,
    wall_ns: Callable[[], int] = time.time_ns,
    rand: Callable[[], float] | None = None,
    record_to: Path | None = None,
    merge_idle_s: float | None = RunnerConfig.merge_idle_s,
) -> LiveComponents:
    """Wire the runner and its server; nothing touches the network until the app starts.

    ``explain_service`` replaces the one made from the settings (tests inject a slow or
    failing explainer); it must be registered on a registry of its own or this one.
    ``record_to``: also record every event the engine consumes, and the gap ledger, into
    that event store (``csx live --record``). ``merge_idle_s``: ``RunnerConfig``'s (a
    max-speed replay needs a long one)."""
    state = LiveState(
        prod_requires_verified=settings.profile is Profile.PROD,
        min_warm_share=settings.min_warm_share,
    )
    registry = CollectorRegistry()
    queue: DropOldestQueue[MarketEvent] = DropOldestQueue(settings.queue_bound)
    governor = RestGovernor(
        weight_budget_1m=settings.rest_weight_budget_1m,
        max_concurrency=settings.rest_max_concurrency,
        max_queue=settings.rest_max_queue,
    )
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=5, open_s=30.0))
    ledger, link = GapLedger(), LinkStats()
    sink = JsonlSink(Path(settings.sink_dir), prefix="ranks")
    engine = FeatureEngine(EngineConfig.for_cadence(settings.cadence_s))
    runner = Runner(
        state=state,
        queue=queue,
        decode=decode or default_decoder(),
        engine=engine,
        sink=sink,
        config=RunnerConfig(
            cadence_s=settings.cadence_s,
            tick_fallback_s=settings.tick_fallback_s,
            top_k=settings.top_k,
            consumer_pause_s=0.05 if "slow_consumer" in settings.faults else 0.0,
            max_tick_lag_s=settings.max_tick_lag_s or None,
            merge_idle_s=merge_idle_s,
        ),
        wall_ns=wall_ns,
    )
    sources = MetricSources(
        state=state,
        fresh_s=settings.data_fresh_s,
        link=link,
        ledger=ledger,
        queue=queue,
        governor=governor,
        breaker=breaker,
        wall_ns=wall_ns,
    )
    outcomes = LiveOutcomes(
        last_tick=lambda: runner.last_tick,
        window_s=settings.outcome_window_s,
        top_k=settings.top_k,
    )
    sources.outcomes = outcomes
    metrics = LiveMetrics(registry, sources)
    explain = None
    if settings.explain:
        service = explain_service or make_explain_service(settings, registry)
        explain = LiveExplain(service, state=state, last_tick=lambda: runner.last_tick)
    runner.observe_tick_s = metrics.tick_duration.observe
    parts = LiveComponents(
        settings=settings,
        state=state,
        registry=registry,
        metrics=metrics,
        queue=queue,
        runner=runner,
        governor=governor,
        breaker=breaker,
        ledger=ledger,
        link=link,
        app=web.Application(),
        sink=sink,
        explain=explain,
        outcomes=outcomes,
    )
    if record_to is not None:
        parts.recorder = _record_into(parts, record_to)

    async def live_context(_: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            if explain is not None:
                await explain.service.start()
            _wire_network(parts, session, sources, model_loader, wall_ns, rand)
            if settings.challenger_source:
                parts.tasks.append(
                    asyncio.create_task(
                        _load_challenger(parts, challenger_loader), name="challenger"
                    )
                )
            parts.tasks.append(
                asyncio.create_task(outcomes.run(settings.outcome_refresh_s), name="outcomes")
            )
            task = asyncio.create_task(_start(parts), name="live-start")
            parts.tasks.append(task)
            try:
                yield
            finally:
                await _stop(parts)
                if explain is not None:
                    await explain.service.aclose()

    parts.app = create_app(
        state=state,
        registry=registry,
        data_fresh_s=settings.data_fresh_s,
        background=[live_context],
        wall_ns=wall_ns,
        gaps=lambda: [g.to_dict() for g in ledger.entries()],
        http_limits=HttpLimits(
            header_timeout_s=settings.http_header_timeout_s,
            keepalive_timeout_s=settings.http_keepalive_timeout_s,
            max_connections=settings.http_max_connections,
            max_sse_clients=settings.http_max_sse_clients,
        ),
    )
    feed = DashboardFeed(
        state=state,
        link=link,
        queue=queue,
        connections=lambda: parts.shards.connected_count if parts.shards else 0,
        fresh_s=settings.data_fresh_s,
        wall_ns=wall_ns,
        explanations=explain.explanations if explain is not None else None,
        outcomes=outcomes.summary,
    )
    if explain is not None:
        runner.tick_listeners.append(explain.on_tick)
    runner.tick_listeners.append(outcomes.on_tick)

    published: list[object] = [None]  # the AlertBook revision state.realised shows

    def publish_realised(_: TickReport) -> None:
        """Rebuild the summary only when an alert fired, resolved or expired, not per tick."""
        book = outcomes.alerts
        revision = None if book is None else (id(book), book.revision)
        if revision != published[0]:
            published[0] = revision
            state.realised = None if book is None else book.summary()

    runner.tick_listeners.append(publish_realised)
    runner.tick_listeners.append(feed.on_tick)

    async def api_outcomes(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "roles": outcomes.summary(),
                "challenger": outcomes.challenger.model_id if outcomes.challenger else None,
            }
        )

    parts.app.router.add_get("/api/outcomes", api_outcomes)
    ledger.on_close.append(runner.on_gap)
    ledger.on_close.append(metrics.observe_gap)
    add_dashboard_routes(parts.app, feed.view, push_interval_s=float(settings.cadence_s))
    return parts


def _record_into(parts: LiveComponents, root: Path) -> BatchRecorder:
    """What ``csx record`` writes, from the runner: the events its engine consumes and the
    gap ledger (plus this recorder's own downtime on a store that holds events already)."""
    store = EventStore(root)
    recorder = BatchRecorder(store)
    journal = GapJournal(root / GAPS_FILE, position=lambda: parts.state.last_event_ns)
    downtime = DowntimeGap(journal, last_committed_ns(store))

    def record(events: Sequence[MarketEvent]) -> None:
        downtime.on_events(events)
        recorder.add(events)

    parts.runner.recorder = record
    parts.ledger.on_close.append(journal.append)
    return recorder


def _wire_network(
    parts: LiveComponents,
    session: aiohttp.ClientSession,
    sources: MetricSources,
    model_loader: ModelLoader,
    wall_ns: Callable[[], int],
    rand: Callable[[], float] | None,
) -> None:
    s = parts.settings
    rest = RestClient(
        session,
        s.rest_url,
        governor=parts.governor,
        breaker=parts.breaker,
        timeout_s=s.rest_timeout_s,
        now_ns=wall_ns,
    )
    policy = BackoffPolicy(
        base_s=s.backoff_base_s, cap_s=s.backoff_cap_s, healthy_after_s=s.backoff_reset_after_s
    )
    shards = ShardManager(
        ws_base=s.ws_url,
        session=session,
        on_frame=parts.runner.on_frame,
        backoff_policy=policy,
        timing=StreamTiming(
            stale_s=s.stale_stream_s,
            rollover_after_s=s.rollover_after_s,
            heartbeat_s=s.heartbeat_s or None,
        ),
        ledger=parts.ledger,
        stats=parts.link,
        rand=rand,
        wall_ns=wall_ns,
    )
    parts.shards = shards
    sources.shards = shards
    parts.state.connected = shards.all_connected

    async def on_universe(universe: Universe) -> None:
        parts.state.universe = universe.symbols
        plans = plan_shards(
            streams_for(universe.symbols, s.channels),
            max_per_connection=s.max_streams_per_connection,
        )
        await shards.apply(plans)

    parts.universe = UniverseWatcher(
        rest,
        quote_asset=s.quote_asset,
        override=s.symbols,
        refresh_s=s.universe_refresh_s,
        on_change=on_universe,
        shard=(s.shard_index, s.shard_count),
    )
    urls = [u.reveal() for u in s.webhook_urls]
    parts.webhooks = WebhookSink(
        session,
        urls,
        parts.state.counters,
        timeout_s=s.webhook_timeout_s,
        max_pending=s.webhook_max_pending,
    )
    parts.runner.webhooks = parts.webhooks
    parts.tasks.append(asyncio.create_task(_load_model(parts, model_loader), name="model"))


async def _load_model(parts: LiveComponents, loader: ModelLoader) -> None:
    s = parts.settings
    try:
        loaded = await asyncio.to_thread(loader, s)
        await _serve_model(parts, loaded)
    except ModelUnavailableError as exc:
        parts.state.model_error = str(exc)
        log.error("no model: %s", exc)
    except Exception as exc:  # a task that dies silently would leave "model_not_loaded" bare
        parts.state.model_error = f"{type(exc).__name__}: {exc}"
        log.exception("the model could not be served")


def require_engine(scorer: object, engine: EngineConfig) -> None:
    """A package trained on other engine settings (a bar cadence, other gap rules) would be
    scored on features it never saw: refuse it, naming the setting that serves it."""
    if not isinstance(scorer, PackagedScorer) or scorer.engine_config == engine:
        return
    trained = scorer.engine_config
    raise ModelUnavailableError(
        f"the model was trained on ticks {trained.cadence_s} s apart (gap after "
        f"{trained.gap_after_s} s, stale after {trained.stale_after_s} s) but this runner "
        f"ticks every {engine.cadence_s} s (gap after {engine.gap_after_s} s, stale after "
        f"{engine.stale_after_s} s): serve it with cadence_s = {trained.cadence_s} "
        f"(csx live --cadence-s {trained.cadence_s})"
    )


async def _serve_model(parts: LiveComponents, loaded: LoadedModel) -> None:
    s = parts.settings
    # Before the model is published, so PROD is never ready on a champion moved around gates.
    gate = await asyncio.to_thread(
        champion_gate_record, loaded.info.source, loaded.info.version, s.mlflow_tracking_uri
    )
    parts.state.model_gate = gate
    if gate is not None and gate[1]:
        log.warning("champion gate record: %s", gate[1])
    require_engine(loaded.scorer, EngineConfig.for_cadence(s.cadence_s))
    pipeline = TickPipeline(
        loaded.scorer,
        Ranker(RankerConfig(k=s.top_k, enter_p=s.enter_threshold, exit_p=s.exit_threshold)),
        Alerter(AlertConfig(threshold=s.alert_threshold, cooldown_s=s.alert_cooldown_s)),
    )
    parts.runner.use_pipeline(pipeline, loaded.cost)
    parts.state.model = loaded.info
    log.info("model loaded", extra=loaded.info.to_dict())
    if parts.explain is not None:
        parts.explain.use_model(loaded.cost, loaded.scorer.feature_names)
    if isinstance(loaded.scorer, PackagedScorer):
        parts.state.promise = loaded.scorer.promise()
    labels = labels_of(loaded.scorer)
    if parts.outcomes is not None and labels is not None and loaded.cost is not None:
        parts.outcomes.use_champion(
            loaded.info.model_id, loaded.cost, labels, edge_table_of(loaded.scorer)
        )
    else:
        log.warning("live outcomes off: the model carries no label definition or cost model")


async def _load_challenger(parts: LiveComponents, loader: ModelLoader) -> None:
    """Load the shadow model; a failure is logged and leaves the champion alone."""
    try:
        loaded = await asyncio.to_thread(loader, parts.settings)
    except ModelUnavailableError as exc:
        log.error("no challenger: %s", exc)
        return
    labels = labels_of(loaded.scorer)
    if parts.outcomes is None or labels is None or loaded.cost is None:
        log.error("challenger %s carries no label definition or cost model", loaded.info.model_id)
        return
    parts.outcomes.use_challenger(loaded.scorer, loaded.cost, labels)
    log.info("challenger loaded (shadow)", extra=loaded.info.to_dict())


async def _start(parts: LiveComponents) -> None:
    """Fetch the universe (retrying with backoff), then run the tick loop and refreshes."""
    assert parts.universe is not None
    assert parts.webhooks is not None
    s = parts.settings
    loop = asyncio.get_running_loop()
    backoff = Backoff(
        BackoffPolicy(base_s=s.backoff_base_s, cap_s=s.backoff_cap_s),
        random.SystemRandom().random,
    )
    parts.tasks.append(asyncio.create_task(parts.runner.run(), name="runner"))
    parts.tasks.append(asyncio.create_task(parts.webhooks.run(), name="webhooks"))
    while True:
        try:
            await parts.universe.refresh()
            break
        except Exception as exc:
            delay = backoff.failure(loop.time()) or s.backoff_cap_s
            log.warning("universe fetch failed, retrying", extra={"error": str(exc)})
            await asyncio.sleep(delay)
    parts.tasks.append(asyncio.create_task(parts.universe.run(), name="universe"))


async def _stop(parts: LiveComponents) -> None:
    """Stop ingest and ticks, close sockets, give queued webhooks a short drain, flush."""
    webhook_tasks = [t for t in parts.tasks if t.get_name() == "webhooks"]
    others = [t for t in parts.tasks if t not in webhook_tasks]
    await _cancel(others)
    log.info("feature digest", extra=parts.runner.parity())
    if parts.shards is not None:
        await parts.shards.stop()
    if parts.webhooks is not None and parts.webhooks.pending and webhook_tasks:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(2.0, parts.settings.graceful_timeout_s / 2)):
                await parts.webhooks.drain()
    await _cancel(webhook_tasks)
    if parts.sink is not None:
        parts.sink.flush()
        parts.sink.close()
    if parts.recorder is not None:
        await asyncio.to_thread(parts.recorder.close)
        log.info("recording closed", extra=parts.recorder.stats.to_dict())


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def serve_until_signalled(parts: LiveComponents) -> int:
    """Serve until SIGTERM/SIGINT, then shut down within ``graceful_timeout_s`` (cancel the
    runner, close sockets, drain webhooks, flush sinks). Exit code 0, or 1 on timeout."""
    import signal

    s = parts.settings
    runner = GuardedAppRunner(parts.app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, s.host, s.port)
    await site.start()
    log.info("csx live serving", extra={"host": s.host, "port": s.port, "profile": s.profile})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"graceful_timeout_s": s.graceful_timeout_s})
    started = loop.time()
    try:
        async with asyncio.timeout(s.graceful_timeout_s):
            await runner.cleanup()
    except TimeoutError:
        log.error("graceful shutdown timed out", extra={"after_s": s.graceful_timeout_s})
        return 1
    log.info("stopped", extra={"shutdown_s": round(loop.time() - started, 3)})
    return 0
