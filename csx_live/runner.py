"""The live pipeline: frames → decoder → bounded queue → FeatureEngine → tick → scorer →
ranker → alerter → sinks, updating :class:`LiveState` for the server.

Ticks are **event-time driven** with the offline drivers' rule (``EventClock``: the tick at
boundary T fires when the first event with ``ts_event >= T`` arrives, before it is applied),
so a recorded session replays into the same snapshots. When the feed is quiet, a wall-clock
fallback fires due boundaries ``tick_fallback_s`` after they pass, so ranks and readiness
keep moving; events that arrive for an already-ticked second count as late in the engine.
Event time is mapped to wall time through the last processed event (``anchor``), so a feed
that replays old data (the fake exchange) never triggers a flood of catch-up ticks, and
``tick_drift_s`` measures how late a tick fired after its boundary was crossed.

Parity with offline replay (``csx_core.replay``; ``tests/test_parity_live.py`` holds the
digests equal): the routed connections are merged back into event-time order before the
engine (``RouteMerge``), closed klines of symbols that trade are skipped as replay skips
them (``shadow_klines``), ``recorder`` sees every event the engine consumes, and ``digest``
is replay's ``SnapshotDigest`` over this runner's TickFrames. What still differs, by design:
ticks fired by the wall-clock fallback (``fallback_ticks``; replay has none, and events that
arrive after one are late); a gap is marked when its outage closes, so ticks during an
outage do not flag it, while replay declares recorded gaps before the first event; events
dropped by the full queue are neither consumed nor recorded; klines before a symbol's first
trade of the day are kept live but dropped by replay.

Seams (injected by ``csx_live.app``): the decoder (``csx_core.wire``), the engine
(``csx_core.features``) and the tick pipeline (``csx_core.ranking.tick`` with a scorer
from ``csx_live.model``). Without a pipeline the runner still computes features but
ranks nothing and reports not-ready with the reason — it never invents scores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from csx_core.contracts import MarketEvent, PredictionSnapshot, ReasonCode
from csx_core.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURE_VERSION,
    PRICE_COLUMNS,
    EventClock,
    SnapshotDigest,
    TickBatch,
    TickFrame,
)
from csx_core.features.buckets import MAX_AHEAD_S, SEC
from csx_core.features.drive import EventDriver
from csx_core.features.shadow import ShadowKlines
from csx_core.ml.costs import CostModel
from csx_core.ml.scorer import Scores, direction_enum, known, prediction
from csx_core.ranking.tick import TickOutput, TickPipeline
from csx_live.connectors.gaps import GapEntry, GapLedger, gap_symbols
from csx_live.queue import DropOldestQueue
from csx_live.route_merge import RouteMerge
from csx_live.sinks import JsonlSink, alert_text
from csx_live.state import NS_PER_S, LiveState

log = logging.getLogger(__name__)

Decode = Callable[[bytes, int], Sequence[MarketEvent]]
"""Frame bytes + receive time (ns) → events; raises on a malformed frame (counted)."""


class Engine(Protocol):
    def on_event(self, event: MarketEvent) -> None: ...
    def mark_gap(self, symbol: str | None, start_ns: int, end_ns: int) -> None: ...
    def tick(self, ts: int) -> TickFrame: ...
    def tick_many(self, ts: Sequence[int]) -> list[TickBatch]: ...
    @property
    def late_events(self) -> int: ...
    @property
    def open_second(self) -> int | None: ...


@dataclass(frozen=True)
class TickReport:
    """What one scored tick produced, for listeners (the dashboard): the top-K in rank order
    and this tick's alerts as PredictionSnapshots, and mid prices of those symbols."""

    ts: int
    ranked: list[PredictionSnapshot]
    alerts: list[PredictionSnapshot]
    prices: dict[str, float]
    frame: TickFrame | None = None
    """The tick's scored frame (its warm symbols), for listeners that need every row."""
    output: TickOutput | None = None
    """The pipeline's output for ``frame`` (None without a model)."""


TickListener = Callable[[TickReport], None]

EventRecorder = Callable[[Sequence[MarketEvent]], None]


class AlertOutbox(Protocol):
    """Where alert texts go (the webhooks); ``offer`` never blocks the tick."""

    def offer(self, text: str) -> None: ...


"""Receives every decoded event in the order the engine consumes it (``csx_live.recorder``)."""


@dataclass(frozen=True)
class RunnerConfig:
    cadence_s: int = 1
    tick_fallback_s: float = 2.0
    batch_max: int = 8192
    top_k: int = 20
    consumer_pause_s: float = 0.0
    """DEV fault ``slow_consumer``: pause after each batch (overload tests)."""
    merge_idle_s: float | None = 0.25
    """Merge the routed connections into event-time order (``RouteMerge``): seconds a silent
    route may hold the other (see ``RouteMerge`` for max-speed replays); None feeds events
    in arrival order."""
    merge_quiet_s: float = 0.25
    """With no frame at all for this long (wall seconds), release every held event."""
    max_tick_lag_s: float | None = 2.0
    """Load shedding: a due boundary released by an event received more than this many
    seconds before the newest frame the feed delivered (the runner is behind its feed) is
    skipped and counted (``ticks_skipped``), except one every ``catch_up_tick_s`` event
    seconds so the engine's buckets stay within reach of the events (``MAX_AHEAD_S``).
    Only the runner's own lag (receive times) decides, never gaps in event time: a quiet
    feed's next event releases every boundary it crossed, as offline replay ticks them, so a
    runner that keeps up sheds nothing and stays at parity. None ticks every boundary
    however far behind (live setting ``max_tick_lag_s``, 0 = off)."""
    catch_up_tick_s: int = 60
    """While skipping, still tick once per this many event seconds (< the engine's 120 s
    look-ahead)."""
    max_tick_queue_s: float = 0.25
    """How long (wall seconds) ``run`` may hold released ticks to compute them together
    while its feed has more events ready (a replay catching up) and its ticks score nothing
    (the warm-up); otherwise, as with a feed it keeps up with, each batch's ticks are
    computed when the batch is applied."""
    shadow_klines: bool = True
    """Skip klines that would count trades twice, by the one rule live and offline replay
    share (``csx_core.features.shadow``)."""


class Runner:
    """Owns the tick loop; :meth:`on_frame` is the connectors' frame handler."""

    def __init__(
        self,
        *,
        state: LiveState,
        queue: DropOldestQueue[MarketEvent],
        decode: Decode,
        engine: Engine,
        pipeline: TickPipeline | None = None,
        cost: CostModel | None = None,
        sink: JsonlSink | None = None,
        webhooks: AlertOutbox | None = None,
        observe_tick_s: Callable[[float], None] | None = None,
        tick_listeners: Sequence[TickListener] = (),
        recorder: EventRecorder | None = None,
        gaps: GapLedger | None = None,
        config: RunnerConfig | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.state = state
        self.queue = queue
        self._decode = decode
        self.engine = engine
        self.pipeline = pipeline
        self._cost = cost
        self._sink = sink
        self.webhooks = webhooks
        self.observe_tick_s = observe_tick_s
        self.config = config or RunnerConfig()
        self._wall_ns = wall_ns
        self._anchor: tuple[int, int] | None = None  # (event ts, wall ns) of the last batch
        self.clock = EventClock(self.config.cadence_s)
        shadow = ShadowKlines() if self.config.shadow_klines else None
        self.driver = EventDriver(engine, self.clock, shadow)
        self._columns: npt.NDArray[np.int64] | None = None
        if pipeline is not None:
            self.use_pipeline(pipeline, cost)
        self._entered: dict[str, int] = {}
        self._reasons: dict[str, tuple[ReasonCode, ...]] = {}
        self.tick_listeners: list[TickListener] = list(tick_listeners)
        self.recorder = recorder
        """Fed every event (klines included) just before the engine consumes it."""
        if gaps is not None:  # every closed outage becomes a gap in the engine's windows
            gaps.on_close.append(self.on_gap)
        self.digest = SnapshotDigest()
        """Running digest of every TickFrame this runner produced (``csx_core.replay``'s)."""
        self.digest_span: tuple[int, int] | None = None
        """First and last tick time (ns) the digest covers (it skips ticks without rows)."""
        self.gaps_marked = 0
        self._last_fired: int | None = None
        self.fallback_ticks = 0
        """Ticks fired by the wall-clock fallback (replay never has them; see ``run``)."""
        self.record_errors = 0
        self.merge = (
            RouteMerge(self.config.merge_idle_s, self.config.merge_quiet_s)
            if self.config.merge_idle_s is not None
            else None
        )
        self._last: tuple[TickFrame, TickFrame, TickOutput | None] | None
        self._last = None
        self._queued: list[tuple[int, MarketEvent]] = []
        """Released boundaries not computed yet, with the event that released each."""
        self._queued_since = 0.0
        """``perf_counter`` when the first of ``_queued`` was released."""

    def use_pipeline(self, pipeline: TickPipeline, cost: CostModel | None) -> None:
        """Start scoring with ``pipeline`` (a model became available)."""
        names = pipeline.scorer.feature_names
        missing = [n for n in names if n not in FEATURE_INDEX]
        if missing:
            raise ValueError(f"the model needs features the engine lacks: {missing[:5]}")
        self._columns = np.array([FEATURE_INDEX[n] for n in names], dtype=np.int64)
        self.pipeline = pipeline
        self._cost = cost

    def on_gap(self, entry: GapEntry) -> None:
        """An outage ended: mark its symbols' missing interval in the engine, so windows
        overlapping it yield NaN rather than features computed over missing data."""
        if entry.end_ns is None:
            return
        self._tick_queued()  # the ticks released before the outage closed do not see it
        self.gaps_marked += 1
        for symbol in gap_symbols(entry):
            self.engine.mark_gap(symbol, entry.start_ns, entry.end_ns)

    # -- ingest (called by the connectors for every frame; must stay cheap) -----------------
    def on_frame(self, frame: bytes, recv_ns: int) -> bool:
        """Decode and enqueue one frame; the decoder's verdict (True when it held market
        events) tells the stream's watchdog whether the link carries valid events."""
        ingest = self.state.ingest
        ingest.frames += 1
        try:
            events = self._decode(frame, recv_ns)
        except Exception:  # the decoder's typed errors: a bad frame is counted, never fatal
            ingest.malformed += 1
            return False
        if not events:
            ingest.ignored += 1
            return False
        ingest.events += len(events)
        self.queue.put_many(events)
        self.state.last_event_wall_ns = recv_ns
        return True

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume events and tick until cancelled."""
        fallback_ns = int(self.config.tick_fallback_s * NS_PER_S)
        wait_s = min(0.25, self.config.tick_fallback_s / 2)
        while True:
            batch: list[MarketEvent] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    batch = await self.queue.get_batch(self.config.batch_max)
            if self.merge is not None:
                now = self._wall_ns()
                batch = self.merge.push(batch, now) if batch else self.merge.release(now)
            self.process(batch, flush=False)
            if self.clock.next_tick is not None and self._anchor is not None:
                event_ts, wall = self._anchor
                now_event = event_ts + (self._wall_ns() - wall)
                for boundary in self.clock.due(now_event - fallback_ns):
                    self._tick_queued()
                    self.fallback_ticks += 1
                    self.tick(boundary)
            if batch:
                # let the sockets and the server run between batches
                await asyncio.sleep(self.config.consumer_pause_s)
            # Queued ticks wait while the feed has more events ready (a replay catching up
            # fills bigger batches), never longer than ``max_tick_queue_s``, and only while
            # ticks score nothing (a warm-up): a scored tick costs milliseconds to deliver,
            # and a queue held for 0.25 s would then keep the sockets waiting for seconds.
            if self._queued and (
                not len(self.queue)
                or self.state.scored_symbols
                or time.perf_counter() - self._queued_since > self.config.max_tick_queue_s
            ):
                self._tick_queued()

    def process(self, events: Sequence[MarketEvent], *, flush: bool = True) -> None:
        """Apply events in order, ticking at each boundary their event time crosses (before
        the event, as ``csx_core.features.drive_events`` does).

        A boundary released alone is not computed at once but queued, and the queue is
        computed by one ``engine.tick_many`` when it must be: at the end of the batch (with
        ``flush``; ``run`` keeps it while more events wait), before an event it cannot run
        ahead of (a late event, or one past the bucket ring's reach), before a gap is
        marked or a fallback tick fires. The engine's ticks only see events before their
        boundary, so events applied ahead of a queued tick change nothing in it: the frames,
        the digest and every output are those of ticking each boundary on the spot, for a
        fraction of the engine's per-tick cost when a replay catches up (the fast-forwarded
        warm-up)."""
        if events and self.recorder is not None:
            try:
                self.recorder(events)
            except Exception:  # recording must never stop the screener
                self.record_errors += 1
                log.exception("event recorder failed")
        due, apply = self.driver.due, self.driver.apply
        for event in events:
            boundaries = due(event)
            if boundaries:
                self._fire(boundaries, event)
            if self._queued and not self._fits_ahead(event.ts_event):
                self._tick_queued()
            apply(event)
        if flush:
            self._tick_queued()
        if events:
            last = events[-1].ts_event
            self.state.last_event_ns = last
            if self._anchor is None or last > self._anchor[0]:
                self._anchor = (last, self._wall_ns())

    def _fits_ahead(self, ts_event: int) -> bool:
        """Whether an event at ``ts_event`` may be applied before the queued ticks: it is
        not late for any of them, and the bucket ring reaches its second."""
        open_second = self.engine.open_second
        return (
            ts_event >= self._queued[-1][0]
            and open_second is not None
            and ts_event < (open_second + MAX_AHEAD_S) * SEC
        )

    def _fire(self, boundaries: Sequence[int], crossing: MarketEvent) -> None:
        """Tick the boundaries ``crossing`` released, shedding (counted) the ones the runner
        cannot afford, except one every ``catch_up_tick_s`` event seconds:

        - a burst: once the ticks of this call took ``max_tick_lag_s`` of wall time (a
          replay back from an outage jumps hours of event time with one event), the rest
          are shed but the last, so the loop returns to the sockets and the server;
        - a backlog: ``crossing`` was received more than ``max_tick_lag_s`` before the
          newest frame and the queue holds more than half its bound, so the runner jumps to
          the present instead of replaying every second late.

        Neither sheds while the runner keeps up: a quiet feed's next event releases every
        boundary it crossed and a max-speed replay the runner drains (``RouteMerge`` holding
        one route for seconds) is behind its newest frame without a backlog; both tick as
        offline replay does, so live and replayed digests stay equal.

        A boundary released alone and kept is queued (see ``process``); several released
        at once tick on the spot, after the queue, so the burst rule times real ticks."""
        lag = self.config.max_tick_lag_s
        if len(boundaries) == 1:
            boundary = boundaries[0]
            last_fired = self._queued[-1][0] if self._queued else self._last_fired
            if (
                lag is not None
                and last_fired is not None
                and self._backlog(crossing, lag)
                and boundary - last_fired < self.config.catch_up_tick_s * NS_PER_S
            ):
                self.state.counters.ticks_skipped += 1
            else:
                if not self._queued:
                    self._queued_since = time.perf_counter()
                self._queued.append((boundary, crossing))
            return
        self._tick_queued()
        if lag is None or self._last_fired is None:
            for boundary in boundaries:
                self.tick(boundary, crossing)
            return
        lag_ns = int(lag * NS_PER_S)
        backlog = self._backlog(crossing, lag)
        step_ns = self.config.catch_up_tick_s * NS_PER_S
        counters = self.state.counters
        started = self._wall_ns()
        final = boundaries[-1]
        for boundary in boundaries:
            shed = backlog or (boundary != final and self._wall_ns() - started > lag_ns)
            if shed and boundary - self._last_fired < step_ns:
                counters.ticks_skipped += 1
            else:
                self.tick(boundary, crossing)

    def _backlog(self, crossing: MarketEvent, lag_s: float) -> bool:
        newest = self.state.last_event_wall_ns
        return (
            2 * len(self.queue) > self.queue.maxsize
            and newest is not None
            and newest - crossing.ts_recv > int(lag_s * NS_PER_S)
        )

    def _tick_queued(self) -> None:
        """Compute the queued ticks with one ``engine.tick_many`` and deliver them in order;
        each tick's duration is its share of the batch plus its own scoring."""
        if not self._queued:
            return
        queued, self._queued = self._queued, []
        start = time.perf_counter()
        try:
            batches = self.engine.tick_many([ts for ts, _ in queued])
        except Exception:
            self.state.counters.tick_errors += len(queued)
            log.exception("ticks failed", extra={"tick_ns": queued[0][0], "ticks": len(queued)})
            return
        share = (time.perf_counter() - start) / len(queued)
        crossings = iter(crossing for _, crossing in queued)
        for batch in batches:
            frames = batch.frames()
            delivered = [self._deliver(f, next(crossings), share) for f in frames]
            if all(delivered):  # one hash call: the bytes a call per tick would hash
                self.digest.update_batch(batch)
                self._digest_span(batch.ts[0], batch.ts[-1], len(batch.symbols))
            else:
                for frame, ok in zip(frames, delivered, strict=True):
                    if ok:
                        self._digested(frame)

    def tick(self, ts: int, crossing: MarketEvent | None = None) -> None:
        """Run the tick at boundary ``ts``. ``crossing`` is the event that released it (None
        for the wall-clock fallback): the drift is then the wall time since that event was
        received plus how far past the boundary it lay, i.e. how late the tick fired after
        the feed crossed it, whatever the feed's replay speed."""
        start = time.perf_counter()
        try:
            frame = self.engine.tick(ts)
        except Exception:
            self.state.counters.tick_errors += 1
            log.exception("tick failed", extra={"tick_ns": ts})
            return
        if self._deliver(frame, crossing, time.perf_counter() - start):
            self._digested(frame)

    def _digested(self, frame: TickFrame) -> None:
        self.digest.update(frame)
        self._digest_span(frame.ts, frame.ts, len(frame))

    def _digest_span(self, first: int, last: int, rows: int) -> None:
        if rows:
            start = int(first) if self.digest_span is None else self.digest_span[0]
            self.digest_span = (start, int(last))

    def _deliver(self, frame: TickFrame, crossing: MarketEvent | None, engine_s: float) -> bool:
        """Score a computed tick and publish it: state, sinks and listeners; False when it
        failed (counted, and left out of the digest). ``engine_s``: the engine's time for
        it, counted in the tick's duration."""
        state = self.state
        ts = frame.ts
        start = time.perf_counter()
        try:
            scored = warm_rows(frame)
            output = self._score(scored)
        except Exception:
            state.counters.tick_errors += 1
            log.exception("tick failed", extra={"tick_ns": ts})
            return False
        duration = engine_s + time.perf_counter() - start
        state.last_tick_ns = ts
        now = self._wall_ns()
        state.last_tick_wall_ns = now
        self._last_fired = ts
        if crossing is not None:
            lateness = (now - crossing.ts_recv) + (crossing.ts_event - ts)
            state.tick_drift_s = lateness / NS_PER_S
        elif self._anchor is not None:
            event_ts, wall = self._anchor
            state.tick_drift_s = ((now - wall) - (ts - event_ts)) / NS_PER_S
        state.last_tick_duration_s = duration
        state.counters.ticks += 1
        state.warm_symbols = len(scored)
        state.scored_universe = len(frame)
        self._last = (frame, scored, output)
        if output is not None:
            self._publish(scored, output)
        elif self.tick_listeners:
            self._notify(TickReport(ts=ts, ranked=[], alerts=[], prices={}, frame=scored))
        if self.observe_tick_s is not None:
            self.observe_tick_s(duration)
        return True

    def _score(self, frame: TickFrame) -> TickOutput | None:
        """Score ``frame`` (the warm rows of the tick) with the pipeline, if any."""
        if self.pipeline is None or self._columns is None or len(frame) == 0:
            self.state.scored_symbols = 0
            return None
        x = frame.values[:, self._columns]
        output = self.pipeline.run(frame.ts, frame.symbols, x)
        self.state.scored_symbols = len(frame)
        return output

    # -- outputs ---------------------------------------------------------------------------
    def _publish(self, frame: TickFrame, out: TickOutput) -> None:
        state = self.state
        ts = frame.ts
        for event in out.events:
            if event.action.value == "ENTER":
                self._entered[event.symbol] = ts
            elif event.action.value == "EXIT":
                self._entered.pop(event.symbol, None)
            if event.reason_codes:
                self._reasons[event.symbol] = tuple(event.reason_codes)
        row_of = {s: i for i, s in enumerate(frame.symbols)}
        members = self.pipeline.ranker.members if self.pipeline else {}
        ranks: list[dict[str, Any]] = []
        for symbol, rank in sorted(members.items(), key=lambda kv: kv[1]):
            i = row_of[symbol]
            ranks.append(
                {
                    "rank": rank,
                    **_score_fields(out.scores, i),
                    "symbol": symbol,
                    "reason_codes": [str(r) for r in self._reasons.get(symbol, ())],
                    "time_in_top_s": (ts - self._entered.get(symbol, ts)) / NS_PER_S,
                    "mid": known(frame.prices[i, PRICE_COLUMNS.index("px_mid")]),
                }
            )
        state.ranks = ranks
        state.counters.rank_events += len(out.events)
        if self._sink is not None:
            try:
                for event in out.events:
                    self._sink.write("rank", ts, msgspec.to_builtins(event))
                for alert in out.alerts:
                    self._sink.write("alert", ts, msgspec.to_builtins(alert))
                self._sink.flush()
            except OSError:
                state.counters.sink_errors += 1
                log.exception("rank sink write failed")
        for alert in out.alerts:
            record = {
                **msgspec.to_builtins(alert),
                **_score_fields(out.scores, row_of[alert.symbol]),
            }
            state.alerts.append(record)
            state.counters.alerts += 1
            if self.webhooks is not None:
                self.webhooks.offer(alert_text(record))
        if self.tick_listeners:
            self._report(frame, out, [r["symbol"] for r in ranks], row_of)

    def _report(
        self, frame: TickFrame, out: TickOutput, ranked: list[str], row_of: dict[str, int]
    ) -> None:
        model_id = self.pipeline.scorer.model_id if self.pipeline else "none"
        mid_col = PRICE_COLUMNS.index("px_mid")

        def snapshot(symbol: str, codes: tuple[ReasonCode, ...]) -> PredictionSnapshot:
            return prediction(
                out.scores,
                row_of[symbol],
                symbol=symbol,
                ts=frame.ts,
                model_id=model_id,
                reason_codes=codes,
            )

        report = TickReport(
            frame=frame,
            output=out,
            ts=frame.ts,
            ranked=[snapshot(s, self._reasons.get(s, ())) for s in ranked],
            alerts=[snapshot(a.symbol, a.reason_codes) for a in out.alerts],
            prices={
                s: float(frame.prices[row_of[s], mid_col])
                for s in {*ranked, *(a.symbol for a in out.alerts)}
            },
        )
        self._notify(report)

    def _notify(self, report: TickReport) -> None:
        for listener in self.tick_listeners:
            try:
                listener(report)
            except Exception:
                log.exception("tick listener failed")

    def parity(self) -> dict[str, Any]:
        """The running feature digest (``/api/parity``, logged at shutdown): ``digest``,
        ``ticks`` and ``rows`` equal those ``csx replay`` prints for what this session
        recorded while every count in ``breaks`` is 0 — each one is a way, documented at
        the top of this module, for live features to leave offline replay's (a fallback
        tick, a skipped or failed tick, a late or dropped event, a gap marked on close, a
        batch the recorder refused). ``events_pending`` (queued or held by the merge) is
        not in the digest yet. Ticks already released are computed first, so the digest
        covers every event consumed."""
        self._tick_queued()
        span = self.digest_span
        counters = self.state.counters
        return {
            "digest": self.digest.hexdigest(),
            "ticks": self.digest.ticks,
            "rows": self.digest.rows,
            "first_tick_ns": span[0] if span else None,
            "last_tick_ns": span[1] if span else None,
            "feature_version": FEATURE_VERSION,
            "events_received": self.state.ingest.events,
            "events_pending": len(self.queue) + (self.merge.held if self.merge else 0),
            "breaks": {
                "fallback_tick": self.fallback_ticks,
                "tick_skipped": counters.ticks_skipped,
                "tick_error": counters.tick_errors,
                "late_event": self.engine.late_events,
                "event_dropped": self.queue.dropped,
                "gap_marked": self.gaps_marked,
                "record_error": self.record_errors,
            },
        }

    @property
    def last_tick(self) -> tuple[TickFrame, TickOutput | None] | None:
        """The last tick's scored frame (its warm symbols) and pipeline output, for tick
        listeners that need more than the top-K (live outcome resolution); None before the
        first tick."""
        return None if self._last is None else (self._last[1], self._last[2])

    def symbol_view(self, symbol: str) -> dict[str, Any] | None:
        """The last tick's features and score for ``symbol`` (built on request, not per tick);
        a symbol still warming up has features but no score."""
        if self._last is None:
            return None
        frame, scored, out = self._last
        try:
            i = frame.symbols.index(symbol)
        except ValueError:
            return None
        view: dict[str, Any] = {
            "warm": bool(frame.warm[i]),
            "gap": bool(frame.gap[i]),
            "prices": {n: known(frame.prices[i, j]) for j, n in enumerate(PRICE_COLUMNS)},
            "features": {n: known(frame.values[i, j]) for j, n in enumerate(FEATURE_NAMES)},
        }
        j = scored.symbols.index(symbol) if symbol in scored.symbols else None
        if out is not None and j is not None:
            view["raw_score"] = known(out.scores.raw[j])
            view.update(_score_fields(out.scores, j))
            view["rank"] = self.pipeline.ranker.members.get(symbol) if self.pipeline else None
            view["reason_codes"] = [str(r) for r in self._reasons.get(symbol, ())]
        return view


def warm_rows(frame: TickFrame) -> TickFrame:
    """The rows of ``frame`` whose features are warm: a symbol still warming up is neither
    scored, ranked, alerted nor explained (the model was trained on warm rows only, and the
    backtest applies the same rule)."""
    if bool(frame.warm.all()):
        return frame
    rows = np.flatnonzero(frame.warm)
    return TickFrame(
        ts=frame.ts,
        symbols=[frame.symbols[i] for i in rows],
        warm=frame.warm[rows],
        gap=frame.gap[rows],
        prices=frame.prices[rows],
        values=frame.values[rows],
    )


def _score_fields(scores: Scores, i: int) -> dict[str, Any]:
    """The direction and the backtest net edge of row ``i``, as the API serves them (None:
    unknown, nothing backs a number)."""
    return {
        "p_inplay": known(scores.p[i]),
        "direction": direction_enum(int(scores.direction[i])).value,
        "direction_confidence": known(scores.confidence[i]),
        "backtest_net_edge_bps": known(scores.edge_bps[i]),
    }
