"""ExplainService: LLM explanations off the hot path, with every load and failure bounded.

The live tick loop calls the synchronous, O(1) :meth:`ExplainService.request` and later reads
:meth:`ExplainService.latest`; it never awaits the LLM. Workers drain a bounded per-symbol
queue (a newer packet for a queued symbol replaces the older one; overflow drops the oldest or
the new request, counted). The backtest report awaits :meth:`ExplainService.explain`.

Each explanation goes: cache (per symbol and reason set, TTL; a hit counts only if it still
matches the packet's numbers, ``csx_core.explain.binding``) → circuit breaker → concurrency
semaphore → hard asyncio timeout around one call → on 429/529/5xx/connection errors a bounded
number of retries with capped, fully jittered backoff (honouring Retry-After up to the cap) →
on any failure the template, with the reason in ``rejected`` and the metrics.

Time: ``clock`` is a monotonic clock in seconds (default ``time.monotonic``), injected so
tests can step the breaker and the cache TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

from prometheus_client import CollectorRegistry

from csx_core.contracts.explain import ExplainSource, LLMExplainInput, LLMExplainOutput
from csx_core.explain import (
    DEFAULT_THRESHOLDS,
    Rejection,
    StatusThresholds,
    TTLCache,
    cache_key,
    row_matches,
    template_output,
)
from csx_core.resilience import Backoff, CircuitBreaker, RandomSource
from csx_live.llm.explainers import ExplainLLM, UpstreamError, UpstreamKind
from csx_live.llm.metrics import ExplainMetrics
from csx_live.llm.settings import ServiceSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Fallback(enum.StrEnum):
    """Why the template was shown instead of an LLM answer (``rejected`` holds the
    guardrail's :class:`Rejection` value when an answer came back but failed)."""

    REJECTED = "REJECTED"
    TIMEOUT = "TIMEOUT"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    BREAKER_OPEN = "BREAKER_OPEN"
    ERROR = "ERROR"


class RequestOutcome(enum.StrEnum):
    CACHED = "CACHED"
    QUEUED = "QUEUED"
    REPLACED = "REPLACED"
    DROPPED = "DROPPED"


_REJECTIONS = frozenset(r.value for r in Rejection)


class ExplainService:
    def __init__(
        self,
        explainer: ExplainLLM,
        *,
        registry: CollectorRegistry,
        settings: ServiceSettings | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: RandomSource | None = None,
        thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        settings = settings or ServiceSettings()
        self._explainer = explainer
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rand = rand or random.SystemRandom().random
        self._thresholds = thresholds
        self._metrics = ExplainMetrics(registry)
        self._breaker = CircuitBreaker(settings.breaker_policy())
        self._cache: TTLCache[LLMExplainOutput] = TTLCache(
            ttl_s=settings.cache_ttl_s, max_entries=settings.cache_max_entries
        )
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._pending: OrderedDict[str, LLMExplainInput] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._latest: dict[str, LLMExplainOutput] = {}
        # the packet ts each latest output answered: a cache hit may carry an older ts
        self._latest_asked: dict[str, int] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._opened_seen = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._worker(), name=f"llm-explain-{i}")
                for i in range(self._settings.concurrency)
            ]

    async def aclose(self) -> None:
        """Cancel and await the workers, then close the explainer's client."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        await self._explainer.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the live path ---------------------------------------------------------------------
    def request(self, evidence: LLMExplainInput) -> RequestOutcome:
        """Schedule an explanation without waiting (call from the event loop's thread)."""
        self._metrics.requests.labels("live").inc()
        hit = self._cache_get(evidence)
        if hit is not None:
            self._store_latest(hit, evidence.ts)
            return RequestOutcome.CACHED
        symbol = evidence.symbol
        if symbol in self._pending:
            self._pending[symbol] = evidence
            return RequestOutcome.REPLACED
        if len(self._pending) >= self._settings.queue_size:
            self._metrics.dropped.inc()
            if self._settings.overflow == "drop_new":
                return RequestOutcome.DROPPED
            self._pending.popitem(last=False)
        self._pending[symbol] = evidence
        self._metrics.queue_depth.set(len(self._pending))
        self._wakeup.set()
        return RequestOutcome.QUEUED

    def latest(self, symbol: str) -> LLMExplainOutput | None:
        """The explanation answering the newest finished request for ``symbol`` (its ``ts``
        and numbers say which evidence it was written for)."""
        return self._latest.get(symbol)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def _worker(self) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            _, evidence = self._pending.popitem(last=False)
            self._metrics.queue_depth.set(len(self._pending))
            try:
                output = await self._resolve(evidence)
            except Exception:
                log.exception("explanation worker failed", extra={"symbol": evidence.symbol})
                output = self._fallback(evidence, Fallback.ERROR)
            self._store_latest(output, evidence.ts)

    def _store_latest(self, output: LLMExplainOutput, asked_ts: int) -> None:
        """Keep the answer to the newest request (a slow answer to an older packet loses)."""
        symbol = output.symbol
        if asked_ts >= self._latest_asked.get(symbol, -1):
            self._latest[symbol] = output
            self._latest_asked[symbol] = asked_ts

    # -- the report path -------------------------------------------------------------------
    async def explain(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        """Explain one packet and wait for it (never raises for API trouble: falls back)."""
        self._metrics.requests.labels("report").inc()
        hit = self._cache_get(evidence)
        if hit is not None:
            return hit
        return await self._resolve(evidence)

    async def explain_all(self, evidences: Sequence[LLMExplainInput]) -> list[LLMExplainOutput]:
        """Explain many packets (the report's top alerts) concurrently, in input order; the
        semaphore still caps calls in flight."""
        return list(await asyncio.gather(*(self.explain(e) for e in evidences)))

    # -- the shared core -------------------------------------------------------------------
    def _cache_get(self, evidence: LLMExplainInput) -> LLMExplainOutput | None:
        hit = self._cache.get(cache_key(evidence), self._clock())
        if hit is not None and not row_matches(hit, evidence):
            hit = None  # same reasons, other numbers: its text would misstate this packet
        self._metrics.cache.labels("hit" if hit is not None else "miss").inc()
        return hit

    async def _resolve(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        output, answered = await self._call_with_retries(evidence)
        if answered:
            self._cache.put(cache_key(evidence), output, self._clock())
        if output.source is ExplainSource.TEMPLATE and output.rejected in _REJECTIONS:
            self._metrics.rejections.labels(output.rejected).inc()
            self._metrics.fallbacks.labels(Fallback.REJECTED.value).inc()
        self._metrics.explanations.labels(output.source.value).inc()
        return output

    async def _call_with_retries(self, evidence: LLMExplainInput) -> tuple[LLMExplainOutput, bool]:
        """The output and whether the API answered (answers, even rejected ones, are cached)."""
        backoff = Backoff(self._settings.backoff_policy(), self._rand)
        while True:
            if not self._breaker.allow(self._clock()):
                self._sync_breaker()
                return self._fallback(evidence, Fallback.BREAKER_OPEN), False
            try:
                return await self._attempt(evidence), True
            except UpstreamError as exc:
                if exc.kind is UpstreamKind.TIMEOUT:
                    return self._fallback(evidence, Fallback.TIMEOUT), False
                delay = backoff.failure(self._clock()) if exc.retryable else None
                if delay is None or self._settings.max_retries == 0:
                    return self._fallback(evidence, Fallback.UPSTREAM_ERROR), False
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, self._settings.backoff_cap_s))
                self._metrics.retries.inc()
                await self._sleep(delay)
            except Exception:
                log.exception("explainer failed", extra={"symbol": evidence.symbol})
                return self._fallback(evidence, Fallback.ERROR), False

    async def _attempt(self, evidence: LLMExplainInput) -> LLMExplainOutput:
        """One API call under the semaphore and the hard timeout; reports to the breaker."""
        async with self._semaphore:
            started = self._clock()
            self._metrics.inflight.inc()
            outcome = "ok"
            try:
                async with asyncio.timeout(self._settings.call_timeout_s):
                    output = await self._explainer.explain(evidence)
            except TimeoutError as exc:
                outcome = UpstreamKind.TIMEOUT.value
                self._breaker.record_failure(self._clock())
                raise UpstreamError(UpstreamKind.TIMEOUT, "hard timeout") from exc
            except UpstreamError as exc:
                outcome = exc.kind.value
                self._breaker.record_failure(self._clock())
                raise
            except BaseException:
                outcome = "error"
                self._breaker.release()
                raise
            else:
                self._breaker.record_success(self._clock())
                return output
            finally:
                self._metrics.inflight.dec()
                self._metrics.latency.observe(max(0.0, self._clock() - started))
                self._metrics.calls.labels(outcome).inc()
                if outcome == UpstreamKind.TIMEOUT.value:
                    self._metrics.timeouts.inc()
                self._sync_breaker()

    def _sync_breaker(self) -> None:
        self._metrics.breaker_state.set(self._breaker.state(self._clock()).gauge_value)
        opened = self._breaker.opened_count
        if opened > self._opened_seen:
            self._metrics.breaker_opened.inc(opened - self._opened_seen)
            self._opened_seen = opened

    def _fallback(self, evidence: LLMExplainInput, reason: Fallback) -> LLMExplainOutput:
        self._metrics.fallbacks.labels(reason.value).inc()
        return template_output(evidence, rejected=reason.value, thresholds=self._thresholds)
