"""Typed, frozen, validated settings for the LLM explainers; the API key comes only from the
environment (``ANTHROPIC_API_KEY``) and is never part of a settings object."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, Self

import msgspec

from csx_core.resilience import BackoffPolicy, BreakerPolicy

API_KEY_ENV = "ANTHROPIC_API_KEY"


class SettingsError(ValueError):
    pass


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SettingsError(message)


class _Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Self:
        """Build from plain config (TOML/JSON/env-derived); unknown keys are an error."""
        try:
            return msgspec.convert(dict(data), type=cls, str_keys=True)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"{cls.__name__}: {exc}") from exc


class AnthropicSettings(_Settings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to call the Messages API. ``timeout_s`` is the SDK's own HTTP timeout (seconds);
    the service adds a hard asyncio timeout on top. ``temperature`` is sent only when set:
    the installed SDK (anthropic 2.x) no longer declares it on ``messages.create`` and newer
    models fix it, so it goes through ``extra_body``."""

    model: str = "claude-haiku-4-5"
    max_tokens: int = 200
    temperature: float | None = None
    base_url: str | None = None
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        _check(bool(self.model.strip()), "model must not be empty")
        _check(
            16 <= self.max_tokens <= 4096,
            f"max_tokens must be in [16, 4096], got {self.max_tokens}",
        )
        t = self.temperature
        _check(t is None or 0.0 <= t <= 1.0, f"temperature must be in [0, 1] or unset, got {t}")
        _check(
            self.base_url is None or self.base_url.startswith(("http://", "https://")),
            f"base_url must be an http(s) URL, got {self.base_url!r}",
        )
        _check(
            math.isfinite(self.timeout_s) and 0 < self.timeout_s <= 120,
            f"timeout_s must be in (0, 120], got {self.timeout_s}",
        )


class ServiceSettings(_Settings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Load limits of :class:`~csx_live.llm.service.ExplainService` (seconds, counts)."""

    concurrency: int = 4
    queue_size: int = 256
    overflow: Literal["drop_oldest", "drop_new"] = "drop_oldest"
    call_timeout_s: float = 8.0
    cache_ttl_s: float = 60.0
    cache_max_entries: int = 4096
    max_retries: int = 2
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 4.0
    breaker_failure_threshold: int = 5
    breaker_open_s: float = 30.0

    def __post_init__(self) -> None:
        _check(
            1 <= self.concurrency <= 64, f"concurrency must be in [1, 64], got {self.concurrency}"
        )
        _check(self.queue_size >= 1, f"queue_size must be >= 1, got {self.queue_size}")
        _check(
            math.isfinite(self.call_timeout_s) and self.call_timeout_s > 0,
            f"call_timeout_s must be > 0, got {self.call_timeout_s}",
        )
        _check(
            0 <= self.max_retries <= 10, f"max_retries must be in [0, 10], got {self.max_retries}"
        )
        try:
            self.backoff_policy()
            self.breaker_policy()
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        _check(
            math.isfinite(self.cache_ttl_s) and self.cache_ttl_s >= 0,
            f"cache_ttl_s must be >= 0, got {self.cache_ttl_s}",
        )
        _check(self.cache_max_entries >= 1, "cache_max_entries must be >= 1")

    def backoff_policy(self) -> BackoffPolicy:
        return BackoffPolicy(
            base_s=self.backoff_base_s,
            cap_s=self.backoff_cap_s,
            healthy_after_s=0.0,
            max_attempts=max(1, self.max_retries),
        )

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            failure_threshold=self.breaker_failure_threshold, open_s=self.breaker_open_s
        )


def api_key_from_env(environ: Mapping[str, str]) -> str | None:
    """The Anthropic API key, or ``None`` when unset or blank (then the mock explainer runs)."""
    key = environ.get(API_KEY_ENV, "").strip()
    return key or None
