"""Prometheus metrics of the live runner, on an injected registry.

Counters live where the work happens (plain ints on ``LinkStats``, the queue, the governor,
``LiveState``) and a custom collector reads them at scrape time, so the hot path pays no
metric-library cost and nothing is counted twice. Only the tick duration is a library
Histogram (observed once per tick). No label carries a symbol: cardinality stays constant.

| name | type | meaning |
| --- | --- | --- |
| ``csx_ws_frames_received_total`` | counter | WS frames received (all shards) |
| ``csx_ws_bytes_received_total`` | counter | WS payload bytes received |
| ``csx_events_decoded_total`` | counter | market events out of the decoder into the queue |
| ``csx_frames_malformed_total`` | counter | frames the decoder rejected |
| ``csx_frames_ignored_total`` | counter | well-formed frames with no event (control replies) |
| ``csx_queue_dropped_total`` | counter | events dropped by the bounded queue (drop-oldest) |
| ``csx_queue_depth`` | gauge | events waiting in the queue |
| ``csx_queue_capacity`` | gauge | the queue's bound |
| ``csx_queue_high_water`` | gauge | the most events ever waiting at once |
| ``csx_ws_connections`` | gauge | shards currently connected |
| ``csx_ws_shards`` | gauge | shards planned |
| ``csx_ws_connects_total`` | counter | successful WS connects (incl. first and rollovers) |
| ``csx_ws_reconnects_total`` | counter | connects after the first one of a shard |
| ``csx_ws_disconnects_total`` | counter | unplanned connection losses |
| ``csx_ws_connect_failures_total`` | counter | failed connect attempts |
| ``csx_ws_stale_timeouts_total`` | counter | watchdog closes of silent connections |
| ``csx_ws_ping_timeouts_total`` | counter | connections lost to a missing pong |
| ``csx_ws_rollovers_total`` | counter | planned 24 h rollovers completed |
| ``csx_ws_duplicates_dropped_total`` | counter | overlap duplicates dropped during rollover |
| ``csx_gaps_total`` | counter | gap-ledger entries (outages) |
| ``csx_gaps_open`` | gauge | outages in progress |
| ``csx_gap_duration_seconds`` | histogram | closed outages: last frame before → first after |
| ``csx_rest_weight_used_1m`` | gauge | REST weight used this minute (server header) |
| ``csx_rest_rate_limited_total{status}`` | counter | 429 / 418 responses |
| ``csx_rest_rejected_total{reason}`` | counter | calls refused locally (queue_full, banned) |
| ``csx_rest_banned`` | gauge | 1 while a 418 ban lasts |
| ``csx_breaker_state`` | gauge | REST circuit: 0 closed, 1 open, 2 half-open |
| ``csx_breaker_opened_total`` | counter | times the REST circuit opened |
| ``csx_tick_duration_seconds`` | histogram | engine + scorer + ranker time per tick |
| ``csx_tick_drift_seconds`` | gauge | last tick's wall time minus its scheduled time |
| ``csx_ticks_total`` | counter | ticks run |
| ``csx_ticks_skipped_total`` | counter | due ticks skipped while behind the feed (load shedding) |
| ``csx_tick_errors_total`` | counter | ticks that raised (logged, the loop goes on) |
| ``csx_parity_breaks_total{cause}`` | counter | why live features may differ from a replay |
| ``csx_feature_staleness_seconds`` | gauge | wall time since the last market event |
| ``csx_scored_symbols`` | gauge | symbols scored at the last tick |
| ``csx_universe_symbols`` | gauge | symbols in the universe |
| ``csx_model_info`` | info | model_id, version, alias, data_digest, source |
| ``csx_model_loaded`` | gauge | 1 when a scorer is loaded |
| ``csx_model_gate_ok`` | gauge | champion gate record: 1 passing/forced, 0 missing/failing |
| ``csx_rank_events_total`` | counter | RankEvents emitted |
| ``csx_alerts_total`` | counter | alerts emitted |
| ``csx_webhook_failures_total`` | counter | webhook posts that failed after retries |
| ``csx_webhook_dropped_total`` | counter | webhook posts dropped (pending bound) |
| ``csx_process_rss_bytes`` | gauge | resident set size of this process |
| ``csx_ready`` | gauge | 1 when /readyz answers 200 |
| ``csx_http_connections`` | gauge | open HTTP connections (server.py's HttpGuard) |
| ``csx_http_connections_closed_total{reason}`` | counter | header_timeout, evicted, over_limit |
| ``csx_sse_clients`` | gauge | connected /api/stream clients |
| ``csx_sse_rejected_total`` | counter | /api/stream clients refused (503) |
| ``csx_alert_outcomes_resolved`` | gauge | champion alerts resolved at t+H in the promise window |
| ``csx_alert_realised_net_bps`` | gauge | their mean realised label-policy net bps per alert |
| ``csx_alert_promised_net_bps`` | gauge | their mean backtest net edge (the package's promise) |
| ``csx_alert_realised_hit_rate`` | gauge | share of them with realised net > 0 |
| ``csx_alert_promised_hit_rate`` | gauge | their mean backtest hit rate |
| ``csx_alert_promise_diverged`` | gauge | 1 when realised and promised CIs do not overlap |
| ``csx_live_brier{role}`` | gauge | Brier score of predictions resolved in the rolling window |
| ``csx_live_ece{role}`` | gauge | expected calibration error (equal-mass bins), same window |
| ``csx_live_topk_hit_rate{role}`` | gauge | share in play among the window's top-K rows |
| ``csx_live_base_rate{role}`` | gauge | share of the window's rows that were in play |
| ``csx_live_mean_p{role}`` | gauge | mean predicted probability over the window |
| ``csx_live_direction_hit_rate{role}`` | gauge | in-play rows whose direction was right |
| ``csx_live_window_resolved{role}`` | gauge | resolved predictions in the rolling window |
| ``csx_live_pending{role}`` | gauge | predictions waiting for t+H |
| ``csx_live_resolved_total{role}`` | counter | predictions resolved at t+H since start |
| ``csx_live_dropped_total{role}`` | counter | predictions dropped (gap, missing tick or book) |

``role`` is ``champion`` or ``challenger`` (the shadow model), from live outcome resolution
(``outcomes_wiring.LiveOutcomes``, refreshed every ``outcome_refresh_s``); the live-outcome
families are empty until a model is loaded and its first predictions resolve (t+H).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from csx_core.outcomes import COUNTER_NAMES, GAUGE_NAMES
from csx_core.resilience.governor import RestGovernor
from csx_live.connectors.gaps import GapEntry, GapLedger
from csx_live.connectors.stream import LinkStats
from csx_live.state import LiveState

TICK_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
GAP_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class QueueSource(Protocol):
    maxsize: int
    dropped: int
    high_water: int

    def __len__(self) -> int: ...


class _Shards(Protocol):
    @property
    def shard_count(self) -> int: ...
    @property
    def connected_count(self) -> int: ...


class _Breaker(Protocol):
    opened_count: int

    def state(self, now_s: float) -> Any: ...


class OutcomesSource(Protocol):
    def gauges(self) -> Mapping[str, Mapping[str, float]]: ...


_OUTCOME_HELP = {
    "csx_live_brier": "Brier score over the rolling window of resolved predictions",
    "csx_live_ece": "Expected calibration error (equal-mass bins) over the window",
    "csx_live_topk_hit_rate": "Share in play among the window's top-K predictions",
    "csx_live_base_rate": "Share of the window's predictions that were in play",
    "csx_live_mean_p": "Mean predicted probability over the window",
    "csx_live_direction_hit_rate": "In-play predictions whose direction was right",
    "csx_live_window_resolved": "Resolved predictions in the rolling window",
    "csx_live_resolved_total": "Predictions resolved at t+H since start",
    "csx_live_dropped_total": "Predictions dropped (gap, missing tick or book)",
    "csx_live_pending": "Predictions waiting for t+H",
}


_PROMISE = (
    ("csx_alert_outcomes_resolved", "resolved", "Champion alerts resolved at t+H (window)"),
    ("csx_alert_realised_net_bps", "net_bps", "Mean realised label-policy net bps per alert"),
    ("csx_alert_promised_net_bps", "promised_net_bps", "Mean backtest net edge of those alerts"),
    ("csx_alert_realised_hit_rate", "hit_rate", "Share of those alerts with realised net > 0"),
    ("csx_alert_promised_hit_rate", "promised_hit_rate", "Mean backtest hit rate of those alerts"),
)


def _promise(realised: Mapping[str, Any] | None) -> Iterator[Metric]:
    """Promise vs reality (``csx_core.outcomes.promise``); NaN where nothing backs a value."""
    r = realised or {}
    for name, key, doc in _PROMISE:
        value = r.get(key)
        yield _g(name, doc, float("nan") if value is None else float(value))
    diverged = float("nan") if realised is None else float(bool(r.get("diverged")))
    yield _g("csx_alert_promise_diverged", "1 when realised and promised CIs part", diverged)


def _parity_breaks(view: Mapping[str, Any] | None) -> CounterMetricFamily:
    """``Runner.parity``'s breaks by cause (a fixed set): while all are 0 the digest at
    ``/api/parity`` is the one ``csx replay`` of the session's recording prints. The digest
    itself is no label: it changes every tick, so it would start a new series each scrape."""
    family = CounterMetricFamily(
        "csx_parity_breaks", "Ways live features left offline replay's", labels=["cause"]
    )
    for cause, count in (view or {}).get("breaks", {}).items():
        family.add_metric([cause], count)
    return family


def rss_bytes() -> int:
    """Current RSS from /proc (Linux), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class MetricSources:
    """Where each metric reads from; parts not wired yet may be None (then omitted)."""

    state: LiveState
    fresh_s: float
    link: LinkStats | None = None
    ledger: GapLedger | None = None
    shards: _Shards | None = None
    queue: QueueSource | None = None
    governor: RestGovernor | None = None
    breaker: _Breaker | None = None
    outcomes: OutcomesSource | None = None
    parity: Callable[[], Mapping[str, Any] | None] = lambda: None
    """The runner's feature digest and its parity breaks (``Runner.parity``)."""
    wall_ns: Callable[[], int] = time.time_ns
    monotonic_s: Callable[[], float] = time.monotonic


def _c(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _g(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class LiveCollector(Collector):
    """Reads :class:`MetricSources` at scrape time."""

    def __init__(self, sources: MetricSources) -> None:
        self.s = sources

    def collect(self) -> Iterator[Metric]:
        s = self.s
        st = s.state
        now = s.wall_ns()
        yield from self._ws()
        yield _c("csx_events_decoded", "Market events decoded into the queue", st.ingest.events)
        yield _c("csx_frames_malformed", "Frames the decoder rejected", st.ingest.malformed)
        yield _c("csx_frames_ignored", "Frames without a market event", st.ingest.ignored)
        if s.queue is not None:
            yield _c("csx_queue_dropped", "Events dropped (drop-oldest)", s.queue.dropped)
            yield _g("csx_queue_depth", "Events waiting in the queue", len(s.queue))
            yield _g("csx_queue_capacity", "Bound of the event queue", s.queue.maxsize)
            yield _g("csx_queue_high_water", "Most events waiting at once", s.queue.high_water)
        yield from self._rest(now)
        c = st.counters
        yield _c("csx_ticks", "Ticks run", c.ticks)
        yield _c("csx_ticks_skipped", "Due ticks skipped while behind the feed", c.ticks_skipped)
        yield _c("csx_tick_errors", "Ticks that raised", c.tick_errors)
        yield _parity_breaks(s.parity())
        yield _g("csx_tick_drift_seconds", "Last tick wall time minus schedule", st.tick_drift_s)
        age = st.data_age_s(now)
        yield _g(
            "csx_feature_staleness_seconds",
            "Seconds since the last market event",
            float("nan") if age is None else age,
        )
        yield _g("csx_scored_symbols", "Symbols scored at the last tick", st.scored_symbols)
        yield _g("csx_universe_symbols", "Symbols in the universe", len(st.universe))
        yield _c("csx_rank_events", "RankEvents emitted", c.rank_events)
        yield _c("csx_alerts", "Alerts emitted", c.alerts)
        yield _c("csx_webhook_failures", "Webhook posts failed after retries", c.webhook_failed)
        yield _c("csx_webhook_dropped", "Webhook posts dropped at the bound", c.webhook_dropped)
        info = InfoMetricFamily("csx_model", "The scorer in use")
        m = st.model
        info.add_metric(
            [],
            {
                "model_id": m.model_id if m else "",
                "version": m.version if m else "",
                "alias": m.alias if m else "",
                "data_digest": m.data_digest if m else "",
                "source": m.source if m else "",
            },
        )
        yield info
        yield _g("csx_model_loaded", "1 when a scorer is loaded", 1.0 if m else 0.0)
        gate = st.model_gate
        yield _g(
            "csx_model_gate_ok",
            "1 when the champion has a passing gate record (or a forced promotion)",
            float("nan") if gate is None else float(gate[0]),
        )
        yield _g("csx_process_rss_bytes", "Resident set size", rss_bytes())
        ready, _ = st.readiness(now, s.fresh_s)
        yield _g("csx_ready", "1 when /readyz answers 200", 1.0 if ready else 0.0)
        yield from self._outcomes()
        yield from _promise(st.realised)

    def _outcomes(self) -> Iterator[Metric]:
        """Every family always (empty until outcomes resolve), labelled by ``role``."""
        per_role = self.s.outcomes.gauges() if self.s.outcomes is not None else {}
        for name in GAUGE_NAMES.values():
            family: CounterMetricFamily | GaugeMetricFamily
            if name in COUNTER_NAMES:
                family = CounterMetricFamily(
                    name.removesuffix("_total"), _OUTCOME_HELP[name], labels=["role"]
                )
            else:
                family = GaugeMetricFamily(name, _OUTCOME_HELP[name], labels=["role"])
            for role, values in sorted(per_role.items()):
                if name in values:
                    family.add_metric([role], values[name])
            yield family

    def _ws(self) -> Iterator[Metric]:
        s = self.s
        if s.link is not None:
            k = s.link
            yield _c("csx_ws_frames_received", "WS frames received", k.frames_in)
            yield _c("csx_ws_bytes_received", "WS payload bytes received", k.bytes_in)
            yield _c("csx_ws_connects", "Successful WS connects", k.connects)
            yield _c("csx_ws_reconnects", "Connects after the first of a shard", k.reconnects)
            yield _c("csx_ws_disconnects", "Unplanned connection losses", k.disconnects)
            yield _c("csx_ws_connect_failures", "Failed connect attempts", k.connect_failures)
            yield _c("csx_ws_stale_timeouts", "Watchdog closes", k.stale_timeouts)
            yield _c("csx_ws_ping_timeouts", "Lost to a missing pong", k.ping_timeouts)
            yield _c("csx_ws_rollovers", "Planned rollovers completed", k.rollovers)
            yield _c("csx_ws_duplicates_dropped", "Overlap duplicates", k.duplicates_dropped)
        if s.shards is not None:
            yield _g("csx_ws_connections", "Shards connected", s.shards.connected_count)
            yield _g("csx_ws_shards", "Shards planned", s.shards.shard_count)
        if s.ledger is not None:
            yield _c("csx_gaps", "Gap-ledger entries", s.ledger.total)
            yield _g("csx_gaps_open", "Outages in progress", len(s.ledger.open_gaps()))

    def _rest(self, now_ns: int) -> Iterator[Metric]:
        s = self.s
        if s.governor is not None:
            g = s.governor
            yield _g("csx_rest_weight_used_1m", "REST weight used", g.weight_used(now_ns))
            limited = CounterMetricFamily(
                "csx_rest_rate_limited", "429/418 responses", labels=["status"]
            )
            limited.add_metric(["429"], g.counters.responses_429)
            limited.add_metric(["418"], g.counters.responses_418)
            yield limited
            rejected = CounterMetricFamily(
                "csx_rest_rejected", "REST calls refused locally", labels=["reason"]
            )
            rejected.add_metric(["queue_full"], g.counters.rejected_queue_full)
            rejected.add_metric(["banned"], g.counters.rejected_banned)
            rejected.add_metric(["too_heavy"], g.counters.rejected_too_heavy)
            yield rejected
            yield _g("csx_rest_banned", "1 during a 418 ban", 1.0 if g.banned(now_ns) else 0.0)
        if s.breaker is not None:
            state = s.breaker.state(s.monotonic_s())
            value = getattr(state, "gauge_value", 0)
            yield _g("csx_breaker_state", "0 closed, 1 open, 2 half-open", value)
            yield _c("csx_breaker_opened", "Times the circuit opened", s.breaker.opened_count)


def tick_histogram(registry: CollectorRegistry) -> Histogram:
    """``csx_tick_duration_seconds``, made before the runner that observes it."""
    return Histogram(
        "csx_tick_duration_seconds",
        "Engine + scorer + ranker time per tick",
        buckets=TICK_BUCKETS_S,
        registry=registry,
    )


class LiveMetrics:
    """Registers the collector and the tick histogram on ``registry``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        sources: MetricSources,
        tick_duration: Histogram | None = None,
    ) -> None:
        """Registers on ``registry`` (``tick_duration``: the histogram ``tick_histogram``
        made for the runner, else a new one); observes every gap ``sources.ledger`` closes."""
        self.registry = registry
        self.collector = LiveCollector(sources)
        registry.register(self.collector)
        self.tick_duration = tick_duration or tick_histogram(registry)
        self.gap_duration = Histogram(
            "csx_gap_duration_seconds",
            "Closed outages, last frame before to first frame after",
            buckets=GAP_BUCKETS_S,
            registry=registry,
        )
        if sources.ledger is not None:
            sources.ledger.on_close.append(self.observe_gap)

    def observe_gap(self, entry: GapEntry) -> None:
        if entry.duration_ns is not None:
            self.gap_duration.observe(entry.duration_ns / 1e9)
