"""The composition root of ``csx live``: the only place that constructs the live I/O objects.

``build_live(settings)`` constructs each part once, in dependency order, each with what it
depends on passed in: the network side (``LiveNetwork``: REST governor and breaker, gap
ledger, link stats; its session-bound parts come to life in ``LiveNetwork.run``) → state →
outcomes, explanations, dashboard feed, recording → the Runner (decoder, queue,
FeatureEngine, sinks, its tick listeners) → metrics. ``LiveComponents`` makes the aiohttp
app from them (``create_app`` owns every route) and runs every background task in the
app's ``cleanup_ctx`` (so ``/healthz`` answers at once); they stop, in order and flushed,
when the app cleans up.

Tick listeners ride beside the dashboard feed: explanations (``explain_wiring``: the
evidence of new top-K entrants and alerts goes to the ExplainService's queue, never awaited;
Anthropic when ``ANTHROPIC_API_KEY`` was in the environment, the template explainer
otherwise), live outcome resolution with the optional shadow challenger
(``outcomes_wiring``; ``/api/outcomes`` and the ``csx_live_*`` metrics) and promise vs
reality (``RealisedPublisher``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from csx_core.contracts import MarketEvent
from csx_core.features import EngineConfig, FeatureEngine, load_kernels
from csx_core.ml.package import PackagedScorer
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_core.resilience.breaker import BreakerPolicy, CircuitBreaker
from csx_core.resilience.governor import RestGovernor
from csx_core.store import EventStore
from csx_live.config import LiveSettings, Profile
from csx_live.connectors import GapLedger, LinkStats, ShardManager
from csx_live.dashboard_feed import DashboardFeed
from csx_live.explain_wiring import LiveExplain
from csx_live.llm import (
    API_KEY_ENV,
    AnthropicSettings,
    ExplainService,
    ServiceSettings,
    make_explainer,
)
from csx_live.metrics import LiveMetrics, tick_histogram
from csx_live.model import (
    LoadedModel,
    ModelUnavailableError,
    champion_gate_record,
    load_model,
)
from csx_live.network import LiveNetwork
from csx_live.outcomes_wiring import LiveOutcomes, edge_table_of, labels_of
from csx_live.queue import DropOldestQueue
from csx_live.recorder import GAPS_FILE, BatchRecorder, DowntimeGap, GapJournal, last_committed_ns
from csx_live.runner import Decode, Runner, RunnerConfig, TickListener, TickReport
from csx_live.server import GuardedAppRunner, HttpLimits, LiveViews, create_app
from csx_live.sinks import JsonlSink, WebhookSink
from csx_live.state import LiveState, TickCounters
from csx_live.universe import UniverseWatcher

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
    """Everything ``build_live`` made, for tests and the soak harness to inspect; its
    ``app`` serves them and runs their tasks for its lifetime (``_lifetime``)."""

    settings: LiveSettings
    state: LiveState
    registry: CollectorRegistry
    metrics: LiveMetrics
    queue: DropOldestQueue[MarketEvent]
    runner: Runner
    network: LiveNetwork
    feed: DashboardFeed
    outcomes: LiveOutcomes
    sink: JsonlSink
    model_loader: ModelLoader
    challenger_loader: ModelLoader
    explain: LiveExplain | None = None
    recording: RunnerRecording | None = None
    wall_ns: Callable[[], int] = time.time_ns
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    app: web.Application = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        outcomes = self.outcomes
        self.app = create_app(
            state=self.state,
            registry=self.registry,
            data_fresh_s=s.data_fresh_s,
            background=[self._lifetime],
            wall_ns=self.wall_ns,
            views=LiveViews(
                symbol=self.runner.symbol_view,
                parity=self.runner.parity,
                gaps=lambda: [g.to_dict() for g in self.network.ledger.entries()],
                outcomes=lambda: {
                    "roles": outcomes.summary(),
                    "challenger": outcomes.challenger.model_id if outcomes.challenger else None,
                },
                dashboard=self.feed.view,
                dashboard_push_s=float(s.cadence_s),
            ),
            http_limits=HttpLimits(
                header_timeout_s=s.http_header_timeout_s,
                keepalive_timeout_s=s.http_keepalive_timeout_s,
                max_connections=s.http_max_connections,
                max_sse_clients=s.http_max_sse_clients,
            ),
        )

    # the network side's parts (the session-bound ones exist once the app has started)
    @property
    def link(self) -> LinkStats:
        return self.network.link

    @property
    def ledger(self) -> GapLedger:
        return self.network.ledger

    @property
    def governor(self) -> RestGovernor:
        return self.network.governor

    @property
    def breaker(self) -> CircuitBreaker:
        return self.network.breaker

    @property
    def shards(self) -> ShardManager | None:
        return self.network.shards

    @property
    def universe(self) -> UniverseWatcher | None:
        return self.network.universe

    @property
    def webhooks(self) -> WebhookSink | None:
        return self.network.webhooks

    @property
    def recorder(self) -> BatchRecorder | None:
        return self.recording.recorder if self.recording is not None else None

    async def _lifetime(self, _: web.Application) -> AsyncIterator[None]:
        """The app's cleanup context: every background task starts here, and stops, in
        order, when the app cleans up."""
        s = self.settings
        async with aiohttp.ClientSession() as session:
            if self.explain is not None:
                await self.explain.service.start()
            ticking = [
                asyncio.create_task(self.runner.run(), name="runner"),
                asyncio.create_task(_load_model(self, self.model_loader), name="model"),
                asyncio.create_task(self.outcomes.run(s.outcome_refresh_s), name="outcomes"),
                asyncio.create_task(_load_kernels(), name="kernels"),
            ]
            if s.challenger_source:
                loading = _load_challenger(self, self.challenger_loader)
                ticking.append(asyncio.create_task(loading, name="challenger"))
            network = asyncio.create_task(
                self.network.run(
                    session, on_frame=self.runner.on_frame, on_universe=self._on_universe
                ),
                name="network",
            )
            self.tasks.extend([*ticking, network])
            try:
                yield
            finally:
                await _cancel(ticking)  # no more ticks, then the sockets, then the sinks
                log.info("feature digest", extra=self.runner.parity())
                await _cancel([network])  # stops the streams, drains the webhooks
                self.sink.flush()
                self.sink.close()
                if self.recording is not None:
                    await asyncio.to_thread(self.recording.close)
                if self.explain is not None:
                    await self.explain.service.aclose()

    def _on_universe(self, symbols: tuple[str, ...]) -> None:
        self.state.universe = symbols


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
    """Every part once, in dependency order; nothing touches the network until the app
    starts. ``explain_service`` replaces the settings' one (tests inject slow or failing
    explainers); ``record_to`` also records what the engine consumes and the gap ledger
    there (``csx live --record``); ``merge_idle_s`` is ``RunnerConfig``'s."""
    s = settings
    registry = CollectorRegistry()
    queue: DropOldestQueue[MarketEvent] = DropOldestQueue(s.queue_bound)
    counters = TickCounters()
    network = _network(s, counters, wall_ns, rand)
    state = LiveState(
        prod_requires_verified=s.profile is Profile.PROD,
        min_warm_share=s.min_warm_share,
        connected=network.connected,
        counters=counters,
    )
    outcomes = LiveOutcomes(window_s=s.outcome_window_s, top_k=s.top_k)
    tick_duration = tick_histogram(registry)
    explain = _explain(s, registry, state, explain_service)
    feed = _dashboard_feed(s, state, network, queue, explain, outcomes, wall_ns)
    recording = None if record_to is None else RunnerRecording(record_to, network.ledger, state)
    sink = JsonlSink(Path(s.sink_dir), prefix="ranks")
    listeners: list[TickListener] = [] if explain is None else [explain.on_tick]
    listeners += [outcomes.on_tick, RealisedPublisher(state, outcomes), feed.on_tick]
    runner = Runner(
        state=state,
        queue=queue,
        decode=decode or default_decoder(),
        engine=FeatureEngine(EngineConfig.for_cadence(s.cadence_s)),
        sink=sink,
        webhooks=network,
        observe_tick_s=tick_duration.observe,
        tick_listeners=listeners,
        recorder=recording.record if recording is not None else None,
        gaps=network.ledger,
        config=_runner_config(s, merge_idle_s),
        wall_ns=wall_ns,
    )
    sources = network.metric_sources(state, queue, outcomes, parity=runner.parity)
    metrics = LiveMetrics(registry, sources, tick_duration)
    return LiveComponents(
        settings=s,
        state=state,
        registry=registry,
        metrics=metrics,
        queue=queue,
        runner=runner,
        network=network,
        feed=feed,
        outcomes=outcomes,
        sink=sink,
        model_loader=model_loader,
        challenger_loader=challenger_loader,
        explain=explain,
        recording=recording,
        wall_ns=wall_ns,
    )


def _network(
    s: LiveSettings,
    counters: TickCounters,
    wall_ns: Callable[[], int],
    rand: Callable[[], float] | None,
) -> LiveNetwork:
    governor = RestGovernor(
        weight_budget_1m=s.rest_weight_budget_1m,
        max_concurrency=s.rest_max_concurrency,
        max_queue=s.rest_max_queue,
    )
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=5, open_s=30.0))
    return LiveNetwork(
        s,
        governor=governor,
        breaker=breaker,
        ledger=GapLedger(),
        link=LinkStats(),
        counters=counters,
        wall_ns=wall_ns,
        rand=rand,
    )


def _explain(
    s: LiveSettings,
    registry: CollectorRegistry,
    state: LiveState,
    service: ExplainService | None,
) -> LiveExplain | None:
    if not s.explain:
        return None
    return LiveExplain(service or make_explain_service(s, registry), state=state)


def _dashboard_feed(
    s: LiveSettings,
    state: LiveState,
    network: LiveNetwork,
    queue: DropOldestQueue[MarketEvent],
    explain: LiveExplain | None,
    outcomes: LiveOutcomes,
    wall_ns: Callable[[], int],
) -> DashboardFeed:
    return DashboardFeed(
        state=state,
        link=network.link,
        queue=queue,
        connections=lambda: network.connected_count,
        fresh_s=s.data_fresh_s,
        wall_ns=wall_ns,
        explanations=None if explain is None else explain.explanations,
        outcomes=outcomes.summary,
    )


def _runner_config(s: LiveSettings, merge_idle_s: float | None) -> RunnerConfig:
    return RunnerConfig(
        cadence_s=s.cadence_s,
        tick_fallback_s=s.tick_fallback_s,
        top_k=s.top_k,
        consumer_pause_s=0.05 if "slow_consumer" in s.faults else 0.0,
        max_tick_lag_s=s.max_tick_lag_s or None,
        merge_idle_s=merge_idle_s,
    )


class RealisedPublisher:
    """Keeps ``state.realised`` (promise vs reality) current, rebuilding the summary only
    when an alert fired, resolved or expired, not every tick."""

    def __init__(self, state: LiveState, outcomes: LiveOutcomes) -> None:
        self._state = state
        self._outcomes = outcomes
        self._published: object = None  # the AlertBook revision state.realised shows

    def __call__(self, _: TickReport) -> None:
        book = self._outcomes.alerts
        revision = None if book is None else (id(book), book.revision)
        if revision != self._published:
            self._published = revision
            self._state.realised = None if book is None else book.summary()


class RunnerRecording:
    """What ``csx record`` writes, from the runner: the events its engine consumes and the
    gap ledger (plus this recorder's own downtime on a store that holds events already)."""

    def __init__(self, root: Path, ledger: GapLedger, state: LiveState) -> None:
        store = EventStore(root)
        self.recorder = BatchRecorder(store)
        self._journal = GapJournal(root / GAPS_FILE, position=lambda: state.last_event_ns)
        self._downtime = DowntimeGap(self._journal, last_committed_ns(store))
        ledger.on_close.append(self._journal.append)

    def record(self, events: Sequence[MarketEvent]) -> None:
        self._downtime.on_events(events)
        self.recorder.add(events)

    def close(self) -> None:
        self.recorder.close()
        log.info("recording closed", extra=self.recorder.stats.to_dict())


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
        champion_gate_record,
        loaded.info.source,
        loaded.info.version,
        s.mlflow_tracking_uri,
        loaded.version_tags,
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


async def _load_kernels() -> None:
    """The batch tick path's compiled loops, loaded in a thread at start-up: in the event
    loop, the first catch-up ``tick_many`` would stall it for about a second."""
    try:
        await asyncio.to_thread(load_kernels)
    except Exception:
        log.exception("cannot load the batch tick path's kernels; the first catch-up will retry")


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
