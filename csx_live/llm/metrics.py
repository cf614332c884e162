"""Prometheus metrics of the explanation service, on an injected registry (no per-symbol labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


class ExplainMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "csx_llm_requests",
            "Explanations asked for, by path (live: request(), report: explain()).",
            ["path"],
            registry=registry,
        )
        self.cache = Counter(
            "csx_llm_cache_lookups", "Cache lookups by result.", ["result"], registry=registry
        )
        self.calls = Counter(
            "csx_llm_calls",
            "API call attempts by outcome (ok, timeout, rate_limited, overloaded, ...).",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "csx_llm_call_latency_seconds",
            "Latency of one API call attempt, seconds.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.timeouts = Counter(
            "csx_llm_timeouts", "API call attempts that hit the hard timeout.", registry=registry
        )
        self.retries = Counter("csx_llm_retries", "Retries after 429/529/5xx.", registry=registry)
        self.rejections = Counter(
            "csx_llm_rejections",
            "LLM answers discarded by the guardrails, by reason.",
            ["reason"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "csx_llm_fallbacks",
            "Template used instead of the LLM, by reason.",
            ["reason"],
            registry=registry,
        )
        self.explanations = Counter(
            "csx_llm_explanations",
            "Explanations produced, by source.",
            ["source"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "csx_llm_queue_depth", "Symbols waiting for an explanation.", registry=registry
        )
        self.dropped = Counter(
            "csx_llm_queue_dropped",
            "Requests dropped because the queue was full.",
            registry=registry,
        )
        self.inflight = Gauge("csx_llm_inflight", "API calls in flight.", registry=registry)
        self.breaker_state = Gauge(
            "csx_llm_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
            registry=registry,
        )
        self.breaker_opened = Counter(
            "csx_llm_breaker_opened", "Times the LLM circuit breaker opened.", registry=registry
        )
